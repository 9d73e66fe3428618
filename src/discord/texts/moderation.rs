//! What moderators and requesters read about permissions, prompt rules, the mod log and the
//! server's jobs: the notes in a private acknowledgement when the bot cannot do the usual, the
//! tips for moderators, the mod log's lines and the answers to `/omni-admin prompt-rules`,
//! `mod-log` and `jobs`.

use std::fmt::Write as _;

use super::{truncate, CONTENT_MAX};
use crate::app::RuleProblem;
use crate::domain::ids::{ChannelId, GuildId, MessageId, UserId};
use crate::domain::job::{Job, JobState};
use crate::domain::moderation::{ModerationSettings, RuleOwner, TermError};
use crate::domain::permissions::{Delivery, Files, Permission, Posting};
use crate::engine::ports::ChatError;

/// A permission by the name Discord shows admins.
pub fn permission_name(p: Permission) -> &'static str {
    match p {
        Permission::ViewChannel => "View Channels",
        Permission::SendMessages => "Send Messages",
        Permission::SendMessagesInThreads => "Send Messages in Threads",
        Permission::CreatePublicThreads => "Create Public Threads",
        Permission::AttachFiles => "Attach Files",
        Permission::EmbedLinks => "Embed Links",
        Permission::ReadMessageHistory => "Read Message History",
    }
}

/// What the bot does without a permission.
fn instead(p: Permission) -> &'static str {
    match p {
        Permission::CreatePublicThreads | Permission::SendMessagesInThreads => {
            "I post clips in the channel itself instead of giving each its own thread"
        }
        Permission::AttachFiles => {
            "I post a link to each clip instead of the video file (the link only lasts about a day)"
        }
        Permission::ViewChannel | Permission::SendMessages => {
            "I send clips asked for there to the people who ask, in a direct message"
        }
        Permission::EmbedLinks => "links to clips show without a preview",
        Permission::ReadMessageHistory => {
            "I can't check whether a clip was already posted after a restart"
        }
    }
}

/// A link that opens a message in Discord.
pub fn jump_link(guild: Option<GuildId>, channel: ChannelId, message: MessageId) -> String {
    let server = guild.map_or_else(|| "@me".to_owned(), |g| g.to_string());
    format!("https://discord.com/channels/{server}/{channel}/{message}")
}

/// The message that shows a job in its server (its status message, or the progress message of
/// a follow-up); none when the job is being answered privately.
pub fn job_link(job: &Job) -> Option<String> {
    let place = job.place.as_ref()?;
    let (channel, message) = if place.in_thread {
        (job.channel, place.status_message?)
    } else {
        let conversation = place.conversation;
        let in_server = conversation.channel() == job.channel || Some(conversation) == job.asked_in;
        if !in_server {
            return None;
        }
        (
            conversation.channel(),
            place.status_message.or(place.progress_message)?,
        )
    };
    Some(jump_link(job.guild, channel, message))
}

/// A prompt on one line, cut to fit a list.
fn one_line(prompt: &str, max: usize) -> String {
    truncate(
        &prompt.split_whitespace().collect::<Vec<_>>().join(" "),
        max,
    )
}

/// For moderators, once per channel and permission.
pub fn permission_tip(channel: ChannelId, p: Permission) -> String {
    format!(
        "🔧 I'm missing the **{}** permission in <#{channel}>, so {}. A server admin can grant it in that channel's permission settings.",
        permission_name(p),
        instead(p)
    )
}

/// The direct message a requester gets when the bot may not post where they asked.
pub fn private_notice(channel: ChannelId, p: Permission) -> String {
    format!(
        "📬 I can't post in <#{channel}>: I'm missing the **{}** permission there. I'll send you what I make for your requests from there right here instead.",
        permission_name(p)
    )
}

/// What a private acknowledgement adds when the bot cannot do the usual.
pub fn delivery_notes(d: &Delivery) -> Vec<String> {
    let mut notes = Vec::new();
    match d.posting {
        Posting::InPlace { missing: Some(p) } => notes.push(format!(
            "I can't open a thread here (I'm missing the **{}** permission), so I'll post progress and the video in this channel.",
            permission_name(p)
        )),
        Posting::Privately { missing } => notes.push(format!(
            "I can't post here (I'm missing the **{}** permission), so I'll send progress and the video to you in a direct message.",
            permission_name(missing)
        )),
        Posting::Thread | Posting::InPlace { missing: None } => {}
    }
    if let Files::Link { missing } = d.files {
        notes.push(format!(
            "I can't attach files here (I'm missing the **{}** permission), so I'll post a link to the video instead; it lasts about a day.",
            permission_name(missing)
        ));
    }
    notes
}

/// An answer with the notes about what the bot does instead of the usual, if any.
pub fn with_delivery_notes(answer: String, d: &Delivery) -> String {
    let notes = delivery_notes(d);
    if notes.is_empty() {
        answer
    } else {
        format!("{answer}\n{}", notes.join("\n"))
    }
}

/// Why a request was refused because the bot may not post where it was asked.
pub fn cannot_post(missing: Permission, privately_too: bool) -> String {
    if privately_too {
        format!(
            "I can't post here (I'm missing the **{}** permission) and I couldn't send you a direct message either, so I didn't start the clip. Nothing was charged. Ask a server admin to grant me that permission here, or allow direct messages from server members, and try again.",
            permission_name(missing)
        )
    } else {
        format!(
            "I can't post here any more (I'm missing the **{}** permission), so I didn't start the clip. Nothing was charged. A server admin can grant it.",
            permission_name(missing)
        )
    }
}

/// Why a prompt was refused by a rule, without repeating what matched.
pub fn prompt_refused(owner: RuleOwner) -> String {
    let whose = match owner {
        RuleOwner::Server => "this server doesn't allow",
        RuleOwner::Operator => "this bot doesn't allow",
    };
    format!("Your prompt uses a word or phrase {whose}, so I didn't start the clip. Nothing was charged. Please reword it and try again.")
}

/// `/omni` in direct messages when the operator turned them off.
pub const DMS_OFF: &str =
    "I don't make clips in direct messages. Use `/omni` in a server we share instead.";

/// `/omni-admin jobs` for a member who is neither a moderator nor an admin.
pub const MODERATORS_ONLY: &str =
    "Only members with the Manage Messages or Manage Server permission can see this.";

/// `/omni-history` about another member, for a member who is not a moderator.
pub const OTHERS_HISTORY_MODERATORS_ONLY: &str =
    "Only members with the Manage Messages permission can see other members' clips.";

/// The first line of a new mod log.
pub const MOD_LOG_START: &str = "📋 This channel is now omni-bot's mod log: one line for each clip started in this server, and one for each prompt refused by a prompt rule.";

/// The mod log's line about an accepted clip.
pub fn mod_log_clip(job: &Job) -> String {
    let what = if job.asked_in.is_some() {
        "continued a clip"
    } else {
        "started a clip"
    };
    let link = job_link(job).map_or_else(String::new, |l| format!(" · {l}"));
    truncate(
        &format!(
            "🎬 <@{}> {what} in <#{}>: “{}”{link}",
            job.user,
            job.channel,
            one_line(job.request.prompt(), 400)
        ),
        CONTENT_MAX,
    )
}

/// The mod log's line about a prompt refused by a rule; the prompt is hidden behind a spoiler.
pub fn mod_log_refusal(user: UserId, channel: ChannelId, prompt: &str, owner: RuleOwner) -> String {
    let rule = match owner {
        RuleOwner::Server => "one of this server's prompt rules",
        RuleOwner::Operator => "the bot owner's list of blocked words",
    };
    let hidden = one_line(prompt, 400).replace('|', "¦");
    format!("🚫 <@{user}> in <#{channel}>: a prompt refused by {rule}: ||{hidden}||")
}

/// The answer to adding a prompt rule.
pub fn rule_added(term: &str, added: bool) -> String {
    if added {
        format!("Done: prompts with “{term}” are refused in this server from now on (whole words, any case).")
    } else {
        format!("“{term}” is already a prompt rule here.")
    }
}

/// Why a prompt rule could not be added.
pub fn rule_problem(problem: RuleProblem) -> String {
    match problem {
        RuleProblem::Invalid(TermError::NoWords) => {
            "A prompt rule needs at least one letter or digit.".to_owned()
        }
        RuleProblem::Invalid(TermError::TooLong { max }) => {
            format!("A prompt rule can be at most {max} characters long.")
        }
        RuleProblem::Full { max } => format!(
            "This server already has {max} prompt rules, the most it can have. Remove one first."
        ),
    }
}

pub fn rule_removed(term: &str, removed: bool) -> String {
    if removed {
        format!("Done: “{term}” is no longer a prompt rule here.")
    } else {
        format!("“{term}” isn't one of this server's prompt rules.")
    }
}

/// The server's prompt rules.
pub fn rules_list(settings: &ModerationSettings, operator_terms: usize) -> String {
    let mut text = if settings.blocked_terms.is_empty() {
        "**Prompt rules:** none in this server yet. Add one with `/omni-admin prompt-rules add`.\n"
            .to_owned()
    } else {
        let mut t = format!(
            "**Prompt rules in this server** ({}): prompts with these words or phrases are refused before anything is charged.\n",
            settings.blocked_terms.len()
        );
        for term in &settings.blocked_terms {
            let _ = writeln!(t, "• {}", term.as_str());
        }
        t
    };
    if operator_terms > 0 {
        let _ = writeln!(
            text,
            "The bot's owner also refuses {operator_terms} word{} or phrase{} everywhere.",
            if operator_terms == 1 { "" } else { "s" },
            if operator_terms == 1 { "" } else { "s" }
        );
    }
    text.trim_end().to_owned()
}

pub fn mod_log_set(channel: ChannelId) -> String {
    format!("Done: <#{channel}> is now the mod log. I posted a first line there.")
}

pub const MOD_LOG_OFF: &str = "Done: there is no mod log any more.";

/// Why a channel cannot be the mod log.
pub fn mod_log_unusable(channel: ChannelId, e: &ChatError) -> String {
    match e {
        ChatError::MissingPermission => format!(
            "I can't post in <#{channel}> (I need **View Channels** and **Send Messages** there), so it isn't the mod log. Grant them and try again."
        ),
        _ => format!("I couldn't post in <#{channel}>, so it isn't the mod log. Please try again in a moment."),
    }
}

fn job_state_words(state: &JobState) -> &'static str {
    match state {
        JobState::Accepted | JobState::Queued => "🕒 waiting",
        JobState::Submitting | JobState::Running { .. } => "🎞️ rendering",
        JobState::Delivering { .. } => "📥 posting",
        JobState::Failing { .. } | JobState::Failed { .. } => "❌ ending",
        JobState::Delivered { .. } => "✅ done",
    }
}

/// The server's jobs in flight, one line each (to be paginated).
pub fn server_jobs(jobs: &[Job]) -> String {
    if jobs.is_empty() {
        return "Nothing is waiting or rendering in this server right now.".to_owned();
    }
    let rendering = jobs
        .iter()
        .filter(|j| matches!(j.state, JobState::Submitting | JobState::Running { .. }))
        .count();
    let mut text = format!(
        "**Clips in flight in this server:** {} ({rendering} rendering)\n",
        jobs.len()
    );
    for job in jobs {
        let link = job_link(job).map_or_else(
            || " · (answered privately)".to_owned(),
            |l| format!(" · {l}"),
        );
        let _ = writeln!(
            text,
            "• {} · <@{}> in <#{}> · “{}”{link}",
            job_state_words(&job.state),
            job.user,
            job.channel,
            one_line(job.request.prompt(), 80)
        );
    }
    text.trim_end().to_owned()
}

#[cfg(test)]
mod tests;
