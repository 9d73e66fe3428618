//! Whether a message in a clip's thread is meant for the bot (plain Rust, no I/O).
//!
//! Every clip is paid for, so only a message someone means starts one. Chatter never does: a
//! message that is only links (a GIF from the picker is a link), emoji (Unicode or a server's
//! own `<:name:id>`), mentions or punctuation has no words to make a clip from. Whose plain
//! messages count is a server's choice ([`PlainMessages`]); a reply to a clip or a mention of
//! the bot always shows intent.

use serde::{Deserialize, Serialize};

/// Whose plain messages in a clip's thread continue the clip (without replying to a clip or
/// mentioning the bot).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PlainMessages {
    /// Only the person who asked for the clip the thread was opened for.
    #[default]
    Requester,
    /// Anyone in the thread.
    Anyone,
}

impl PlainMessages {
    /// The value as the config file spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Requester => "requester",
            Self::Anyone => "anyone",
        }
    }
}

/// Whether `text` has words a clip could be made from: anything but links, emoji, mentions,
/// custom emoji, punctuation and spaces.
pub fn has_words(text: &str) -> bool {
    text.split_whitespace().any(|token| {
        let token = strip_discord_tokens(token);
        !is_link(&token)
            && token
                .chars()
                .any(|c| c.is_alphanumeric() && !is_emoji_part(c))
            && !only_emoji(&token)
    })
}

/// A token without Discord's `<...>` forms: custom emoji (`<:name:id>`, `<a:name:id>`),
/// mentions (`<@id>`, `<@!id>`, `<@&id>`, `<#id>`), timestamps and suppressed links
/// (`<https://...>`, kept as the bare link).
fn strip_discord_tokens(token: &str) -> String {
    let mut out = String::new();
    let mut rest = token;
    while let Some(start) = rest.find('<') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        match after.find('>') {
            Some(end) => {
                let inner = &after[..end];
                if inner.starts_with("http://") || inner.starts_with("https://") {
                    out.push_str(inner);
                } else if !is_discord_markup(inner) {
                    out.push('<');
                    out.push_str(inner);
                    out.push('>');
                }
                rest = &after[end + 1..];
            }
            None => {
                out.push_str(&rest[start..]);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

fn is_discord_markup(inner: &str) -> bool {
    let digits = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_digit());
    let emoji = |s: &str| {
        s.rsplit_once(':')
            .is_some_and(|(name, id)| digits(id) && !name.is_empty())
    };
    match inner.as_bytes().first() {
        Some(b':') => emoji(&inner[1..]),
        Some(b'a') if inner.starts_with("a:") => emoji(&inner[2..]),
        Some(b'@') => {
            let id = inner[1..].trim_start_matches(['!', '&']);
            digits(id)
        }
        Some(b'#') => digits(&inner[1..]),
        Some(b't') if inner.starts_with("t:") => true,
        _ => false,
    }
}

fn is_link(token: &str) -> bool {
    let t = token.trim_matches(|c: char| "()[]<>\"'".contains(c));
    t.starts_with("http://") || t.starts_with("https://") || t.starts_with("www.")
}

/// Characters that only ever appear inside an emoji: keycap digits are alphanumeric, but
/// `1️⃣` is an emoji, not a word.
fn is_emoji_part(c: char) -> bool {
    is_pictograph(c) || matches!(c, '\u{FE0F}' | '\u{FE0E}' | '\u{200D}' | '\u{20E3}')
}

/// A token made only of emoji (keycaps included) and punctuation.
fn only_emoji(token: &str) -> bool {
    let chars: Vec<char> = token.chars().collect();
    chars.iter().enumerate().all(|(i, &c)| {
        let keycap = matches!(c, '0'..='9' | '#' | '*')
            && matches!(chars.get(i + 1), Some('\u{FE0F}' | '\u{20E3}'));
        keycap || is_emoji_part(c) || !c.is_alphanumeric()
    })
}

/// Unicode pictographs (emoji, symbols, flags, skin tones, tags).
fn is_pictograph(c: char) -> bool {
    matches!(c as u32,
        0x1F000..=0x1FAFF
        | 0x2600..=0x27BF
        | 0x2300..=0x23FF
        | 0x2B00..=0x2BFF
        | 0x2190..=0x21FF
        | 0x25A0..=0x25FF
        | 0x2900..=0x297F
        | 0x3030 | 0x303D | 0x3297 | 0x3299
        | 0x00A9 | 0x00AE | 0x203C | 0x2049 | 0x2122 | 0x2139 | 0x24C2
        | 0xE0020..=0xE007F)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_are_words_even_next_to_links_and_emoji() {
        assert!(has_words("make it night time"));
        assert!(has_words("lol nice"));
        assert!(has_words("🔥 more fire https://example.com/ref.png"));
        assert!(has_words("<@123> make it 9 seconds"));
        assert!(has_words("3"));
        assert!(has_words("夜にして"));
    }

    #[test]
    fn links_emoji_mentions_and_punctuation_alone_are_chatter() {
        for chatter in [
            "",
            "   ",
            "https://tenor.com/view/cat-dance-gif-123",
            "<https://example.com/a>",
            "www.example.com",
            "😂",
            "😂😂 🔥!!",
            "👍🏽",
            "❤️",
            "👨‍👩‍👧",
            "🇫🇷",
            "1️⃣",
            "<:pepe:123456789012345678>",
            "<a:dance:123456789012345678> <:ok:1>",
            "<@123> <@!456> <@&789> <#42>",
            "?!",
            "https://a.example/x 😂 <:lol:99>",
        ] {
            assert!(!has_words(chatter), "{chatter:?}");
        }
    }

    #[test]
    fn the_setting_is_spelled_as_in_the_config() {
        assert_eq!(PlainMessages::default(), PlainMessages::Requester);
        assert_eq!(PlainMessages::Anyone.as_str(), "anyone");
        let parsed: PlainMessages = serde_json::from_str("\"anyone\"").unwrap();
        assert_eq!(parsed, PlainMessages::Anyone);
    }
}
