//! Who may start now: the waiting line in front of PixelDojo (plain Rust, no I/O).
//!
//! Two rules decide it. A user has at most `limit` jobs running at once; more wait in order of
//! arrival. A follow-up in a conversation waits until every earlier job of that conversation has
//! ended, so that it iterates on the clip that results. An earlier job still opening its
//! conversation may be opening this very one (a reply can arrive the moment a thread appears), so
//! a follow-up waits for it to be placed too; opening takes milliseconds.

use super::ids::{ConversationId, JobId, UserId};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Not yet in the line (its conversation is being opened).
    Opening,
    /// In the line.
    Queued,
    /// Sent, or being sent, to PixelDojo, or being delivered.
    Active,
    /// Ended.
    Done,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub id: JobId,
    pub user: UserId,
    /// The conversation a follow-up belongs to; `None` for a job that opened its own.
    pub follows_in: Option<ConversationId>,
    /// The conversation the job posts into, once known.
    pub conversation: Option<ConversationId>,
    pub phase: Phase,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Go,
    /// Waiting for the user's running jobs; `position` 1 is next.
    BehindUser {
        position: usize,
    },
    /// Waiting for an earlier job in the same conversation.
    BehindConversation,
}

/// Whether `me` may start, given every job the tracker knows (including `me`).
pub fn verdict(me: &Entry, all: &[Entry], user_limit: usize) -> Verdict {
    if let Some(conversation) = me.follows_in {
        let earlier_open = all.iter().any(|e| {
            e.id < me.id
                && e.phase != Phase::Done
                && (e.conversation == Some(conversation)
                    || e.follows_in == Some(conversation)
                    || (e.phase == Phase::Opening && e.conversation.is_none()))
        });
        if earlier_open {
            return Verdict::BehindConversation;
        }
    }
    let active = all
        .iter()
        .filter(|e| e.user == me.user && e.phase == Phase::Active && e.id != me.id)
        .count();
    let ahead = all
        .iter()
        .filter(|e| e.user == me.user && e.phase == Phase::Queued && e.id < me.id)
        .count();
    if active + ahead < user_limit {
        Verdict::Go
    } else {
        Verdict::BehindUser {
            position: active + ahead + 1 - user_limit,
        }
    }
}

/// Where a new job lands in its user's line, given how many of the user's jobs were running or
/// waiting before it: `None` when it starts at once, `Some(1)` when it is next.
pub fn position_on_arrival(before: usize, user_limit: usize) -> Option<usize> {
    (before >= user_limit).then(|| before + 1 - user_limit)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(id: u64, user: u64, phase: Phase) -> Entry {
        Entry {
            id: JobId(id),
            user: UserId(user),
            follows_in: None,
            conversation: Some(c(1000 + id)),
            phase,
        }
    }

    fn c(id: u64) -> ConversationId {
        ConversationId(crate::domain::ids::ChannelId(id))
    }

    #[test]
    fn a_new_job_is_told_its_place_in_the_line() {
        assert_eq!(position_on_arrival(0, 2), None);
        assert_eq!(position_on_arrival(1, 2), None);
        assert_eq!(position_on_arrival(2, 2), Some(1));
        assert_eq!(position_on_arrival(4, 2), Some(3));
    }

    #[test]
    fn a_user_under_the_limit_goes_at_once() {
        let all = [e(1, 7, Phase::Active), e(2, 7, Phase::Queued)];
        assert_eq!(verdict(&all[1], &all, 2), Verdict::Go);
    }

    #[test]
    fn a_user_at_the_limit_waits_in_order_of_arrival() {
        let all = [
            e(1, 7, Phase::Active),
            e(2, 7, Phase::Active),
            e(3, 7, Phase::Queued),
            e(4, 7, Phase::Queued),
            e(5, 8, Phase::Queued),
        ];
        assert_eq!(
            verdict(&all[2], &all, 2),
            Verdict::BehindUser { position: 1 }
        );
        assert_eq!(
            verdict(&all[3], &all, 2),
            Verdict::BehindUser { position: 2 }
        );
        assert_eq!(
            verdict(&all[4], &all, 2),
            Verdict::Go,
            "other users are not held up"
        );
    }

    #[test]
    fn a_limit_of_zero_holds_everything() {
        let all = [e(1, 7, Phase::Queued)];
        assert!(matches!(
            verdict(&all[0], &all, 0),
            Verdict::BehindUser { .. }
        ));
    }

    #[test]
    fn a_follow_up_waits_for_the_clip_rendering_in_its_conversation() {
        let mut first = e(1, 7, Phase::Active);
        first.conversation = Some(c(50));
        let mut reply = e(2, 9, Phase::Queued);
        reply.follows_in = Some(c(50));
        reply.conversation = Some(c(50));
        let all = [first.clone(), reply.clone()];
        assert_eq!(verdict(&reply, &all, 2), Verdict::BehindConversation);
        first.phase = Phase::Done;
        assert_eq!(verdict(&reply, &[first, reply.clone()], 2), Verdict::Go);
    }

    #[test]
    fn follow_ups_in_one_conversation_run_one_after_another() {
        let mut a = e(1, 7, Phase::Queued);
        a.follows_in = Some(c(50));
        a.conversation = Some(c(50));
        let mut b = e(2, 7, Phase::Queued);
        b.follows_in = Some(c(50));
        b.conversation = Some(c(50));
        let all = [a.clone(), b.clone()];
        assert_eq!(verdict(&a, &all, 5), Verdict::Go);
        assert_eq!(verdict(&b, &all, 5), Verdict::BehindConversation);
    }

    #[test]
    fn a_follow_up_waits_for_an_earlier_job_still_opening_its_conversation() {
        let mut opening = e(1, 7, Phase::Opening);
        opening.conversation = None;
        let mut reply = e(2, 9, Phase::Queued);
        reply.follows_in = Some(c(50));
        reply.conversation = Some(c(50));
        let all = [opening.clone(), reply.clone()];
        assert_eq!(verdict(&reply, &all, 2), Verdict::BehindConversation);
        // Once placed elsewhere it no longer holds the follow-up up.
        opening.phase = Phase::Queued;
        opening.conversation = Some(c(60));
        assert_eq!(verdict(&reply, &[opening, reply.clone()], 2), Verdict::Go);
        // A job that is not a follow-up never waits for it.
        let mut fresh = e(3, 9, Phase::Queued);
        fresh.conversation = None;
        let mut opening = e(1, 7, Phase::Opening);
        opening.conversation = None;
        assert_eq!(verdict(&fresh, &[opening, fresh.clone()], 2), Verdict::Go);
    }
}
