//! `discord.shards`: which of the bot's Discord shards this process connects, as
//! `"FIRST-LAST/TOTAL"` (`"0-3/8"`) or `"N/TOTAL"` (`"2/8"`, one shard). Absent: the one and only
//! shard, as a bot in fewer than 2,500 servers needs.

use std::fmt;

/// Shards `first..=last` of `total`, checked: `first <= last < total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardRange {
    pub first: u32,
    pub last: u32,
    pub total: u32,
}

impl ShardRange {
    /// Reads `"FIRST-LAST/TOTAL"` or `"N/TOTAL"`; the error is one sentence saying how to fix it.
    pub fn parse(text: &str) -> Result<Self, String> {
        let form = || {
            format!(
                "`discord.shards` is {text:?} but must look like \"0-3/8\" (shards 0 to 3 of 8) or \"2/8\" (shard 2 of 8)."
            )
        };
        let number = |s: &str| -> Result<u32, String> {
            let s = s.trim();
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                return Err(form());
            }
            s.parse().map_err(|_| form())
        };
        let (range, total) = text.split_once('/').ok_or_else(form)?;
        let (first, last) = match range.split_once('-') {
            Some((first, last)) => (number(first)?, number(last)?),
            None => {
                let n = number(range)?;
                (n, n)
            }
        };
        let total = number(total)?;
        if total == 0 {
            return Err(
                "`discord.shards` needs a total of at least 1 after the `/`, as in \"0/1\"."
                    .to_owned(),
            );
        }
        let highest = first.max(last);
        if highest >= total {
            return Err(format!(
                "`discord.shards` names shard {highest}, but {total} shards are numbered 0 to {}: raise the total or lower the shard.",
                total - 1
            ));
        }
        if first > last {
            return Err(format!(
                "`discord.shards` starts after it ends ({first} > {last}): write the lower shard first, as in \"{last}-{first}/{total}\"."
            ));
        }
        Ok(Self { first, last, total })
    }

    /// How many shards this process connects.
    pub fn count(&self) -> u32 {
        self.last - self.first + 1
    }

    /// Whether shard `id` is in the range.
    pub fn contains(&self, id: u32) -> bool {
        (self.first..=self.last).contains(&id)
    }
}

impl fmt::Display for ShardRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.first == self.last {
            write!(f, "{}/{}", self.first, self.total)
        } else {
            write!(f, "{}-{}/{}", self.first, self.last, self.total)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::load_minimal as load;
    use super::ShardRange;

    fn range(first: u32, last: u32, total: u32) -> ShardRange {
        ShardRange { first, last, total }
    }

    #[test]
    fn ranges_and_single_shards_are_read() {
        assert_eq!(ShardRange::parse("0-3/8"), Ok(range(0, 3, 8)));
        assert_eq!(ShardRange::parse("4-7/8"), Ok(range(4, 7, 8)));
        assert_eq!(ShardRange::parse("2/8"), Ok(range(2, 2, 8)));
        assert_eq!(ShardRange::parse("0/1"), Ok(range(0, 0, 1)));
        assert_eq!(ShardRange::parse("1-1/2"), Ok(range(1, 1, 2)));
        assert_eq!(ShardRange::parse(" 0 - 15 / 16 "), Ok(range(0, 15, 16)));
        let r = ShardRange::parse("4-7/8").unwrap();
        assert_eq!((r.count(), r.contains(4), r.contains(7)), (4, true, true));
        assert!(!r.contains(3) && !r.contains(8));
        assert_eq!(r.to_string(), "4-7/8");
        assert_eq!(ShardRange::parse("2/8").unwrap().to_string(), "2/8");
    }

    #[test]
    fn a_malformed_value_shows_both_forms() {
        for bad in [
            "",
            "3",
            "0-3",
            "/8",
            "0-/8",
            "-3/8",
            "0-3/",
            "a-b/c",
            "0-3/8/9",
            "1.5/2",
            "+1/2",
            "0-3-5/8",
            "99999999999/2",
        ] {
            let e = ShardRange::parse(bad).unwrap_err();
            assert!(
                e.contains("discord.shards") && e.contains("\"0-3/8\"") && e.contains("\"2/8\""),
                "{bad:?}: {e}"
            );
        }
    }

    #[test]
    fn a_total_of_zero_is_refused() {
        let e = ShardRange::parse("0/0").unwrap_err();
        assert!(e.contains("at least 1"), "{e}");
    }

    #[test]
    fn a_range_that_starts_after_it_ends_is_refused_with_the_fix() {
        let e = ShardRange::parse("5-3/8").unwrap_err();
        assert!(e.contains("5 > 3") && e.contains("\"3-5/8\""), "{e}");
    }

    #[test]
    fn a_shard_beyond_the_total_is_refused() {
        let e = ShardRange::parse("4-8/8").unwrap_err();
        assert!(e.contains("shard 8") && e.contains("0 to 7"), "{e}");
        let e = ShardRange::parse("2/2").unwrap_err();
        assert!(e.contains("shard 2") && e.contains("0 to 1"), "{e}");
        let e = ShardRange::parse("9-3/8").unwrap_err();
        assert!(e.contains("shard 9") && e.contains("0 to 7"), "{e}");
    }

    #[test]
    fn the_key_is_optional_and_checked_at_load() {
        assert_eq!(load("").unwrap().discord.shard_range(), None);
        let c = load_discord("shards = \"0-3/8\"\n").unwrap();
        assert_eq!(c.discord.shard_range(), Some(range(0, 3, 8)));
        let e = load_discord("shards = \"3/3\"\n").unwrap_err();
        assert!(
            e.starts_with("config.toml: `discord.shards`") && e.contains("0 to 2"),
            "{e}"
        );
        let e = load_discord("shards = 2\n").unwrap_err();
        assert!(e.contains("discord.shards"), "{e}");
    }

    /// A config whose `[discord]` section has `extra` lines too.
    fn load_discord(extra: &str) -> Result<crate::config::Config, String> {
        let text = format!("[discord]\ntoken = \"t\"\n{extra}[pixeldojo]\napi_key = \"k\"\n");
        crate::config::Config::from_toml(&text, |_| None, "config.toml").map_err(|e| e.to_string())
    }
}
