//! Version labels for the clips of one conversation (plain Rust, no I/O).
//!
//! A conversation is a tree of clips. A clip made from scratch is a new root (`v1`, then `v2`
//! for a second root such as a re-roll). Continuing the newest clip of a line moves the line on
//! (`v1` → `v2`, `v2.1` → `v2.2`); continuing a clip that already has a continuation branches
//! from it (`v1` with `v2` after it → `v1.1`, then `v1.2`). Labels are never reused.

use super::ids::JobId;

/// One labelled clip: its job, its label and the job it continued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Labelled<'a> {
    pub job_id: JobId,
    pub label: &'a str,
    pub parent: Option<JobId>,
}

/// The label for a new clip continuing `parent` (or a new root when `None`).
pub fn next_label(existing: &[Labelled<'_>], parent: Option<JobId>) -> String {
    let taken = |l: &str| existing.iter().any(|e| e.label == l);
    let parent_label = parent.and_then(|p| existing.iter().find(|e| e.job_id == p));
    match parent_label {
        None => {
            let mut n = existing.iter().filter(|e| !e.label.contains('.')).count() + 1;
            loop {
                let label = format!("v{n}");
                if !taken(&label) {
                    return label;
                }
                n += 1;
            }
        }
        Some(p) => {
            let has_children = existing.iter().any(|e| e.parent == Some(p.job_id));
            if !has_children {
                // Move the line on: bump the last number of the parent's label.
                if let Some(label) = bump(p.label).filter(|l| !taken(l)) {
                    return label;
                }
            }
            let mut k = 1;
            loop {
                let label = format!("{}.{k}", p.label);
                if !taken(&label) {
                    return label;
                }
                k += 1;
            }
        }
    }
}

fn bump(label: &str) -> Option<String> {
    let (head, last) = match label.rsplit_once('.') {
        Some((head, last)) => (format!("{head}."), last),
        None => ("v".to_owned(), label.strip_prefix('v')?),
    };
    let n: u64 = last.parse().ok()?;
    Some(format!("{head}{}", n + 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(job_id: u64, label: &str, parent: Option<u64>) -> Labelled<'_> {
        Labelled {
            job_id: JobId(job_id),
            label,
            parent: parent.map(JobId),
        }
    }

    #[test]
    fn the_first_clip_is_v1_and_a_continuation_is_v2() {
        assert_eq!(next_label(&[], None), "v1");
        assert_eq!(next_label(&[l(1, "v1", None)], Some(JobId(1))), "v2");
    }

    #[test]
    fn continuing_an_earlier_clip_branches_from_it() {
        let clips = [l(1, "v1", None), l(2, "v2", Some(1))];
        assert_eq!(next_label(&clips, Some(JobId(1))), "v1.1");
        let clips = [l(1, "v1", None), l(2, "v2", Some(1)), l(3, "v1.1", Some(1))];
        assert_eq!(next_label(&clips, Some(JobId(1))), "v1.2");
    }

    #[test]
    fn a_branch_moves_on_along_its_own_line() {
        let clips = [l(1, "v1", None), l(2, "v2", Some(1)), l(3, "v1.1", Some(1))];
        assert_eq!(next_label(&clips, Some(JobId(3))), "v1.2");
        let clips = [
            l(1, "v1", None),
            l(2, "v2", Some(1)),
            l(3, "v2.1", Some(2)),
            l(4, "v3", Some(2)),
        ];
        assert_eq!(next_label(&clips, Some(JobId(3))), "v2.2");
    }

    #[test]
    fn a_second_root_gets_the_next_free_number() {
        let clips = [l(1, "v1", None), l(2, "v2", Some(1))];
        assert_eq!(next_label(&clips, None), "v3");
    }

    #[test]
    fn labels_are_never_reused() {
        let clips = [
            l(1, "v1", None),
            l(2, "v2", Some(1)),
            l(3, "v2.1", Some(2)),
            l(4, "v2.2", Some(3)),
            l(5, "v3", Some(2)),
        ];
        // v2 already has children: a new branch from it skips the taken v2.1 and v2.2.
        assert_eq!(next_label(&clips, Some(JobId(2))), "v2.3");
    }
}
