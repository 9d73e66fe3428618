//! Talking to a clip: files named in words, deleting a clip, and whose plain messages continue
//! a clip (the `/omni-admin follow-ups` setting).

use crate::app::RemoveRefusal;
use crate::domain::intent::PlainMessages;
use crate::domain::media::FileKind;

/// A kind of file, in words, with its article (`a PNG image`, `an HEIC image`).
pub fn file_kind(kind: FileKind) -> &'static str {
    match kind {
        FileKind::Png => "a PNG image",
        FileKind::Jpeg => "a JPEG image",
        FileKind::Webp => "a WebP image",
        FileKind::Gif => "a GIF image",
        FileKind::Mp4 => "an MP4 video",
        FileKind::Webm => "a WebM video",
        FileKind::Mov => "a MOV video",
        FileKind::Heic => "an HEIC image",
        FileKind::Avif => "an AVIF image",
        FileKind::Svg => "an SVG image",
        FileKind::Bmp => "a BMP image",
        FileKind::Tiff => "a TIFF image",
        FileKind::OtherImage => "an image in a format I can't use",
        FileKind::Mkv => "an MKV video",
        FileKind::Avi => "an AVI video",
        FileKind::Wmv => "a WMV video",
        FileKind::Flv => "an FLV video",
        FileKind::Mpeg => "an MPEG video",
        FileKind::OtherVideo => "a video in a format I can't use",
        FileKind::Audio => "an audio file",
        FileKind::Pdf => "a PDF document",
        FileKind::Text => "a text file",
        FileKind::Archive => "a compressed archive",
        FileKind::Document => "an office document",
        FileKind::Unknown => "a file I can't recognise",
    }
}

/// The private answer to the 🗑 button once the clip is gone.
pub fn clip_deleted(label: &str) -> String {
    format!("🗑 Deleted {label}. Replies to it won't continue it; writing in the thread continues the newest clip left.")
}

/// Why the 🗑 button did not delete a clip.
pub fn remove_refusal(refusal: RemoveRefusal) -> String {
    match refusal {
        RemoveRefusal::NotFound => "I can't find that clip any more.".to_owned(),
        RemoveRefusal::NotYours => "Only the person who asked for this clip, or someone who can manage messages here, can delete it.".to_owned(),
        RemoveRefusal::Failed => "Discord didn't let me delete that clip just now; please try again in a moment.".to_owned(),
    }
}

fn who_continues(mode: PlainMessages) -> &'static str {
    match mode {
        PlainMessages::Requester => "only the person who asked for a clip continues it by writing in its thread; everyone else replies to a clip or mentions me",
        PlainMessages::Anyone => "anyone who writes in a clip's thread continues the clip",
    }
}

/// `/omni-admin follow-ups` without a choice: the setting in force.
pub fn follow_ups_now(mode: PlainMessages, chosen_here: bool) -> String {
    let source = if chosen_here {
        "set for this server"
    } else {
        "the bot's default"
    };
    format!(
        "In this server {} ({source}). Replies to a clip and mentions of me always count; messages that are only links, emoji, stickers or GIFs never do.",
        who_continues(mode)
    )
}

/// `/omni-admin follow-ups` changed the setting (`None`: back to the bot's default).
pub fn follow_ups_set(mode: PlainMessages, chosen: Option<PlainMessages>) -> String {
    match chosen {
        Some(_) => format!("Done: {}.", who_continues(mode)),
        None => format!("Done: back to the bot's default: {}.", who_continues(mode)),
    }
}

#[cfg(test)]
mod tests {
    use super::super::*;
    use super::*;
    use crate::domain::ids::{ChannelId, ConversationId, GuildId, JobId, MessageId, UserId};
    use crate::domain::job::{Job, JobState, ParentRef};
    use crate::domain::lineage::Lineage;
    use crate::domain::request::{AspectRatio, Draft, GenerationRequest, InputLimits};
    use crate::engine::ports::{ClipFile, ClipLink, LinkReason, Progress, Version, VersionOrigin};

    fn job(prompt: &str, f: impl FnOnce(&mut Draft)) -> Job {
        let mut d = Draft {
            prompt: prompt.to_owned(),
            ..Draft::default()
        };
        f(&mut d);
        let request =
            GenerationRequest::validate(d, &InputLimits::from_megabytes(20, 100)).unwrap();
        Job {
            id: JobId(5),
            guild: Some(GuildId(1)),
            channel: ChannelId(2),
            parent_channel: None,
            user: UserId(3),
            request,
            attachment_size_limit: 10,
            created_at_ms: 0,
            place: None,
            state: JobState::Accepted,
            asked_in: None,
            continues: None,
            lineage: None,
            made_from: None,
        }
    }

    #[test]
    fn no_kind_of_file_is_named_by_its_mime_type() {
        for kind in [
            FileKind::Heic,
            FileKind::Pdf,
            FileKind::Mkv,
            FileKind::Unknown,
        ] {
            let words = file_kind(kind);
            assert!(!words.contains('/'), "{words}");
            assert!(
                words.starts_with("a ") || words.starts_with("an "),
                "{words}"
            );
        }
        assert_eq!(file_kind(FileKind::Heic), "an HEIC image");
        assert_eq!(file_kind(FileKind::Pdf), "a PDF document");
    }

    #[test]
    fn a_follow_up_says_whose_clips_it_counts_toward_and_shows_its_lines_shape() {
        let root = job("a harbour", |d| {
            d.aspect_ratio = Some(AspectRatio::Portrait);
            d.duration = Some(5);
        });
        let mut follow = job("at night", |d| d.continues = true);
        follow.request = follow.request.with_seed(42);
        follow.user = UserId(9);
        follow.asked_in = Some(ConversationId(ChannelId(77)));
        follow.continues = Some(ParentRef::Latest);
        let unknown = header(&follow);
        assert!(unknown.contains("same shape and length"), "{unknown}");
        follow.lineage = Some(Lineage::continuing(&root.request, None));
        let text = header(&follow);
        assert!(
            text.contains("Requested by <@9> (counts toward <@9>'s daily clips)"),
            "{text}"
        );
        assert!(text.contains("9:16 · 5 s · mp4 · seed 42"), "{text}");
        // A clip that opens its own thread says nothing of the kind.
        assert!(!header(&root).contains("counts toward"));
    }

    #[test]
    fn an_edit_matches_its_source_video_instead_of_claiming_an_aspect_ratio() {
        let edit = job("film grain", |d| {
            d.video = Some(crate::domain::request::Attachment {
                url: "https://cdn.example/v.mp4".into(),
                filename: "v.mp4".into(),
                content_type: Some("video/mp4".into()),
                size: 1,
            })
        });
        let text = describe_request(&edit);
        assert!(text.starts_with("matches the source video · 8 s"), "{text}");
        assert!(!text.contains("16:9"), "{text}");
    }

    #[test]
    fn labels_say_what_happened() {
        let v = |origin| Version {
            label: "v2".into(),
            origin,
            can_continue: true,
        };
        assert_eq!(version_label(&v(None)), "**v2**");
        assert_eq!(
            version_label(&v(Some(VersionOrigin::RerollOf("v1".into())))),
            "**v2** (re-roll of v1)"
        );
        assert_eq!(
            version_label(&v(Some(VersionOrigin::FlipOf {
                label: "v1".into(),
                aspect: AspectRatio::Portrait
            }))),
            "**v2** (9:16 of v1)"
        );
        assert_eq!(
            version_label(&v(Some(VersionOrigin::From("v1".into())))),
            "**v2** (from v1)"
        );
    }

    #[test]
    fn the_clip_message_shows_its_settings_and_quotes_the_prompt_as_typed() {
        let mut j = job("a **bold** cat\n# with a heading", |d| {
            d.duration = Some(4);
            d.seed = Some(7);
        });
        j.request = j
            .request
            .with_format(Some(crate::domain::request::OutputFormat::Webm));
        let file = ClipFile::Link {
            url: "https://temp.example/a.webm".into(),
            why: LinkReason::DownloadFailed,
        };
        let version = Version {
            label: "v1".into(),
            origin: None,
            can_continue: true,
        };
        let text = clip(&j, &file, &version, None);
        assert!(text.contains("\n-# 16:9 · 4 s · webm · seed 7"), "{text}");
        assert!(
            text.contains(r"> a \*\*bold\*\* cat \# with a heading"),
            "{text}"
        );
        let status = header(&j);
        assert!(
            status.starts_with(r"🎬 **a \*\*bold\*\* cat \# with a heading**"),
            "{status}"
        );
    }

    #[test]
    fn the_status_message_links_to_the_latest_clip() {
        let j = job("x", |_| {});
        let link = ClipLink {
            guild: Some(GuildId(1)),
            channel: ChannelId(50),
            message: MessageId(60),
            label: "v2".into(),
        };
        let text = closed(&j, true, true, Some(&link));
        assert!(
            text.ends_with("✅ Latest clip: **v2** https://discord.com/channels/1/50/60"),
            "{text}"
        );
        assert!(closed(&j, false, false, None).contains("No clip"));
        assert_eq!(
            message_link(None, ChannelId(4), MessageId(5)),
            "https://discord.com/channels/@me/4/5"
        );
    }

    #[test]
    fn a_queued_clip_says_it_builds_on_the_clip_before_only_when_it_does() {
        let j = job("x", |_| {});
        let waiting = |builds_on| Progress::Queued {
            position: 1,
            behind_conversation: true,
            builds_on,
        };
        assert!(progress(&j, &waiting(true), false).contains("build on it"));
        let text = progress(&j, &waiting(false), false);
        assert!(!text.contains("build on it"), "{text}");
        assert!(text.contains("the clip before it"), "{text}");
    }

    #[test]
    fn the_follow_up_setting_is_told_in_plain_words() {
        let now = follow_ups_now(PlainMessages::Requester, false);
        assert!(now.contains("only the person who asked"), "{now}");
        assert!(now.contains("the bot's default"), "{now}");
        assert!(!now.contains("requester") && !now.contains('`'), "{now}");
        let set = follow_ups_set(PlainMessages::Anyone, Some(PlainMessages::Anyone));
        assert!(set.contains("anyone who writes"), "{set}");
        assert!(clip_deleted("v2").starts_with("🗑 Deleted v2."));
        assert!(remove_refusal(RemoveRefusal::NotYours).contains("manage messages"));
    }
}
