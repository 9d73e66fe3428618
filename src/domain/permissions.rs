//! What the bot may do in a channel, read from Discord's permission bits, and what it does
//! instead where it may not: post in place of a thread, post a link in place of a file, send
//! the clip privately in place of the channel (plain Rust, no I/O).
//!
//! Discord tells the bot its permissions in the channel of every interaction
//! (`app_permissions`), before it tries anything. The bot reads them, says in its private answer
//! what it will do, and never promises a place it cannot post in.

use serde::{Deserialize, Serialize};

use super::ids::ChannelId;

/// A permission the bot needs for its clips, by Discord's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Permission {
    ViewChannel,
    SendMessages,
    SendMessagesInThreads,
    CreatePublicThreads,
    AttachFiles,
    EmbedLinks,
    ReadMessageHistory,
}

/// Discord's Administrator bit: every permission.
const ADMINISTRATOR: u64 = 1 << 3;

impl Permission {
    /// Every permission the bot asks for when it is invited, in the order Discord lists them.
    pub const NEEDED: [Permission; 7] = [
        Self::ViewChannel,
        Self::SendMessages,
        Self::CreatePublicThreads,
        Self::SendMessagesInThreads,
        Self::AttachFiles,
        Self::EmbedLinks,
        Self::ReadMessageHistory,
    ];

    /// Discord's bit for the permission.
    pub fn bit(self) -> u64 {
        match self {
            Self::ViewChannel => 1 << 10,
            Self::SendMessages => 1 << 11,
            Self::EmbedLinks => 1 << 14,
            Self::AttachFiles => 1 << 15,
            Self::ReadMessageHistory => 1 << 16,
            Self::CreatePublicThreads => 1 << 35,
            Self::SendMessagesInThreads => 1 << 38,
        }
    }

    /// A short stable name (store keys, logs).
    pub fn key(self) -> &'static str {
        match self {
            Self::ViewChannel => "view",
            Self::SendMessages => "send",
            Self::SendMessagesInThreads => "send-in-threads",
            Self::CreatePublicThreads => "create-threads",
            Self::AttachFiles => "attach",
            Self::EmbedLinks => "embed",
            Self::ReadMessageHistory => "history",
        }
    }
}

/// A set of Discord permission bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Permissions(pub u64);

impl Permissions {
    pub fn has(self, p: Permission) -> bool {
        self.0 & ADMINISTRATOR != 0 || self.0 & p.bit() == p.bit()
    }

    /// The permissions of `wanted` this set lacks, in the order given.
    pub fn missing(self, wanted: &[Permission]) -> Vec<Permission> {
        wanted.iter().copied().filter(|p| !self.has(*p)).collect()
    }

    /// The first of `wanted` this set lacks.
    fn first_missing(self, wanted: &[Permission]) -> Option<Permission> {
        wanted.iter().copied().find(|p| !self.has(*p))
    }

    /// Whether the bot can see and post messages in a channel (not a thread).
    pub fn can_post(self) -> bool {
        self.first_missing(&[Permission::ViewChannel, Permission::SendMessages])
            .is_none()
    }
}

/// Where a request was made, as far as posting there goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Venue {
    /// A direct message: the bot may always post and attach files there.
    Direct,
    /// A text or announcement channel: the bot may open threads there.
    ThreadCapable,
    /// A thread (or forum post).
    Thread,
    /// Any other channel with messages (a voice channel's chat): no threads there.
    Plain,
}

/// Where a clip's messages go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Posting {
    /// In a thread of their own.
    Thread,
    /// In the channel itself; `missing` names why no thread (none: no thread is possible there).
    InPlace { missing: Option<Permission> },
    /// To the requester in a direct message, because the bot may not post there.
    Privately { missing: Permission },
}

/// How a finished clip is posted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Files {
    Attach,
    /// As PixelDojo's temporary link, because the bot may not attach files there.
    Link {
        missing: Permission,
    },
}

/// What the bot will do with a request's messages, decided before it is accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    pub posting: Posting,
    pub files: Files,
}

impl Delivery {
    /// Everything as usual: nothing to tell the requester.
    pub fn is_usual(&self) -> bool {
        matches!(
            self.posting,
            Posting::Thread | Posting::InPlace { missing: None }
        ) && self.files == Files::Attach
    }
}

/// The permissions needed to post where a request was made (in a thread, Send Messages in
/// Threads replaces Send Messages).
fn posting_needs(venue: Venue) -> &'static [Permission] {
    match venue {
        Venue::Thread => &[Permission::ViewChannel, Permission::SendMessagesInThreads],
        _ => &[Permission::ViewChannel, Permission::SendMessages],
    }
}

/// What the bot will do with a new clip (one that opens its own conversation) requested in
/// `venue`, where it has `perms` (`None`: Discord did not say, so the usual is assumed and the
/// engine falls back when Discord refuses).
pub fn delivery(venue: Venue, perms: Option<Permissions>) -> Delivery {
    let usual = Delivery {
        posting: match venue {
            Venue::ThreadCapable => Posting::Thread,
            _ => Posting::InPlace { missing: None },
        },
        files: Files::Attach,
    };
    let Some(perms) = perms.filter(|_| venue != Venue::Direct) else {
        return usual;
    };
    if let Some(missing) = perms.first_missing(posting_needs(venue)) {
        // A direct message takes files.
        return Delivery {
            posting: Posting::Privately { missing },
            files: Files::Attach,
        };
    }
    let posting = match venue {
        Venue::ThreadCapable => match perms.first_missing(&[
            Permission::CreatePublicThreads,
            Permission::SendMessagesInThreads,
        ]) {
            None => Posting::Thread,
            Some(missing) => Posting::InPlace {
                missing: Some(missing),
            },
        },
        _ => Posting::InPlace { missing: None },
    };
    let files = if perms.has(Permission::AttachFiles) {
        Files::Attach
    } else {
        Files::Link {
            missing: Permission::AttachFiles,
        }
    };
    Delivery { posting, files }
}

/// What the bot will do with a clip asked for inside an existing conversation (a button, a
/// box): it posts there or nowhere, so a conversation it may not post in is refused (`Err`
/// names the permission).
pub fn delivery_in_conversation(
    venue: Venue,
    perms: Option<Permissions>,
) -> Result<Delivery, Permission> {
    match delivery(venue, perms) {
        Delivery {
            posting: Posting::Privately { missing },
            ..
        } => Err(missing),
        // The conversation exists: a new thread is never opened for it.
        Delivery { files, .. } => Ok(Delivery {
            posting: Posting::InPlace { missing: None },
            files,
        }),
    }
}

/// Where the bot says hello in a server it just joined: the server's system channel when it
/// may post there, else the first channel (in the order given) it may post in.
pub fn welcome_channel(
    system: Option<(ChannelId, Permissions)>,
    channels: &[(ChannelId, Permissions)],
) -> Option<ChannelId> {
    system
        .into_iter()
        .chain(channels.iter().copied())
        .find(|(_, perms)| perms.can_post())
        .map(|(id, _)| id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Permissions {
        Permissions(Permission::NEEDED.iter().fold(0, |b, p| b | p.bit()))
    }

    fn without(p: &[Permission]) -> Permissions {
        Permissions(p.iter().fold(all().0, |b, p| b & !p.bit()))
    }

    #[test]
    fn with_every_permission_a_new_clip_gets_its_thread_and_its_file() {
        let d = delivery(Venue::ThreadCapable, Some(all()));
        assert_eq!(d.posting, Posting::Thread);
        assert!(d.is_usual());
        // When Discord does not say, the usual is assumed.
        assert!(delivery(Venue::ThreadCapable, None).is_usual());
    }

    #[test]
    fn without_thread_permissions_the_clip_is_posted_in_place_naming_the_permission() {
        let d = delivery(
            Venue::ThreadCapable,
            Some(without(&[Permission::CreatePublicThreads])),
        );
        assert_eq!(
            d.posting,
            Posting::InPlace {
                missing: Some(Permission::CreatePublicThreads)
            }
        );
        assert!(!d.is_usual());
        let d = delivery(
            Venue::ThreadCapable,
            Some(without(&[Permission::SendMessagesInThreads])),
        );
        assert_eq!(
            d.posting,
            Posting::InPlace {
                missing: Some(Permission::SendMessagesInThreads)
            }
        );
        // Where no thread can be made, posting in place is the usual.
        assert!(delivery(Venue::Plain, Some(all())).is_usual());
    }

    #[test]
    fn without_send_messages_the_clip_goes_privately_with_its_file() {
        let d = delivery(
            Venue::ThreadCapable,
            Some(without(&[
                Permission::SendMessages,
                Permission::AttachFiles,
            ])),
        );
        assert_eq!(
            d,
            Delivery {
                posting: Posting::Privately {
                    missing: Permission::SendMessages
                },
                files: Files::Attach,
            }
        );
        let d = delivery(
            Venue::Thread,
            Some(without(&[Permission::SendMessagesInThreads])),
        );
        assert_eq!(
            d.posting,
            Posting::Privately {
                missing: Permission::SendMessagesInThreads
            }
        );
        // In a thread, Send Messages is not what counts.
        let d = delivery(Venue::Thread, Some(without(&[Permission::SendMessages])));
        assert!(d.is_usual());
    }

    #[test]
    fn without_attach_files_the_clip_is_a_link() {
        let d = delivery(
            Venue::ThreadCapable,
            Some(without(&[Permission::AttachFiles])),
        );
        assert_eq!(d.posting, Posting::Thread);
        assert_eq!(
            d.files,
            Files::Link {
                missing: Permission::AttachFiles
            }
        );
    }

    #[test]
    fn in_direct_messages_everything_is_allowed_and_administrator_means_everything() {
        assert!(delivery(Venue::Direct, Some(Permissions(0))).is_usual());
        assert!(delivery(Venue::ThreadCapable, Some(Permissions(ADMINISTRATOR))).is_usual());
    }

    #[test]
    fn inside_a_conversation_the_bot_posts_there_or_refuses() {
        assert_eq!(
            delivery_in_conversation(Venue::Thread, Some(without(&[Permission::ViewChannel]))),
            Err(Permission::ViewChannel)
        );
        let d = delivery_in_conversation(
            Venue::ThreadCapable,
            Some(without(&[Permission::CreatePublicThreads])),
        )
        .unwrap();
        assert!(
            d.is_usual(),
            "no thread is opened for a conversation: {d:?}"
        );
    }

    #[test]
    fn the_welcome_goes_to_the_system_channel_or_the_first_channel_the_bot_may_post_in() {
        let mute = without(&[Permission::SendMessages]);
        let (sys, a, b) = (ChannelId(1), ChannelId(2), ChannelId(3));
        assert_eq!(
            welcome_channel(Some((sys, all())), &[(a, all())]),
            Some(sys)
        );
        assert_eq!(
            welcome_channel(Some((sys, mute)), &[(a, mute), (b, all())]),
            Some(b)
        );
        assert_eq!(welcome_channel(None, &[(a, mute)]), None);
        assert_eq!(all().missing(&Permission::NEEDED), Vec::<Permission>::new());
        assert_eq!(
            without(&[Permission::EmbedLinks]).missing(&Permission::NEEDED),
            vec![Permission::EmbedLinks]
        );
    }
}
