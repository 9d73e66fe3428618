use super::*;
use crate::domain::ids::{GuildId, JobId, MessageId, RoleId};
use crate::domain::quota::Limits;
use crate::store::Clip;

fn limits(daily: u32) -> Effective {
    Effective {
        limits: Limits {
            user_daily_videos: daily,
            guild_daily_videos: 50,
            user_concurrent_jobs: 2,
            guild_monthly_credits: 0,
            global_daily_credits: 0,
        },
        daily_source: AllowanceSource::Role(RoleId(77)),
    }
}

fn window() -> Window {
    Window::at(chrono::Utc::now(), chrono_tz::UTC)
}

#[test]
fn help_names_the_commands_how_to_continue_and_the_callers_caps_here() {
    let (e, w) = (limits(5), window());
    let used = Usage {
        user_day_videos: 2,
        guild_day_videos: 9,
        ..Usage::default()
    };
    let text = help(&HelpCaps {
        effective: &e,
        used: &used,
        window: &w,
        in_server: true,
        dms_allowed: true,
    });
    for needle in [
        "/omni prompt",
        "/omni-history",
        "/omni-admin",
        "Animate with Omni",
        "reply to an earlier clip",
        "**3 of 5 clips** left today, from your <@&77> role",
        "9 of 50",
    ] {
        assert!(text.contains(needle), "{needle} missing in {text}");
    }
    assert!(text.chars().count() <= CONTENT_MAX);
    for jargon in ["user_daily_videos", "_videos", "credits"] {
        assert!(!text.contains(jargon), "{jargon} in {text}");
    }
    let off = help(&HelpCaps {
        effective: &e,
        used: &used,
        window: &w,
        in_server: false,
        dms_allowed: false,
    });
    assert!(
        off.contains("I don't make clips in direct messages"),
        "{off}"
    );
    let blocked = limits(0);
    let text = help(&HelpCaps {
        effective: &blocked,
        used: &used,
        window: &w,
        in_server: true,
        dms_allowed: true,
    });
    assert!(text.contains("allowance is 0"), "{text}");
}

#[test]
fn the_welcome_says_what_is_missing_or_that_all_is_well() {
    let ok = welcome(ChannelId(5), &[], &[], 5);
    assert!(ok.contains("✅ I have every permission I need"), "{ok}");
    assert!(
        ok.contains("/omni-admin set") && ok.contains("5 clips a day"),
        "{ok}"
    );
    let missing = welcome(
        ChannelId(5),
        &[Permission::AttachFiles],
        &[Permission::CreatePublicThreads],
        1,
    );
    assert!(
        missing.contains("In <#5> I'm missing **Attach Files**"),
        "{missing}"
    );
    assert!(
        missing.contains("My role is missing **Create Public Threads**"),
        "{missing}"
    );
    assert!(missing.contains("1 clip a day"), "{missing}");
}

#[test]
fn a_history_page_lists_labels_prompts_and_links_and_says_where_it_is() {
    let clip = |n: u64| Clip {
        job: JobId(n),
        guild: Some(GuildId(1)),
        user: UserId(3),
        channel: ChannelId(4),
        message: MessageId(n * 10),
        label: format!("v{n}"),
        prompt: format!("a fox\nnumber {n}"),
        at_ms: 1_700_000_000_000,
        private: false,
    };
    let page = Page {
        clips: vec![clip(2), clip(1)],
        total: 12,
    };
    let text = history_page(&page, 1, None, true);
    assert!(
        text.starts_with("**Your clips in this server** (12 clips, page 2 of 2"),
        "{text}"
    );
    assert!(
        text.contains(
            "• **v2** · “a fox number 2” · <t:1700000000:R> · https://discord.com/channels/1/4/20"
        ),
        "{text}"
    );
    let theirs = history_page(&page, 0, Some(UserId(3)), true);
    assert!(theirs.starts_with("**<@3>'s clips"), "{theirs}");
    let empty = history_page(&Page::default(), 0, None, false);
    assert!(empty.contains("in direct messages"), "{empty}");
}

#[test]
fn long_answers_are_split_at_line_ends_into_pages_that_fit() {
    let text: String = (0..300)
        .map(|i| format!("line {i} with some words\n"))
        .collect();
    let pages = paginate(&text, 2000);
    assert!(pages.len() > 1);
    for p in &pages {
        assert!(p.chars().count() <= 2000, "{}", p.len());
    }
    assert_eq!(pages.join("\n"), text.trim_end());
    assert_eq!(paginate("short", 2000), vec!["short".to_owned()]);
    let long_line = "x".repeat(3000);
    assert!(paginate(&long_line, 2000)[0].chars().count() <= 2000);
    // A line longer than a page is split at spaces, and nothing is lost.
    let words: Vec<String> = (0..500).map(|i| format!("<@{i}> 3/day,")).collect();
    let one_line = words.join(" ");
    let pages = paginate(&one_line, 2000);
    assert!(pages.len() > 2);
    assert!(pages.iter().all(|p| p.chars().count() <= 2000));
    assert_eq!(pages.join(" "), one_line);
}
