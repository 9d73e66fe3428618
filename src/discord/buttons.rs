//! The buttons and modals on the bot's messages. Everything a press needs is in its
//! `custom_id` (at most 100 characters), so a press is understood after a restart without any
//! in-memory collector.

use poise::serenity_prelude as serenity;
use serenity::{ButtonStyle, CreateActionRow, CreateButton};

use crate::domain::ids::JobId;
use crate::domain::job::FailReason;
use crate::domain::request::AspectRatio;

const PREFIX: &str = "omni";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// The same request with a new random seed.
    Reroll(JobId),
    /// Exactly the same request again (under a failure).
    Again(JobId),
    /// Open a modal for a new prompt that continues the clip.
    Refine(JobId),
    /// The same prompt and inputs, as a new clip in the other aspect ratio.
    Flip(JobId),
    /// Withdraw a request still waiting in line.
    Cancel(JobId),
    /// Delete a clip's message (its requester, or a moderator).
    Delete(JobId),
    /// The modal with a refinement prompt for a clip was submitted.
    RefineSubmit(JobId),
    /// The modal of the "Animate with Omni" menu was submitted; the key names the stored images.
    AnimateSubmit(u64),
}

impl Action {
    pub fn custom_id(self) -> String {
        let (verb, id) = match self {
            Self::Reroll(id) => ("reroll", id),
            Self::Again(id) => ("again", id),
            Self::Refine(id) => ("refine", id),
            Self::Flip(id) => ("flip", id),
            Self::Cancel(id) => ("cancel", id),
            Self::Delete(id) => ("delete", id),
            Self::RefineSubmit(id) => ("refine-modal", id),
            Self::AnimateSubmit(key) => ("animate-modal", JobId(key)),
        };
        format!("{PREFIX}:{verb}:{id}")
    }

    pub fn parse(custom_id: &str) -> Option<Self> {
        let mut parts = custom_id.split(':');
        if parts.next()? != PREFIX {
            return None;
        }
        let verb = parts.next()?;
        let number: u64 = parts.next()?.parse().ok()?;
        let id = JobId(number);
        if parts.next().is_some() {
            return None;
        }
        Some(match verb {
            "reroll" => Self::Reroll(id),
            "again" => Self::Again(id),
            "refine" => Self::Refine(id),
            "flip" => Self::Flip(id),
            "cancel" => Self::Cancel(id),
            "delete" => Self::Delete(id),
            "refine-modal" => Self::RefineSubmit(id),
            "animate-modal" => Self::AnimateSubmit(number),
            _ => return None,
        })
    }
}

/// The buttons under a finished clip. `aspect` is the clip's aspect ratio; an edit, which keeps
/// its source video's shape, has none and no button for the other one.
pub fn clip_buttons(
    job_id: JobId,
    aspect: Option<AspectRatio>,
    can_continue: bool,
) -> CreateActionRow {
    let mut buttons = vec![CreateButton::new(Action::Reroll(job_id).custom_id())
        .label("Re-roll")
        .emoji('🎲')
        .style(ButtonStyle::Secondary)];
    if can_continue {
        buttons.push(
            CreateButton::new(Action::Refine(job_id).custom_id())
                .label("Refine")
                .emoji('✏')
                .style(ButtonStyle::Primary),
        );
    }
    if let Some(aspect) = aspect {
        buttons.push(
            CreateButton::new(Action::Flip(job_id).custom_id())
                .label(format!("Make it {}", aspect.flipped().as_str()))
                .emoji('🔄')
                .style(ButtonStyle::Secondary),
        );
    }
    buttons.push(
        CreateButton::new(Action::Delete(job_id).custom_id())
            .label("Delete")
            .emoji('🗑')
            .style(ButtonStyle::Secondary),
    );
    CreateActionRow::Buttons(buttons)
}

/// The button under a failure: exactly the same request again (a new paid job, only on
/// request). After a lost submit it says that it may be charged twice.
pub fn retry_button(job_id: JobId, reason: &FailReason) -> CreateActionRow {
    let label = if reason.may_have_started() {
        "Send again (may be charged twice)"
    } else {
        "Try again"
    };
    CreateActionRow::Buttons(vec![CreateButton::new(Action::Again(job_id).custom_id())
        .label(label)
        .emoji('🔁')
        .style(ButtonStyle::Secondary)])
}

/// The buttons that mark a job's final message (a clip or a reason): how an earlier post is
/// recognised in the channel's history.
pub fn final_markers(job_id: JobId) -> [String; 2] {
    [
        Action::Reroll(job_id).custom_id(),
        Action::Again(job_id).custom_id(),
    ]
}

/// The cancel button on a request waiting in line.
pub fn cancel_button(job_id: JobId) -> CreateActionRow {
    CreateActionRow::Buttons(vec![CreateButton::new(Action::Cancel(job_id).custom_id())
        .label("Cancel")
        .style(ButtonStyle::Danger)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_survives_a_round_trip_through_its_custom_id() {
        for a in [
            Action::Reroll(JobId(1)),
            Action::Again(JobId(3)),
            Action::Refine(JobId(u64::MAX)),
            Action::Flip(JobId(42)),
            Action::Cancel(JobId(7)),
            Action::Delete(JobId(8)),
            Action::RefineSubmit(JobId(9)),
            Action::AnimateSubmit(11),
        ] {
            let id = a.custom_id();
            assert!(id.len() <= 100);
            assert_eq!(Action::parse(&id), Some(a));
        }
    }

    fn ids(row: &CreateActionRow) -> Vec<String> {
        let json = serde_json::to_value(row).unwrap();
        json["components"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["custom_id"].as_str().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn a_clip_can_be_deleted_and_is_still_recognised_as_a_final_post() {
        let row = clip_buttons(JobId(4), Some(AspectRatio::Portrait), true);
        let clip = ids(&row);
        assert!(clip.contains(&"omni:delete:4".to_owned()), "{clip:?}");
        assert!(clip.contains(&"omni:flip:4".to_owned()), "{clip:?}");
        assert!(final_markers(JobId(4)).iter().any(|m| clip.contains(m)));
        // An edit keeps its video's shape: no other aspect ratio to offer.
        let edit = ids(&clip_buttons(JobId(4), None, false));
        assert_eq!(edit, ["omni:reroll:4", "omni:delete:4"]);
    }

    #[test]
    fn foreign_or_malformed_custom_ids_are_ignored() {
        for id in [
            "other:reroll:1",
            "omni:reroll",
            "omni:reroll:x",
            "omni:jump:1",
            "omni:reroll:1:2",
        ] {
            assert_eq!(Action::parse(id), None, "{id}");
        }
    }
}
