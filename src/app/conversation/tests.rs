use super::*;
use crate::domain::ids::{ChannelId, JobId, UserId};
use crate::store::ClipRecord;

fn facts(text: &str) -> MessageFacts {
    MessageFacts {
        id: MessageId(900),
        origin: Origin {
            guild: None,
            channel: ChannelId(50),
            parent_channel: None,
            user: UserId(7),
            roles: Vec::new(),
            upload_limit: 0,
        },
        text: text.to_owned(),
        attachments: Vec::new(),
        replied_to: None,
        replied_to_bot: false,
        mentions_bot: false,
    }
}

fn clip(job: u64, message: u64, video_id: Option<&str>) -> ClipRecord {
    ClipRecord {
        job_id: JobId(job),
        video_id: video_id.map(str::to_owned),
        message_id: MessageId(message),
        label: format!("v{job}"),
        parent: None,
        removed: false,
    }
}

fn thread(clips: Vec<ClipRecord>) -> Conversation {
    Conversation {
        clips,
        owned: true,
        ..Conversation::default()
    }
}

fn file(name: &str, content_type: &str) -> Attachment {
    Attachment {
        url: format!("https://cdn.example/{name}"),
        filename: name.to_owned(),
        content_type: Some(content_type.to_owned()),
        size: 10,
    }
}

/// The requester's plain message (or anyone's where the server allows it).
fn mine(f: &MessageFacts, t: &Conversation) -> Result<Option<Continuation>, Why> {
    decide(f, t, false, true)
}

#[test]
fn a_plain_message_in_a_thread_continues_its_newest_clip() {
    let t = thread(vec![clip(1, 10, Some("a")), clip(2, 20, Some("b"))]);
    let c = mine(&facts("make it night"), &t).unwrap().unwrap();
    assert_eq!(c.continues, Some(ParentRef::Latest));
}

#[test]
fn someone_elses_plain_message_is_chatter_but_their_reply_or_mention_is_a_request() {
    let t = thread(vec![clip(1, 10, Some("a"))]);
    assert_eq!(decide(&facts("lol nice"), &t, false, false), Ok(None));
    let mut reply = facts("same, at sunrise");
    reply.replied_to = Some(MessageId(10));
    let c = decide(&reply, &t, false, false).unwrap().unwrap();
    assert_eq!(c.continues, Some(ParentRef::Job(JobId(1))));
    let mut mention = facts("at sunrise");
    mention.mentions_bot = true;
    let c = decide(&mention, &t, false, false).unwrap().unwrap();
    assert_eq!(c.continues, Some(ParentRef::Latest));
}

#[test]
fn links_emoji_and_gifs_alone_never_start_a_clip_even_from_the_requester() {
    let t = thread(vec![clip(1, 10, Some("a"))]);
    for text in [
        "https://tenor.com/view/party-gif-1",
        "😂🔥",
        "<:pog:123456789>",
        "",
    ] {
        assert_eq!(mine(&facts(text), &t), Ok(None), "{text:?}");
        let mut reply = facts(text);
        reply.replied_to = Some(MessageId(10));
        reply.mentions_bot = true;
        assert_eq!(decide(&reply, &t, false, false), Ok(None), "{text:?}");
    }
    let mut gif = facts("");
    gif.attachments = vec![file("dance.gif", "image/gif")];
    assert_eq!(mine(&gif, &t), Ok(None));
}

#[test]
fn a_reply_to_an_earlier_clip_continues_that_clip() {
    let t = thread(vec![clip(1, 10, Some("a")), clip(2, 20, Some("b"))]);
    let mut f = facts("at sunrise");
    f.replied_to = Some(MessageId(10));
    let c = mine(&f, &t).unwrap().unwrap();
    assert_eq!(c.continues, Some(ParentRef::Job(JobId(1))));
}

#[test]
fn a_reply_to_a_deleted_clip_is_explained_and_a_plain_message_skips_it() {
    let mut deleted = clip(2, 20, Some("b"));
    deleted.removed = true;
    let t = thread(vec![clip(1, 10, Some("a")), deleted]);
    let mut f = facts("again");
    f.replied_to = Some(MessageId(20));
    assert_eq!(mine(&f, &t), Err(Why::Removed { label: "v2".into() }));
    assert_eq!(t.latest_clip().unwrap().job_id, JobId(1));
}

#[test]
fn outside_the_bots_own_threads_only_replies_to_a_clip_count() {
    let mut dm = thread(vec![clip(1, 10, Some("a"))]);
    dm.owned = false;
    assert_eq!(mine(&facts("hello"), &dm), Ok(None));
    let mut f = facts("again");
    f.replied_to = Some(MessageId(10));
    assert!(mine(&f, &dm).unwrap().is_some());
}

#[test]
fn what_cannot_be_continued_is_explained() {
    let empty = thread(vec![]);
    assert_eq!(mine(&facts("x"), &empty), Err(Why::NothingYet));
    // ... unless the thread's first clip is still on its way.
    assert!(decide(&facts("x"), &empty, true, true).unwrap().is_some());
    let no_id = thread(vec![clip(1, 10, None)]);
    assert_eq!(mine(&facts("x"), &no_id), Err(Why::NoVideoId));
    let t = thread(vec![clip(1, 10, Some("a"))]);
    let mut pdf = facts("x");
    pdf.attachments = vec![file("a.pdf", "application/pdf")];
    assert_eq!(
        mine(&pdf, &t),
        Err(Why::Unusable {
            filename: "a.pdf".into(),
            kind: FileKind::Pdf
        })
    );
    let mut heic = facts("like this");
    heic.attachments = vec![file("me.heic", "image/heic")];
    assert!(matches!(
        mine(&heic, &t),
        Err(Why::Unusable {
            kind: FileKind::Heic,
            ..
        })
    ));
    let mut two = facts("x");
    two.attachments = vec![file("a.mp4", "video/mp4"), file("b.mp4", "video/mp4")];
    assert_eq!(mine(&two, &t), Err(Why::OneVideo));
    let mut wordless = facts("");
    wordless.attachments = vec![file("a.png", "image/png")];
    assert_eq!(mine(&wordless, &t), Err(Why::NeedWords));
}

#[test]
fn a_video_starts_an_edit_rather_than_a_continuation() {
    let t = thread(vec![clip(1, 10, Some("a"))]);
    let mut f = facts("make it blue");
    f.attachments = vec![
        file("v.mp4", "application/octet-stream"),
        file("r.png", "image/png"),
    ];
    let c = mine(&f, &t).unwrap().unwrap();
    assert_eq!(c.continues, None);
    assert!(c.video.is_some());
    assert_eq!(c.images.len(), 1);
}
