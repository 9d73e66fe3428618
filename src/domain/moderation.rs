//! Moderation: prompt rules (words and phrases refused before any credit is spent) and where
//! moderators read about the server's clips (plain Rust, no I/O).
//!
//! A rule matches whole words and phrases, whatever their case and punctuation: the rule
//! "red fox" refuses "A RED-FOX!" and "the red fox runs", not "a redfox" nor "red foxes". Text is
//! compared as its words: runs of letters and digits, lower-cased.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::ids::ChannelId;

/// The longest rule, in characters.
pub const MAX_TERM_CHARS: usize = 100;
/// The most rules one server may have.
pub const MAX_SERVER_TERMS: usize = 250;

/// A blocked word or phrase: its words, lower-cased, separated by one space.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Term(String);

/// Why a text cannot be a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TermError {
    /// No letter or digit in it.
    NoWords,
    TooLong {
        max: usize,
    },
}

/// The words of a text: runs of letters and digits, lower-cased.
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

impl Term {
    pub fn parse(text: &str) -> Result<Self, TermError> {
        if text.chars().count() > MAX_TERM_CHARS {
            return Err(TermError::TooLong {
                max: MAX_TERM_CHARS,
            });
        }
        let words = words(text);
        if words.is_empty() {
            return Err(TermError::NoWords);
        }
        Ok(Self(words.join(" ")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `text` contains this word or phrase as whole words.
    pub fn matches(&self, text: &str) -> bool {
        let wanted: Vec<&str> = self.0.split(' ').collect();
        let text = words(text);
        text.windows(wanted.len())
            .any(|window| window.iter().zip(&wanted).all(|(a, b)| a == b))
    }
}

/// The first of `terms` that `text` contains.
pub fn first_match<'a>(text: &str, terms: impl IntoIterator<Item = &'a Term>) -> Option<&'a Term> {
    terms.into_iter().find(|t| t.matches(text))
}

/// Whose rule refused a prompt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleOwner {
    /// The bot's operator, in the config file (every server and direct messages).
    Operator,
    /// The server's moderators.
    Server,
}

/// What a server's moderators set: their prompt rules and their mod log.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModerationSettings {
    #[serde(default)]
    pub blocked_terms: BTreeSet<Term>,
    /// The channel that gets a line per accepted clip and per prompt refused by a rule.
    #[serde(default)]
    pub mod_log: Option<ChannelId>,
}

/// Which rule, if any, refuses `prompt`: the operator's first, then the server's.
pub fn check_prompt(prompt: &str, operator: &[Term], server: &BTreeSet<Term>) -> Option<RuleOwner> {
    if first_match(prompt, operator).is_some() {
        return Some(RuleOwner::Operator);
    }
    first_match(prompt, server).map(|_| RuleOwner::Server)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn term(s: &str) -> Term {
        Term::parse(s).unwrap()
    }

    #[test]
    fn a_rule_matches_whole_words_whatever_the_case_and_punctuation() {
        let gore = term("Gore");
        assert!(gore.matches("lots of GORE, please"));
        assert!(gore.matches("gore"));
        assert!(gore.matches("(gore)!"));
        assert!(!gore.matches("a gorilla in the mist"));
        assert!(!gore.matches("gored"));
    }

    #[test]
    fn a_phrase_matches_only_its_words_in_order_and_next_to_each_other() {
        let fox = term("red  fox");
        assert_eq!(fox.as_str(), "red fox");
        assert!(fox.matches("A RED-FOX!"));
        assert!(fox.matches("the red fox runs"));
        assert!(!fox.matches("a redfox"));
        assert!(!fox.matches("red foxes"));
        assert!(!fox.matches("fox red"));
        assert!(!fox.matches("a red and brown fox"));
    }

    #[test]
    fn rules_work_beyond_ascii() {
        let t = term("Übel");
        assert!(t.matches("sehr ÜBEL hier"));
        assert!(!t.matches("übelkeit"));
    }

    #[test]
    fn a_rule_needs_words_and_a_reasonable_length() {
        assert_eq!(Term::parse("  !!! "), Err(TermError::NoWords));
        assert_eq!(
            Term::parse(&"x".repeat(MAX_TERM_CHARS + 1)),
            Err(TermError::TooLong {
                max: MAX_TERM_CHARS
            })
        );
        assert!(Term::parse(&"x".repeat(MAX_TERM_CHARS)).is_ok());
    }

    #[test]
    fn the_operators_rules_are_checked_before_the_servers() {
        let operator = vec![term("alpha")];
        let server: BTreeSet<Term> = [term("beta"), term("alpha")].into();
        assert_eq!(
            check_prompt("alpha and beta", &operator, &server),
            Some(RuleOwner::Operator)
        );
        assert_eq!(
            check_prompt("just beta", &operator, &server),
            Some(RuleOwner::Server)
        );
        assert_eq!(check_prompt("gamma", &operator, &server), None);
        assert_eq!(
            first_match("x beta y", &server).map(Term::as_str),
            Some("beta")
        );
    }
}
