//! `[moderation]`: the operator's prompt rules, which apply in every server and in direct
//! messages (each server's moderators add their own with `/omni-admin prompt-rules`).

use serde::Deserialize;

use crate::domain::moderation::{Term, TermError};

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModerationConfig {
    /// Words and phrases refused in every prompt (whole words, any case), before any credit is
    /// spent.
    #[serde(default)]
    pub blocked_terms: Vec<String>,
}

impl ModerationConfig {
    /// The blocked terms, normalized (validated at load, so none is dropped afterwards).
    pub fn terms(&self) -> Vec<Term> {
        self.blocked_terms
            .iter()
            .filter_map(|t| Term::parse(t).ok())
            .collect()
    }

    /// One sentence naming the key, or nothing.
    pub(super) fn validate(&self) -> Result<(), String> {
        for (i, text) in self.blocked_terms.iter().enumerate() {
            match Term::parse(text) {
                Ok(_) => {}
                Err(TermError::NoWords) => {
                    return Err(format!(
                        "`moderation.blocked_terms[{i}]` has no letters or digits; list words or phrases."
                    ))
                }
                Err(TermError::TooLong { max }) => {
                    return Err(format!(
                        "`moderation.blocked_terms[{i}]` is longer than {max} characters."
                    ))
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::load_minimal as load;

    #[test]
    fn blocked_terms_are_read_normalized_and_a_term_without_words_is_refused() {
        let c = load("[moderation]\nblocked_terms = [\"Red  Fox\", \"gore\"]\n").unwrap();
        let terms: Vec<String> = c
            .moderation
            .terms()
            .iter()
            .map(|t| t.as_str().to_owned())
            .collect();
        assert_eq!(terms, vec!["red fox", "gore"]);
        assert!(load("").unwrap().moderation.terms().is_empty());
        let e = load("[moderation]\nblocked_terms = [\"ok\", \"!!\"]\n").unwrap_err();
        assert!(e.contains("moderation.blocked_terms[1]"), "{e}");
    }
}
