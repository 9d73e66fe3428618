//! What kind of file a user attached, against what PixelDojo takes: images as PNG, JPEG, WebP or
//! GIF, videos as MP4, WebM or MOV (plain Rust, no I/O).
//!
//! The content type Discord reports decides; where it is missing or generic
//! (`application/octet-stream`, which Discord gives files it cannot place) or unknown, the
//! file's extension does. Formats PixelDojo does not take (HEIC, SVG, AVIF, MKV, ...) are kinds
//! of their own, so they are refused before any credit is spent and named for the user.

/// A kind of file. The first seven are what PixelDojo takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileKind {
    Png,
    Jpeg,
    Webp,
    Gif,
    Mp4,
    Webm,
    Mov,
    Heic,
    Avif,
    Svg,
    Bmp,
    Tiff,
    /// Another image format.
    OtherImage,
    Mkv,
    Avi,
    Wmv,
    Flv,
    Mpeg,
    /// Another video format.
    OtherVideo,
    Audio,
    Pdf,
    Text,
    Archive,
    /// A word processor, spreadsheet or slides file.
    Document,
    Unknown,
}

/// What the vendor can do with a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MediaKind {
    /// An image PixelDojo takes (start frame, reference).
    Image,
    /// A video PixelDojo takes (to edit).
    Video,
    /// Anything else, including images and videos in formats PixelDojo does not take.
    Other,
}

impl FileKind {
    /// What a file is, from the content type Discord gave and its file name.
    pub fn of(content_type: Option<&str>, filename: &str) -> Self {
        content_type
            .and_then(|ct| {
                let ct = ct.split(';').next().unwrap_or("").trim();
                by_content_type(&ct.to_ascii_lowercase())
            })
            .unwrap_or_else(|| by_extension(filename))
    }

    pub fn media(self) -> MediaKind {
        match self {
            Self::Png | Self::Jpeg | Self::Webp | Self::Gif => MediaKind::Image,
            Self::Mp4 | Self::Webm | Self::Mov => MediaKind::Video,
            _ => MediaKind::Other,
        }
    }
}

/// A content type that says what the file is; `None` when it is missing, generic or unknown,
/// and the extension must decide.
fn by_content_type(ct: &str) -> Option<FileKind> {
    use FileKind::*;
    let kind = match ct {
        "image/png" | "image/apng" => Png,
        "image/jpeg" | "image/jpg" | "image/pjpeg" => Jpeg,
        "image/webp" => Webp,
        "image/gif" => Gif,
        "image/heic" | "image/heif" | "image/heic-sequence" | "image/heif-sequence" => Heic,
        "image/avif" => Avif,
        "image/svg+xml" => Svg,
        "image/bmp" | "image/x-ms-bmp" | "image/x-bmp" => Bmp,
        "image/tiff" => Tiff,
        "video/mp4" | "video/x-m4v" => Mp4,
        "video/webm" => Webm,
        "video/quicktime" => Mov,
        "video/x-matroska" | "video/matroska" => Mkv,
        "video/x-msvideo" | "video/avi" | "video/msvideo" => Avi,
        "video/x-ms-wmv" => Wmv,
        "video/x-flv" => Flv,
        "video/mpeg" => Mpeg,
        "application/pdf" => Pdf,
        "application/zip"
        | "application/x-zip-compressed"
        | "application/x-rar-compressed"
        | "application/vnd.rar"
        | "application/x-7z-compressed"
        | "application/gzip"
        | "application/x-tar" => Archive,
        "application/msword" | "application/rtf" => Document,
        ct if ct.starts_with("application/vnd.openxmlformats-officedocument")
            || ct.starts_with("application/vnd.oasis.opendocument")
            || ct.starts_with("application/vnd.ms-") =>
        {
            Document
        }
        ct if ct.starts_with("audio/") => Audio,
        ct if ct.starts_with("text/") => Text,
        // Images and videos in a format we do not list are not ones PixelDojo takes.
        ct if ct.starts_with("image/") => OtherImage,
        ct if ct.starts_with("video/") => OtherVideo,
        // Missing, generic (`application/octet-stream`) or unknown: the name decides.
        _ => return None,
    };
    Some(kind)
}

/// What a file is by its extension alone.
fn by_extension(filename: &str) -> FileKind {
    use FileKind::*;
    let ext = filename
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "png" | "apng" => Png,
        "jpg" | "jpeg" | "jfif" | "pjpeg" | "jpe" => Jpeg,
        "webp" => Webp,
        "gif" => Gif,
        "heic" | "heif" | "hif" => Heic,
        "avif" => Avif,
        "svg" | "svgz" => Svg,
        "bmp" => Bmp,
        "tif" | "tiff" => Tiff,
        "ico" | "psd" | "jxl" | "raw" | "cr2" | "nef" | "dng" => OtherImage,
        "mp4" | "m4v" => Mp4,
        "webm" => Webm,
        "mov" | "qt" => Mov,
        "mkv" => Mkv,
        "avi" => Avi,
        "wmv" => Wmv,
        "flv" => Flv,
        "mpg" | "mpeg" | "m2ts" | "mts" | "ts" => Mpeg,
        "3gp" | "ogv" => OtherVideo,
        "mp3" | "wav" | "ogg" | "oga" | "m4a" | "flac" | "aac" | "opus" => Audio,
        "pdf" => Pdf,
        "txt" | "md" | "csv" | "log" | "json" => Text,
        "zip" | "rar" | "7z" | "gz" | "tar" | "tgz" => Archive,
        "doc" | "docx" | "odt" | "rtf" | "xls" | "xlsx" | "ods" | "ppt" | "pptx" | "odp" => {
            Document
        }
        _ => Unknown,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_formats_pixeldojo_takes_are_images_and_videos() {
        for (ct, name, media) in [
            ("image/png", "a.png", MediaKind::Image),
            ("image/jpeg", "a.jpg", MediaKind::Image),
            ("image/webp", "a.webp", MediaKind::Image),
            ("image/gif", "a.gif", MediaKind::Image),
            ("video/mp4", "a.mp4", MediaKind::Video),
            ("video/webm", "a.webm", MediaKind::Video),
            ("video/quicktime", "a.mov", MediaKind::Video),
        ] {
            assert_eq!(FileKind::of(Some(ct), name).media(), media, "{ct}");
            assert_eq!(FileKind::of(None, name).media(), media, "{name}");
        }
    }

    #[test]
    fn heic_svg_avif_and_mkv_are_not_taken_whatever_their_type_says() {
        assert_eq!(FileKind::of(Some("image/heic"), "a.heic"), FileKind::Heic);
        assert_eq!(FileKind::of(Some("image/svg+xml"), "a.svg"), FileKind::Svg);
        assert_eq!(FileKind::of(Some("image/avif"), "a.avif"), FileKind::Avif);
        assert_eq!(
            FileKind::of(Some("video/x-matroska"), "a.mkv"),
            FileKind::Mkv
        );
        assert_eq!(
            FileKind::of(Some("image/x-icon"), "a.ico"),
            FileKind::OtherImage
        );
        for kind in [
            FileKind::Heic,
            FileKind::Svg,
            FileKind::Avif,
            FileKind::Mkv,
            FileKind::OtherImage,
        ] {
            assert_eq!(kind.media(), MediaKind::Other, "{kind:?}");
        }
    }

    #[test]
    fn a_generic_or_missing_type_is_decided_by_the_extension() {
        assert_eq!(
            FileKind::of(Some("application/octet-stream"), "clip.MP4"),
            FileKind::Mp4
        );
        assert_eq!(FileKind::of(Some(""), "photo.heic"), FileKind::Heic);
        assert_eq!(FileKind::of(None, "clip.mkv"), FileKind::Mkv);
        assert_eq!(
            FileKind::of(Some("application/octet-stream"), "blob"),
            FileKind::Unknown
        );
        assert_eq!(
            FileKind::of(Some("image/PNG; charset=binary"), "x"),
            FileKind::Png
        );
    }

    #[test]
    fn documents_and_other_files_are_told_apart() {
        assert_eq!(
            FileKind::of(Some("application/pdf"), "a.pdf"),
            FileKind::Pdf
        );
        assert_eq!(FileKind::of(Some("text/plain"), "a.txt"), FileKind::Text);
        assert_eq!(FileKind::of(Some("audio/mpeg"), "a.mp3"), FileKind::Audio);
        assert_eq!(
            FileKind::of(Some("application/zip"), "a.zip"),
            FileKind::Archive
        );
        assert_eq!(FileKind::of(None, "report.docx"), FileKind::Document);
    }
}
