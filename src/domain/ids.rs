//! Ids with a meaning: a job, a Discord server, channel, user, message or event, and the
//! conversation a clip lives in. Each is its own type, so one can never be passed for another;
//! all serialize as the bare number (the stored JSON is unchanged by them).

use std::fmt;

use serde::{Deserialize, Serialize};

macro_rules! id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub u64);

        impl $name {
            pub fn get(self) -> u64 {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

id!(
    /// Our own id for a job (sled's monotonic id, never 0), distinct from the vendor's `jobId`.
    JobId
);
id!(
    /// A Discord server.
    GuildId
);
id!(
    /// A Discord channel: a text channel, a thread or a DM.
    ChannelId
);
id!(
    /// A Discord user.
    UserId
);
id!(
    /// A Discord role.
    RoleId
);
id!(
    /// A Discord message.
    MessageId
);
id!(
    /// A Discord event that can start a job: an interaction's id or a message's id. Discord
    /// never reuses them, so they are the natural key for "already handled".
    EventId
);

/// Where a clip's conversation lives: the thread the bot opened for it, a DM, or a channel used
/// in place of a thread. Follow-ups, labels and replies are per conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ConversationId(pub ChannelId);

impl ConversationId {
    pub fn channel(self) -> ChannelId {
        self.0
    }
}

impl fmt::Display for ConversationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Where a request was made: a server, or direct messages (which belong to no server).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Scope {
    Guild(GuildId),
    Dm,
}

impl Scope {
    pub fn from_guild(guild: Option<GuildId>) -> Self {
        guild.map_or(Self::Dm, Self::Guild)
    }

    pub fn guild(self) -> Option<GuildId> {
        match self {
            Self::Guild(g) => Some(g),
            Self::Dm => None,
        }
    }
}

/// The vendor's id of a job (`job_...`), as its submit answer gave it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct VendorJobId(pub String);

impl fmt::Display for VendorJobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_serialize_as_bare_numbers_so_stored_data_keeps_its_shape() {
        assert_eq!(serde_json::to_string(&JobId(7)).unwrap(), "7");
        assert_eq!(
            serde_json::to_string(&ConversationId(ChannelId(9))).unwrap(),
            "9"
        );
        let back: Option<GuildId> = serde_json::from_str("12").unwrap();
        assert_eq!(back, Some(GuildId(12)));
    }

    #[test]
    fn a_request_without_a_server_is_in_direct_messages() {
        assert_eq!(Scope::from_guild(None), Scope::Dm);
        assert_eq!(
            Scope::from_guild(Some(GuildId(3))).guild(),
            Some(GuildId(3))
        );
    }
}
