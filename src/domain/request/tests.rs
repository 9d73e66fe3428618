use super::*;

const LIMITS: InputLimits = InputLimits {
    max_image_bytes: 1000,
    max_video_bytes: 5000,
};

fn file(name: &str, ct: Option<&str>, size: u64) -> Attachment {
    Attachment {
        url: format!("https://cdn.example/{name}"),
        filename: name.to_owned(),
        content_type: ct.map(str::to_owned),
        size,
    }
}

fn draft(prompt: &str) -> Draft {
    Draft {
        prompt: prompt.to_owned(),
        ..Draft::default()
    }
}

#[test]
fn a_plain_prompt_is_accepted_and_trimmed() {
    let r = GenerationRequest::validate(draft("  waves at dusk "), &LIMITS).unwrap();
    assert_eq!(r.prompt(), "waves at dusk");
    assert_eq!(r.format(), OutputFormat::Mp4);
}

#[test]
fn an_empty_or_blank_prompt_is_refused() {
    assert_eq!(
        GenerationRequest::validate(draft("   "), &LIMITS),
        Err(RequestError::EmptyPrompt)
    );
}

#[test]
fn a_too_long_prompt_is_refused() {
    let long = "a".repeat(MAX_PROMPT_CHARS + 1);
    assert!(matches!(
        GenerationRequest::validate(draft(&long), &LIMITS),
        Err(RequestError::PromptTooLong { .. })
    ));
}

#[test]
fn durations_outside_three_to_ten_seconds_are_refused() {
    for (d, ok) in [(2, false), (3, true), (10, true), (11, false)] {
        let mut dr = draft("x");
        dr.duration = Some(d);
        assert_eq!(GenerationRequest::validate(dr, &LIMITS).is_ok(), ok, "{d}");
    }
}

#[test]
fn a_start_frame_that_is_not_an_image_is_refused_with_its_name() {
    let mut d = draft("x");
    d.image = Some(file("notes.pdf", Some("application/pdf"), 10));
    let e = GenerationRequest::validate(d, &LIMITS).unwrap_err();
    assert_eq!(
        e,
        RequestError::NotAnImage {
            option: "image".into(),
            filename: "notes.pdf".into(),
            found: FileKind::Pdf
        }
    );
}

#[test]
fn a_video_option_that_is_not_a_video_is_refused() {
    let mut d = draft("x");
    d.video = Some(file("cat.png", Some("image/png"), 10));
    assert!(matches!(
        GenerationRequest::validate(d, &LIMITS),
        Err(RequestError::NotAVideo { .. })
    ));
}

#[test]
fn the_extension_decides_when_discord_gives_no_content_type() {
    assert_eq!(file("a.JPG", None, 1).kind(), MediaKind::Image);
    assert_eq!(file("a.mov", None, 1).kind(), MediaKind::Video);
    assert_eq!(file("a.txt", None, 1).kind(), MediaKind::Other);
    assert_eq!(
        file("a.png", Some("image/png; charset=x"), 1).kind(),
        MediaKind::Image
    );
}

#[test]
fn oversized_inputs_are_refused_with_both_sizes() {
    let mut d = draft("x");
    d.image = Some(file("big.png", Some("image/png"), 1001));
    let e = GenerationRequest::validate(d, &LIMITS).unwrap_err();
    assert!(matches!(e, RequestError::TooLarge { .. }), "{e:?}");
    let mut d = draft("x");
    d.video = Some(file("big.mp4", Some("video/mp4"), 5001));
    assert!(GenerationRequest::validate(d, &LIMITS).is_err());
}

#[test]
fn more_than_five_references_with_a_video_are_refused_but_five_pass() {
    let refs = |n: usize| {
        (1..=n)
            .map(|i| {
                (
                    format!("reference_{i}"),
                    file(&format!("r{i}.png"), Some("image/png"), 1),
                )
            })
            .collect::<Vec<_>>()
    };
    let mut d = draft("x");
    d.video = Some(file("v.mp4", Some("video/mp4"), 1));
    d.references = refs(6);
    assert_eq!(
        GenerationRequest::validate(d.clone(), &LIMITS),
        Err(RequestError::TooManyReferencesWithVideo { count: 6 })
    );
    d.references = refs(5);
    assert_eq!(
        GenerationRequest::validate(d, &LIMITS)
            .unwrap()
            .references()
            .len(),
        5
    );
    let mut d = draft("x");
    d.references = refs(7);
    assert!(GenerationRequest::validate(d.clone(), &LIMITS).is_ok());
    d.references = refs(8);
    assert!(GenerationRequest::validate(d, &LIMITS).is_err());
}

#[test]
fn a_follow_up_with_too_many_images_is_told_so_and_not_about_a_video() {
    let mut d = draft("x");
    d.continues = true;
    d.references = (1..=6)
        .map(|i| {
            (
                format!("image {i}"),
                file(&format!("r{i}.png"), Some("image/png"), 1),
            )
        })
        .collect();
    assert_eq!(
        GenerationRequest::validate(d, &LIMITS),
        Err(RequestError::TooManyReferencesInFollowUp { count: 6 })
    );
}

#[test]
fn formats_pixeldojo_does_not_take_are_refused_before_sending_and_named() {
    let mut d = draft("x");
    d.image = Some(file("photo.heic", Some("image/heic"), 10));
    assert_eq!(
        GenerationRequest::validate(d, &LIMITS),
        Err(RequestError::NotAnImage {
            option: "image".into(),
            filename: "photo.heic".into(),
            found: FileKind::Heic,
        })
    );
    let mut d = draft("x");
    d.video = Some(file("clip.mkv", Some("video/x-matroska"), 10));
    assert!(matches!(
        GenerationRequest::validate(d, &LIMITS),
        Err(RequestError::NotAVideo {
            found: FileKind::Mkv,
            ..
        })
    ));
    // A video Discord labels generically is still a video, by its name.
    let mut d = draft("x");
    d.video = Some(file("clip.mp4", Some("application/octet-stream"), 10));
    assert!(GenerationRequest::validate(d, &LIMITS).is_ok());
}

#[test]
fn a_reference_that_is_not_an_image_names_its_slot() {
    let mut d = draft("x");
    d.references = vec![("reference_3".into(), file("clip.mp4", Some("video/mp4"), 1))];
    let e = GenerationRequest::validate(d, &LIMITS).unwrap_err();
    assert!(
        matches!(e, RequestError::NotAnImage { ref option, .. } if option == "reference_3"),
        "{e:?}"
    );
}

#[test]
fn a_follow_up_never_carries_a_start_image_a_video_or_a_duration() {
    let mut d = draft("x");
    d.video_id = Some("vid_1".into());
    assert!(GenerationRequest::validate(d.clone(), &LIMITS).is_ok());
    let mut with_image = d.clone();
    with_image.image = Some(file("a.png", Some("image/png"), 1));
    assert!(matches!(
        GenerationRequest::validate(with_image, &LIMITS),
        Err(RequestError::NotWithFollowUp(_))
    ));
    let mut with_duration = d;
    with_duration.duration = Some(5);
    assert!(GenerationRequest::validate(with_duration, &LIMITS).is_err());
    // A follow-up whose id is looked up later obeys the same rules.
    let mut later = draft("x");
    later.continues = true;
    later.video = Some(file("v.mp4", Some("video/mp4"), 1));
    assert!(GenerationRequest::validate(later, &LIMITS).is_err());
}

#[test]
fn attachment_links_are_listed_and_replaced_in_order() {
    let mut d = draft("x");
    d.image = Some(file("a.png", Some("image/png"), 1));
    d.references = vec![("reference_1".into(), file("r.png", Some("image/png"), 1))];
    let r = GenerationRequest::validate(d, &LIMITS).unwrap();
    let urls = r.attachment_urls();
    assert_eq!(urls.len(), 2);
    let fresh = r.with_attachment_urls(&["A".into(), "B".into()]);
    assert_eq!(fresh.image(), Some("A"));
    assert_eq!(fresh.references(), ["B"]);
    assert_eq!(fresh.prompt(), r.prompt());
}

#[test]
fn the_kind_key_groups_requests_by_what_they_render() {
    let mut d = draft("x");
    d.duration = Some(5);
    assert_eq!(
        GenerationRequest::validate(d, &LIMITS).unwrap().kind_key(),
        "t2v-5s"
    );
}
