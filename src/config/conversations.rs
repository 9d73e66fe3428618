//! `[conversations]`: how people talk to a clip in its thread.

use serde::Deserialize;

use crate::domain::intent::PlainMessages;

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConversationsConfig {
    /// Whose plain messages in a clip's thread continue the clip: `"requester"` (the person
    /// who asked for it; others reply to a clip or mention the bot) or `"anyone"`. Server
    /// admins can choose for their server with `/omni-admin follow-ups`.
    #[serde(default)]
    pub plain_messages: PlainMessages,
}

#[cfg(test)]
mod tests {
    use super::super::Config;
    use super::*;

    fn load(extra: &str) -> Result<Config, String> {
        let text = format!("[discord]\ntoken = \"t\"\n[pixeldojo]\napi_key = \"k\"\n{extra}");
        Config::from_toml(&text, |_| None, "t").map_err(|e| e.to_string())
    }

    #[test]
    fn only_the_requesters_plain_messages_count_unless_the_operator_says_anyone() {
        let c = load("").unwrap();
        assert_eq!(c.conversations.plain_messages, PlainMessages::Requester);
        let c = load("[conversations]\nplain_messages = \"anyone\"\n").unwrap();
        assert_eq!(c.conversations.plain_messages, PlainMessages::Anyone);
        let e = load("[conversations]\nplain_messages = \"everyone\"\n").unwrap_err();
        assert!(e.contains("conversations.plain_messages"), "{e}");
    }
}
