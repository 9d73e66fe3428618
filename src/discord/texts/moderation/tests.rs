use super::*;
use crate::domain::ids::ConversationId;
use crate::domain::job::Place;
use crate::domain::moderation::Term;
use crate::store::test_support::job;

fn placed(in_thread: bool, conversation: u64) -> Job {
    let mut j = job(7, JobState::Queued);
    j.place = Some(Place {
        conversation: ConversationId(ChannelId(conversation)),
        status_message: Some(MessageId(50)),
        progress_message: Some(MessageId(if in_thread { 51 } else { 50 })),
        in_thread,
    });
    j
}

#[test]
fn a_job_links_to_its_status_message_in_the_server_and_never_to_a_private_one() {
    assert_eq!(
        jump_link(Some(GuildId(1)), ChannelId(2), MessageId(3)),
        "https://discord.com/channels/1/2/3"
    );
    assert_eq!(
        jump_link(None, ChannelId(2), MessageId(3)),
        "https://discord.com/channels/@me/2/3"
    );
    // In a thread: the status message in the channel (the job's channel is 2).
    assert_eq!(
        job_link(&placed(true, 50)).as_deref(),
        Some("https://discord.com/channels/1/2/50")
    );
    // In place, in the channel itself.
    assert_eq!(
        job_link(&placed(false, 2)).as_deref(),
        Some("https://discord.com/channels/1/2/50")
    );
    // Answered in the requester's direct messages: nothing for moderators to open.
    assert_eq!(job_link(&placed(false, 99)), None);
    assert_eq!(job_link(&job(7, JobState::Accepted)), None);
}

#[test]
fn the_mod_log_says_who_where_what_and_links_to_it() {
    let line = mod_log_clip(&placed(true, 50));
    assert!(line.contains("<@3>") && line.contains("<#2>"), "{line}");
    assert!(line.contains("“waves”"), "{line}");
    assert!(
        line.ends_with("https://discord.com/channels/1/2/50"),
        "{line}"
    );
    let refusal = mod_log_refusal(UserId(3), ChannelId(2), "a || b", RuleOwner::Server);
    assert!(refusal.contains("||a ¦¦ b||"), "{refusal}");
    assert!(refusal.contains("this server's prompt rules"), "{refusal}");
}

#[test]
fn a_refused_prompt_is_told_without_the_matched_words_and_says_nothing_was_charged() {
    for owner in [RuleOwner::Server, RuleOwner::Operator] {
        let text = prompt_refused(owner);
        assert!(text.contains("Nothing was charged"), "{text}");
        assert!(text.contains("word or phrase"), "{text}");
    }
}

#[test]
fn the_acknowledgement_names_the_missing_permission_and_what_happens_instead() {
    let usual = Delivery {
        posting: Posting::Thread,
        files: Files::Attach,
    };
    assert!(delivery_notes(&usual).is_empty());
    let notes = delivery_notes(&Delivery {
        posting: Posting::InPlace {
            missing: Some(Permission::CreatePublicThreads),
        },
        files: Files::Link {
            missing: Permission::AttachFiles,
        },
    });
    assert_eq!(notes.len(), 2);
    assert!(notes[0].contains("**Create Public Threads**") && notes[0].contains("in this channel"));
    assert!(notes[1].contains("**Attach Files**") && notes[1].contains("link"));
    let private = delivery_notes(&Delivery {
        posting: Posting::Privately {
            missing: Permission::SendMessages,
        },
        files: Files::Attach,
    });
    assert!(private[0].contains("**Send Messages**") && private[0].contains("direct message"));
    assert!(cannot_post(Permission::SendMessages, true).contains("Nothing was charged"));
    let tip = permission_tip(ChannelId(9), Permission::AttachFiles);
    assert!(tip.contains("<#9>") && tip.contains("**Attach Files**") && tip.contains("link"));
    assert!(!tip.contains("<@"), "no ping in a tip: {tip}");
}

#[test]
fn the_rules_list_shows_the_servers_rules_and_only_counts_the_owners() {
    let mut settings = ModerationSettings::default();
    assert!(rules_list(&settings, 0).contains("none in this server"));
    settings
        .blocked_terms
        .insert(Term::parse("Red Fox").unwrap());
    let text = rules_list(&settings, 2);
    assert!(text.contains("• red fox"), "{text}");
    assert!(text.contains("refuses 2 words or phrases"), "{text}");
    assert!(rule_problem(RuleProblem::Invalid(TermError::NoWords)).contains("letter or digit"));
}

#[test]
fn the_jobs_list_says_what_each_job_is_doing() {
    assert!(server_jobs(&[]).contains("Nothing is waiting"));
    let mut rendering = placed(true, 50);
    rendering.state = JobState::Submitting;
    let text = server_jobs(&[placed(false, 2), rendering, placed(false, 99)]);
    assert!(text.contains("3 (1 rendering)"), "{text}");
    assert!(
        text.contains("🕒 waiting") && text.contains("🎞️ rendering"),
        "{text}"
    );
    assert!(text.contains("(answered privately)"), "{text}");
}
