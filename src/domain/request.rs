//! What a user may ask for, checked against what the API accepts before any credit is spent.
//!
//! Plain Rust: no Discord, no HTTP. A [`Draft`] is what a user typed and attached; a
//! [`GenerationRequest`] is a draft that passed every rule the vendor documents, so everything
//! behind this edge can trust it. A [`RequestError`] says which rule a draft broke, as data.

use serde::{Deserialize, Serialize};

pub use super::media::{FileKind, MediaKind};

/// Reference images the API accepts for a fresh generation.
pub const MAX_REFERENCES: usize = 7;
/// Reference images the API accepts when editing a video or continuing a clip.
pub const MAX_REFERENCES_WITH_VIDEO: usize = 5;
/// Longest prompt the bot forwards (Discord's own text option limit is 6000).
pub const MAX_PROMPT_CHARS: usize = 2000;
pub const MIN_DURATION: i64 = 3;
pub const MAX_DURATION: i64 = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum AspectRatio {
    #[serde(rename = "16:9")]
    Landscape,
    #[serde(rename = "9:16")]
    Portrait,
}

impl AspectRatio {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Landscape => "16:9",
            Self::Portrait => "9:16",
        }
    }

    /// The other orientation (for the "other aspect ratio" button).
    pub fn flipped(self) -> Self {
        match self {
            Self::Landscape => Self::Portrait,
            Self::Portrait => Self::Landscape,
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "16:9" => Some(Self::Landscape),
            "9:16" => Some(Self::Portrait),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputFormat {
    Mp4,
    Webm,
    Mov,
}

impl OutputFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Mp4 => "mp4",
            Self::Webm => "webm",
            Self::Mov => "mov",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "mp4" => Some(Self::Mp4),
            "webm" => Some(Self::Webm),
            "mov" => Some(Self::Mov),
            _ => None,
        }
    }
}

/// A file a user attached, as Discord describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    pub url: String,
    pub filename: String,
    pub content_type: Option<String>,
    pub size: u64,
}

impl Attachment {
    /// What the file is, by its content type, or by its extension when Discord gave none or a
    /// generic one.
    pub fn file_kind(&self) -> FileKind {
        FileKind::of(self.content_type.as_deref(), &self.filename)
    }

    /// What PixelDojo can do with the file.
    pub fn kind(&self) -> MediaKind {
        self.file_kind().media()
    }
}

/// Size limits on attachments, from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct InputLimits {
    pub max_image_bytes: u64,
    pub max_video_bytes: u64,
}

impl InputLimits {
    pub fn from_megabytes(image_mb: u64, video_mb: u64) -> Self {
        Self {
            max_image_bytes: image_mb * 1024 * 1024,
            max_video_bytes: video_mb * 1024 * 1024,
        }
    }
}

/// What a user typed and attached, before any check.
#[derive(Debug, Clone, Default)]
pub struct Draft {
    pub prompt: String,
    pub aspect_ratio: Option<AspectRatio>,
    pub duration: Option<i64>,
    /// The start frame.
    pub image: Option<Attachment>,
    /// A source video to edit.
    pub video: Option<Attachment>,
    /// Reference images with the option name they came from (`reference_3`), for messages.
    pub references: Vec<(String, Attachment)>,
    pub seed: Option<i64>,
    pub format: Option<OutputFormat>,
    /// Continue an earlier clip (a follow-up turn).
    pub video_id: Option<String>,
    /// A follow-up whose `video_id` is looked up when it starts: checked by the same rules.
    pub continues: bool,
}

/// Why a draft cannot be sent (the Discord adapter words it for the user).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestError {
    EmptyPrompt,
    PromptTooLong {
        len: usize,
    },
    DurationOutOfRange(i64),
    /// `option` names where the file was given (`image`, `reference_3`, `image 2`).
    NotAnImage {
        option: String,
        filename: String,
        found: FileKind,
    },
    NotAVideo {
        option: String,
        filename: String,
        found: FileKind,
    },
    TooLarge {
        option: String,
        filename: String,
        size: u64,
        max: u64,
    },
    TooManyReferencesWithVideo {
        count: usize,
    },
    /// A follow-up continues a clip, which takes as few references as an edit.
    TooManyReferencesInFollowUp {
        count: usize,
    },
    TooManyReferences {
        count: usize,
    },
    /// A follow-up continues a clip at its length, so it cannot take this.
    NotWithFollowUp(FollowUpConflict),
}

/// What a follow-up cannot carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FollowUpConflict {
    StartImage,
    SourceVideo,
    Duration,
}

/// A request that passed every documented rule of the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GenerationRequest {
    prompt: String,
    aspect_ratio: Option<AspectRatio>,
    duration: Option<u8>,
    image: Option<String>,
    references: Vec<String>,
    video: Option<String>,
    video_id: Option<String>,
    seed: Option<i64>,
    format: Option<OutputFormat>,
}

impl GenerationRequest {
    /// Checks a draft against the API's rules, in the order a user would fix them.
    pub fn validate(draft: Draft, limits: &InputLimits) -> Result<Self, RequestError> {
        let prompt = draft.prompt.trim().to_owned();
        if prompt.is_empty() {
            return Err(RequestError::EmptyPrompt);
        }
        let len = prompt.chars().count();
        if len > MAX_PROMPT_CHARS {
            return Err(RequestError::PromptTooLong { len });
        }
        let duration = match draft.duration {
            None => None,
            Some(d) if (MIN_DURATION..=MAX_DURATION).contains(&d) => Some(d as u8),
            Some(d) => return Err(RequestError::DurationOutOfRange(d)),
        };
        if let Some(image) = &draft.image {
            check_media(image, "image", MediaKind::Image, limits)?;
        }
        if let Some(video) = &draft.video {
            check_media(video, "video", MediaKind::Video, limits)?;
        }
        for (option, reference) in &draft.references {
            check_media(reference, option, MediaKind::Image, limits)?;
        }
        let count = draft.references.len();
        let follow_up = draft.video_id.is_some() || draft.continues;
        if follow_up && count > MAX_REFERENCES_WITH_VIDEO {
            return Err(RequestError::TooManyReferencesInFollowUp { count });
        }
        if draft.video.is_some() && count > MAX_REFERENCES_WITH_VIDEO {
            return Err(RequestError::TooManyReferencesWithVideo { count });
        }
        if count > MAX_REFERENCES {
            return Err(RequestError::TooManyReferences { count });
        }
        if follow_up {
            if draft.image.is_some() {
                return Err(RequestError::NotWithFollowUp(FollowUpConflict::StartImage));
            }
            if draft.video.is_some() {
                return Err(RequestError::NotWithFollowUp(FollowUpConflict::SourceVideo));
            }
            if duration.is_some() {
                return Err(RequestError::NotWithFollowUp(FollowUpConflict::Duration));
            }
        }
        Ok(Self {
            prompt,
            aspect_ratio: draft.aspect_ratio,
            duration,
            image: draft.image.map(|a| a.url),
            references: draft.references.into_iter().map(|(_, a)| a.url).collect(),
            video: draft.video.map(|a| a.url),
            video_id: draft.video_id,
            seed: draft.seed,
            format: draft.format,
        })
    }

    pub fn prompt(&self) -> &str {
        &self.prompt
    }
    pub fn aspect_ratio(&self) -> Option<AspectRatio> {
        self.aspect_ratio
    }
    pub fn duration(&self) -> Option<u8> {
        self.duration
    }
    pub fn image(&self) -> Option<&str> {
        self.image.as_deref()
    }
    pub fn references(&self) -> &[String] {
        &self.references
    }
    pub fn video(&self) -> Option<&str> {
        self.video.as_deref()
    }
    pub fn video_id(&self) -> Option<&str> {
        self.video_id.as_deref()
    }
    pub fn seed(&self) -> Option<i64> {
        self.seed
    }
    pub fn format(&self) -> OutputFormat {
        self.format.unwrap_or(OutputFormat::Mp4)
    }
    pub fn format_choice(&self) -> Option<OutputFormat> {
        self.format
    }

    /// Every attachment link the request carries (start frame, references, source video).
    pub fn attachment_urls(&self) -> Vec<String> {
        self.image
            .iter()
            .chain(&self.references)
            .chain(&self.video)
            .cloned()
            .collect()
    }

    /// The same request with its attachment links replaced by `fresh` (as many, same order).
    pub fn with_attachment_urls(&self, fresh: &[String]) -> Self {
        let mut fresh = fresh.iter().cloned();
        let mut next = |old: &String| fresh.next().unwrap_or_else(|| old.clone());
        Self {
            image: self.image.as_ref().map(&mut next),
            references: self.references.iter().map(&mut next).collect(),
            video: self.video.as_ref().map(&mut next),
            ..self.clone()
        }
    }

    /// A request from parts already checked (a line started over as one clip).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn from_parts(
        prompt: String,
        aspect_ratio: Option<AspectRatio>,
        duration: Option<u8>,
        image: Option<String>,
        references: Vec<String>,
        video: Option<String>,
        seed: Option<i64>,
        format: Option<OutputFormat>,
    ) -> Self {
        Self {
            prompt,
            aspect_ratio,
            duration,
            image,
            references,
            video,
            video_id: None,
            seed,
            format,
        }
    }

    /// The same request in another container (a follow-up keeps its parent's).
    pub fn with_format(&self, format: Option<OutputFormat>) -> Self {
        Self {
            format,
            ..self.clone()
        }
    }

    /// The same request with another seed (re-roll).
    pub fn with_seed(&self, seed: i64) -> Self {
        Self {
            seed: Some(seed),
            ..self.clone()
        }
    }

    /// The same request continuing the clip `video_id` (a follow-up, checked at creation with
    /// [`GenerationRequest::validate`] and a placeholder id).
    pub fn with_video_id(&self, video_id: String) -> Self {
        Self {
            video_id: Some(video_id),
            ..self.clone()
        }
    }

    /// The same prompt and inputs as a fresh clip (no continuation).
    pub fn without_video_id(&self) -> Self {
        Self {
            video_id: None,
            ..self.clone()
        }
    }

    /// The same request in the other orientation.
    pub fn with_aspect_ratio(&self, aspect_ratio: AspectRatio) -> Self {
        Self {
            aspect_ratio: Some(aspect_ratio),
            ..self.clone()
        }
    }

    /// A short kind used to learn typical render times ("t2v-8s", "i2v-5s", "edit", "continue").
    pub fn kind_key(&self) -> String {
        let base = if self.video_id.is_some() {
            "continue"
        } else if self.video.is_some() {
            "edit"
        } else if self.image.is_some() {
            "i2v"
        } else {
            "t2v"
        };
        format!("{base}-{}s", self.duration.unwrap_or(8))
    }
}

fn check_media(
    a: &Attachment,
    option: &str,
    want: MediaKind,
    limits: &InputLimits,
) -> Result<(), RequestError> {
    let found = a.file_kind();
    if found.media() != want {
        let (option, filename) = (option.to_owned(), a.filename.clone());
        return Err(match want {
            MediaKind::Video => RequestError::NotAVideo {
                option,
                filename,
                found,
            },
            _ => RequestError::NotAnImage {
                option,
                filename,
                found,
            },
        });
    }
    let max = match want {
        MediaKind::Video => limits.max_video_bytes,
        _ => limits.max_image_bytes,
    };
    if a.size > max {
        return Err(RequestError::TooLarge {
            option: option.to_owned(),
            filename: a.filename.clone(),
            size: a.size,
            max,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests;
