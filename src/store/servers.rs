//! What the bot keeps about each server besides its caps: `servers` (server id, u64 big-endian →
//! a record as JSON) with the moderators' settings ([`ModerationSettings`]: prompt rules, the mod
//! log) and the server's system channel as Discord last reported it.

use serde::{Deserialize, Serialize};

use super::kv::Tree;
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
    async fn server(&self, guild: GuildId) -> Result<ServerRecord> {
        Ok(self
            .get_json(Tree::Servers, &key(guild.0))
            .await?
            .unwrap_or_default())
    }

    /// A server's prompt rules and mod log.
    pub async fn moderation(&self, guild: GuildId) -> Result<ModerationSettings> {
        Ok(self.server(guild).await?.moderation)
    }

    /// Applies `change` to a server's moderation settings atomically and returns the result.
    pub async fn update_moderation(
        &self,
        guild: GuildId,
        change: impl Fn(&mut ModerationSettings),
    ) -> Result<ModerationSettings> {
        let record: ServerRecord = self
            .update_json(Tree::Servers, &key(guild.0), |r: &mut ServerRecord| {
                change(&mut r.moderation)
            })
            .await?;
        Ok(record.moderation)
    }

    /// Remembers the server's system channel (Discord's "where welcome messages go"); writes
    /// nothing when it is unchanged (Discord reports every server at each start).
    pub async fn set_system_channel(
        &self,
        guild: GuildId,
        channel: Option<ChannelId>,
    ) -> Result<()> {
        if self.server(guild).await?.system_channel != channel {
            self.update_json(Tree::Servers, &key(guild.0), |r: &mut ServerRecord| {
                r.system_channel = channel
            })
            .await?;
        }
        Ok(())
    }

    pub async fn system_channel(&self, guild: GuildId) -> Result<Option<ChannelId>> {
        Ok(self.server(guild).await?.system_channel)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::on_both_backends;
    use super::*;
    use crate::domain::moderation::Term;

    on_both_backends! {
        async fn moderation_settings_and_the_system_channel_are_kept_per_server_side_by_side(store) {
            let g = GuildId(4);
            assert_eq!(
                store.moderation(g).await.unwrap(),
                ModerationSettings::default()
            );
            store
                .update_moderation(g, |m| {
                    m.blocked_terms.insert(Term::parse("gore").unwrap());
                    m.mod_log = Some(ChannelId(9));
                })
                .await
                .unwrap();
            store
                .set_system_channel(g, Some(ChannelId(3)))
                .await
                .unwrap();
            let m = store.moderation(g).await.unwrap();
            assert_eq!(m.mod_log, Some(ChannelId(9)));
            assert_eq!(m.blocked_terms.len(), 1);
            assert_eq!(store.system_channel(g).await.unwrap(), Some(ChannelId(3)));
            assert_eq!(store.moderation(GuildId(5)).await.unwrap().mod_log, None);
        }
    }
}
