//! What the bot keeps about each server besides its caps: `servers` (server id, u64 big-endian →
//! a record as JSON) with the moderators' settings ([`ModerationSettings`]: prompt rules, the mod
//! log) and the server's system channel as Discord last reported it.

use serde::{Deserialize, Serialize};

use super::{key, Result, Store};
use crate::domain::ids::{ChannelId, GuildId};
use crate::domain::moderation::ModerationSettings;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct ServerRecord {
    #[serde(default)]
    moderation: ModerationSettings,
    #[serde(default)]
    system_channel: Option<ChannelId>,
}

impl Store {
    fn server(&self, guild: GuildId) -> Result<ServerRecord> {
        match self.servers.get(key(guild.0))? {
            Some(v) => Ok(serde_json::from_slice(&v)?),
            None => Ok(ServerRecord::default()),
        }
    }

    /// Applies `change` to a server's record atomically and returns the result.
    fn update_server(
        &self,
        guild: GuildId,
        change: impl Fn(&mut ServerRecord),
    ) -> Result<ServerRecord> {
        let k = key(guild.0);
        loop {
            let old = self.servers.get(k)?;
            let mut record: ServerRecord = match &old {
                Some(v) => serde_json::from_slice(v)?,
                None => ServerRecord::default(),
            };
            change(&mut record);
            let new = serde_json::to_vec(&record)?;
            if self.servers.compare_and_swap(k, old, Some(new))?.is_ok() {
                return Ok(record);
            }
        }
    }

    /// A server's prompt rules and mod log.
    pub fn moderation(&self, guild: GuildId) -> Result<ModerationSettings> {
        Ok(self.server(guild)?.moderation)
    }

    /// Applies `change` to a server's moderation settings atomically and returns the result.
    pub fn update_moderation(
        &self,
        guild: GuildId,
        change: impl Fn(&mut ModerationSettings),
    ) -> Result<ModerationSettings> {
        Ok(self
            .update_server(guild, |r| change(&mut r.moderation))?
            .moderation)
    }

    /// Remembers the server's system channel (Discord's "where welcome messages go"); writes
    /// nothing when it is unchanged (Discord reports every server at each start).
    pub fn set_system_channel(&self, guild: GuildId, channel: Option<ChannelId>) -> Result<()> {
        if self.server(guild)?.system_channel != channel {
            self.update_server(guild, |r| r.system_channel = channel)?;
        }
        Ok(())
    }

    pub fn system_channel(&self, guild: GuildId) -> Result<Option<ChannelId>> {
        Ok(self.server(guild)?.system_channel)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::store;
    use super::*;
    use crate::domain::moderation::Term;

    #[test]
    fn moderation_settings_and_the_system_channel_are_kept_per_server_side_by_side() {
        let (_dir, store) = store();
        let g = GuildId(4);
        assert_eq!(store.moderation(g).unwrap(), ModerationSettings::default());
        store
            .update_moderation(g, |m| {
                m.blocked_terms.insert(Term::parse("gore").unwrap());
                m.mod_log = Some(ChannelId(9));
            })
            .unwrap();
        store.set_system_channel(g, Some(ChannelId(3))).unwrap();
        let m = store.moderation(g).unwrap();
        assert_eq!(m.mod_log, Some(ChannelId(9)));
        assert_eq!(m.blocked_terms.len(), 1);
        assert_eq!(store.system_channel(g).unwrap(), Some(ChannelId(3)));
        assert_eq!(store.moderation(GuildId(5)).unwrap().mod_log, None);
    }
}
