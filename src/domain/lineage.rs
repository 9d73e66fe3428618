//! Where a clip comes from and what it looks like (plain Rust, no I/O).
//!
//! A continuation sends PixelDojo only its own prompt and the `video_id` of its parent: the
//! vendor keeps the parent's frame and length. The bot keeps the rest as a [`Lineage`]: every
//! prompt and input from the root of the line to the parent, and the root's shape. It tells the
//! header the clip's real aspect ratio and length, and lets the other aspect ratio start the
//! whole line over as one new clip. [`MadeFrom`] says which button made a clip, for its label.

use serde::{Deserialize, Serialize};

use super::ids::JobId;
use super::request::{
    AspectRatio, GenerationRequest, OutputFormat, RequestError, MAX_PROMPT_CHARS, MAX_REFERENCES,
    MAX_REFERENCES_WITH_VIDEO,
};

/// The length PixelDojo gives a clip when none is asked for.
pub const DEFAULT_DURATION: u8 = 8;

/// A clip's frame: an aspect ratio, or the source video's own for an edit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Frame {
    Aspect(AspectRatio),
    /// An edit: the output matches the source video.
    SourceVideo,
}

/// What a clip looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// `None` when it is not known (a continuation whose parent is not known yet).
    pub frame: Option<Frame>,
    /// Seconds; `None` when it is not known.
    pub duration: Option<u8>,
    pub format: OutputFormat,
    pub seed: Option<i64>,
}

/// A new clip made by a button from an earlier clip (a continuation's origin is its parent).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MadeFrom {
    /// The same request with a new seed.
    Reroll(JobId),
    /// The same prompts and inputs in the other aspect ratio.
    Flip(JobId),
}

/// The line a continuation belongs to, up to and including its parent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lineage {
    /// Every prompt from the root to the parent, oldest first.
    pub prompts: Vec<String>,
    /// The root's start frame.
    pub image: Option<String>,
    /// The reference images along the line, without repeats.
    pub references: Vec<String>,
    /// The root's source video, for a line that started as an edit.
    pub video: Option<String>,
    /// The root's aspect ratio (none asked: 16:9).
    pub aspect: Option<AspectRatio>,
    /// The root's length (none asked: the vendor's default).
    pub duration: Option<u8>,
    /// The parent's container.
    pub format: Option<OutputFormat>,
}

impl Lineage {
    /// The line a clip continuing `parent` belongs to: the parent's own line (if it is a
    /// continuation) with the parent added.
    pub fn continuing(parent: &GenerationRequest, parent_line: Option<&Lineage>) -> Self {
        let r = parent;
        let mut line = match parent_line {
            Some(l) => l.clone(),
            None => Lineage {
                prompts: Vec::new(),
                image: r.image().map(str::to_owned),
                references: Vec::new(),
                video: r.video().map(str::to_owned),
                aspect: r.aspect_ratio(),
                duration: r.duration(),
                format: None,
            },
        };
        line.prompts.push(r.prompt().to_owned());
        for reference in r.references() {
            if !line.references.contains(reference) {
                line.references.push(reference.clone());
            }
        }
        line.format = r.format_choice().or(line.format);
        line
    }

    /// The shape of a clip continuing this line with `request`.
    pub fn shape(&self, request: &GenerationRequest) -> Shape {
        Shape {
            frame: Some(match (&self.video, self.aspect) {
                (Some(_), _) => Frame::SourceVideo,
                (None, aspect) => Frame::Aspect(aspect.unwrap_or(AspectRatio::Landscape)),
            }),
            duration: Some(self.duration.unwrap_or(DEFAULT_DURATION)),
            format: request
                .format_choice()
                .or(self.format)
                .unwrap_or(OutputFormat::Mp4),
            seed: request.seed(),
        }
    }

    /// The whole line, ending with `request` (the clip itself), as one new clip in `aspect`:
    /// its prompts joined, its inputs, the root's length, the clip's seed and container.
    pub fn as_new_clip(
        &self,
        request: &GenerationRequest,
        aspect: AspectRatio,
    ) -> Result<GenerationRequest, RequestError> {
        let mut prompts = self.prompts.clone();
        prompts.push(request.prompt().to_owned());
        let prompt = join_prompts(&prompts);
        let len = prompt.chars().count();
        if len > MAX_PROMPT_CHARS {
            return Err(RequestError::PromptTooLong { len });
        }
        let mut references = self.references.clone();
        for reference in request.references() {
            if !references.contains(reference) {
                references.push(reference.clone());
            }
        }
        let max = if self.video.is_some() {
            MAX_REFERENCES_WITH_VIDEO
        } else {
            MAX_REFERENCES
        };
        // The newest references say most about what the line became.
        let skip = references.len().saturating_sub(max);
        Ok(GenerationRequest::from_parts(
            prompt,
            Some(aspect),
            self.duration,
            self.image.clone(),
            references.split_off(skip),
            self.video.clone(),
            request.seed(),
            request.format_choice().or(self.format),
        ))
    }
}

/// The shape of a clip made from scratch (not a continuation).
pub fn shape_of(request: &GenerationRequest) -> Shape {
    Shape {
        frame: Some(match request.video() {
            Some(_) => Frame::SourceVideo,
            None => Frame::Aspect(request.aspect_ratio().unwrap_or(AspectRatio::Landscape)),
        }),
        duration: Some(request.duration().unwrap_or(DEFAULT_DURATION)),
        format: request.format(),
        seed: request.seed(),
    }
}

/// Prompts of a line as one: each step follows the last after a semicolon.
pub fn join_prompts(prompts: &[String]) -> String {
    let mut out = String::new();
    for p in prompts {
        let p = p.trim();
        if p.is_empty() {
            continue;
        }
        if !out.is_empty() {
            let trimmed = out.trim_end_matches(['.', ';', ',', ' ']).len();
            out.truncate(trimmed);
            out.push_str("; ");
        }
        out.push_str(p);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::request::{Draft, InputLimits};

    fn request(prompt: &str, f: impl FnOnce(&mut Draft)) -> GenerationRequest {
        let mut d = Draft {
            prompt: prompt.to_owned(),
            ..Draft::default()
        };
        f(&mut d);
        GenerationRequest::validate(d, &InputLimits::from_megabytes(20, 100)).unwrap()
    }

    fn image(name: &str) -> crate::domain::request::Attachment {
        crate::domain::request::Attachment {
            url: format!("https://cdn.example/{name}"),
            filename: name.to_owned(),
            content_type: Some("image/png".into()),
            size: 1,
        }
    }

    #[test]
    fn a_continuation_keeps_the_roots_frame_length_and_container() {
        let root = request("a harbour", |d| {
            d.aspect_ratio = Some(AspectRatio::Portrait);
            d.duration = Some(5);
            d.format = Some(OutputFormat::Webm);
        });
        let line = Lineage::continuing(&root, None);
        let follow_up = request("at night", |d| d.continues = true).with_seed(7);
        let shape = line.shape(&follow_up);
        assert_eq!(shape.frame, Some(Frame::Aspect(AspectRatio::Portrait)));
        assert_eq!(shape.duration, Some(5));
        assert_eq!(shape.format, OutputFormat::Webm);
        assert_eq!(shape.seed, Some(7));
        // Two steps down, the same.
        let deeper = Lineage::continuing(&follow_up, Some(&line));
        assert_eq!(deeper.prompts, ["a harbour", "at night"]);
        assert_eq!(deeper.shape(&follow_up).frame, shape.frame);
    }

    #[test]
    fn an_edit_matches_its_source_video() {
        let edit = request("in film grain", |d| {
            d.video = Some(crate::domain::request::Attachment {
                url: "https://cdn.example/v.mp4".into(),
                filename: "v.mp4".into(),
                content_type: Some("video/mp4".into()),
                size: 1,
            })
        });
        assert_eq!(shape_of(&edit).frame, Some(Frame::SourceVideo));
        let line = Lineage::continuing(&edit, None);
        let next = request("darker", |d| d.continues = true);
        assert_eq!(line.shape(&next).frame, Some(Frame::SourceVideo));
    }

    #[test]
    fn the_other_aspect_ratio_starts_the_whole_line_over_as_one_clip() {
        let root = request("a harbour.", |d| {
            d.image = Some(image("start.png"));
            d.references = vec![("r1".into(), image("a.png"))];
            d.duration = Some(6);
        });
        let line = Lineage::continuing(&root, None);
        let v2 = request("at night", |d| {
            d.continues = true;
            d.references = vec![("image 1".into(), image("b.png"))];
        })
        .with_seed(9)
        .with_video_id("vid".into());
        let flipped = line.as_new_clip(&v2, AspectRatio::Portrait).unwrap();
        assert_eq!(flipped.prompt(), "a harbour; at night");
        assert_eq!(flipped.video_id(), None);
        assert_eq!(flipped.image(), Some("https://cdn.example/start.png"));
        assert_eq!(
            flipped.references(),
            ["https://cdn.example/a.png", "https://cdn.example/b.png"]
        );
        assert_eq!(flipped.aspect_ratio(), Some(AspectRatio::Portrait));
        assert_eq!(flipped.duration(), Some(6));
        assert_eq!(flipped.seed(), Some(9));
    }

    #[test]
    fn a_line_too_long_to_start_over_is_refused() {
        let long = "x".repeat(1500);
        let line = Lineage::continuing(&request(&long, |_| {}), None);
        let next = request(&long, |d| d.continues = true);
        assert!(matches!(
            line.as_new_clip(&next, AspectRatio::Landscape),
            Err(RequestError::PromptTooLong { .. })
        ));
    }

    #[test]
    fn prompts_join_into_one_sentence_chain() {
        let p = |s: &[&str]| join_prompts(&s.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(p(&["a cat.", "make it jump", " "]), "a cat; make it jump");
        assert_eq!(p(&["one"]), "one");
    }
}
