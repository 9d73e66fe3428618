//! Proves the PixelDojo fake behaves as the vendor page documents, talking to it with plain
//! reqwest (not the bot's client), so the end-to-end tests can trust it.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::fake_pixeldojo::{
    Endpoint, FailedCharge, FakePixelDojo, Fault, HeaderText, JobScript, Outcome, VideoIdPlacement,
    API_KEY, MODEL, NO_RESPONSE,
};

struct Answer {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    json: Value,
}

fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap()
}

async fn read(response: reqwest::Response) -> Answer {
    let status = response.status();
    let headers = response.headers().clone();
    let text = response.text().await.unwrap();
    let json = serde_json::from_str(&text).unwrap_or(Value::String(text));
    Answer {
        status,
        headers,
        json,
    }
}

async fn submit_with(fake: &FakePixelDojo, key: Option<&str>, model: &str, body: Value) -> Answer {
    let mut request = http()
        .post(format!("{}/models/{model}/run", fake.base_url()))
        .json(&body);
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    read(request.send().await.unwrap()).await
}

async fn submit(fake: &FakePixelDojo, body: Value) -> Answer {
    submit_with(fake, Some(API_KEY), MODEL, body).await
}

async fn poll(fake: &FakePixelDojo, job_id: &str) -> Answer {
    let response = http()
        .get(format!("{}/jobs/{job_id}", fake.base_url()))
        .bearer_auth(API_KEY)
        .send()
        .await
        .unwrap();
    read(response).await
}

fn code(answer: &Answer) -> &str {
    answer.json["error"]["code"].as_str().unwrap_or("<none>")
}

fn job_id(answer: &Answer) -> String {
    answer.json["jobId"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn fake_pixeldojo_requires_the_bearer_key_on_every_api_route_but_not_on_files() {
    let fake = FakePixelDojo::start().await;
    let prompt = json!({"prompt": "waves"});

    let missing = submit_with(&fake, None, MODEL, prompt.clone()).await;
    let wrong = submit_with(&fake, Some("pd_wrong"), MODEL, prompt.clone()).await;
    let poll_without_key = read(
        http()
            .get(format!("{}/jobs/job_x", fake.base_url()))
            .send()
            .await
            .unwrap(),
    )
    .await;

    for answer in [&missing, &wrong, &poll_without_key] {
        assert_eq!(answer.status, StatusCode::UNAUTHORIZED);
        assert_eq!(code(answer), "unauthorized");
    }
    assert!(fake.submissions().is_empty());
    assert_eq!(fake.credits(), 10_000);

    fake.set_render_time(Duration::ZERO);
    let accepted = submit(&fake, prompt).await;
    assert_eq!(accepted.status, StatusCode::OK);
    let done = poll(&fake, &job_id(&accepted)).await;
    let video = done.json["output"]["video"].as_str().unwrap();
    let file = http().get(video).send().await.unwrap();
    assert_eq!(file.status(), StatusCode::OK, "files need no key");

    let recorded = fake.requests();
    assert_eq!(recorded[0].authorization, None);
    assert_eq!(
        recorded[1].authorization.as_deref(),
        Some("Bearer pd_wrong")
    );
    assert_eq!(recorded[0].status, 401);
}

#[tokio::test]
async fn fake_pixeldojo_validates_run_requests_like_the_api() {
    let fake = FakePixelDojo::start().await;
    let url = "https://cdn.example/a.png";
    let refs = |n: usize| vec![json!(url); n];
    let rejected = [
        json!({}),
        json!({"prompt": ""}),
        json!({"prompt": "   "}),
        json!({"prompt": 5}),
        json!({"prompt": "p", "duration": 2}),
        json!({"prompt": "p", "duration": 11}),
        json!({"prompt": "p", "duration": 5.5}),
        json!({"prompt": "p", "aspect_ratio": "1:1"}),
        json!({"prompt": "p", "output_format": "gif"}),
        json!({"prompt": "p", "reference_images": refs(8)}),
        json!({"prompt": "p", "reference_images": refs(6), "video": "https://cdn.example/v.mp4"}),
        json!({"prompt": "p", "image": "ftp://cdn.example/a.png"}),
        json!({"prompt": "p", "video": "not a url"}),
        json!({"prompt": "p", "reference_images": ["file:///etc/passwd"]}),
        json!({"prompt": "p", "video_id": "vid_never_made"}),
        json!({"prompt": "p", "seed": "abc"}),
    ];
    for body in rejected {
        let answer = submit(&fake, body.clone()).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{body}");
        assert_eq!(code(&answer), "invalid_request", "{body}");
        assert!(answer.json["error"]["message"].as_str().is_some());
    }
    let not_json = read(
        http()
            .post(format!("{}/models/{MODEL}/run", fake.base_url()))
            .bearer_auth(API_KEY)
            .body("prompt=waves")
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(code(&not_json), "invalid_request");

    let unknown_model = submit_with(
        &fake,
        Some(API_KEY),
        "some-other-model",
        json!({"prompt": "p"}),
    )
    .await;
    assert_eq!(unknown_model.status, StatusCode::NOT_FOUND);
    assert_eq!(code(&unknown_model), "model_not_found");
    assert!(
        fake.submissions().is_empty(),
        "nothing invalid was accepted"
    );

    let accepted = [
        json!({"prompt": "p"}),
        json!({"prompt": "p", "duration": 3, "aspect_ratio": "9:16", "output_format": "webm", "seed": 42}),
        json!({"prompt": "p", "duration": 10, "aspect_ratio": "16:9", "output_format": "mov"}),
        json!({"prompt": "p", "image": url, "reference_images": refs(7)}),
        json!({"prompt": "p", "video": "http://cdn.example/v.mp4", "reference_images": refs(5)}),
    ];
    for body in &accepted {
        let answer = submit(&fake, body.clone()).await;
        assert_eq!(answer.status, StatusCode::OK, "{body}: {}", answer.json);
    }
    assert_eq!(fake.submissions(), accepted.to_vec());
}

#[tokio::test]
async fn fake_pixeldojo_accepts_a_video_id_only_from_its_own_completed_jobs_and_alone() {
    let fake = FakePixelDojo::start().await;
    fake.set_render_time(Duration::ZERO);
    let first = submit(&fake, json!({"prompt": "a cat"})).await;
    let done = poll(&fake, &job_id(&first)).await;
    let vid = done.json["output"]["videoId"].as_str().unwrap().to_owned();
    assert!(vid.starts_with("vid_"));

    for extra in [
        json!({"duration": 5}),
        json!({"image": "https://cdn.example/a.png"}),
        json!({"video": "https://cdn.example/v.mp4"}),
        json!({"reference_images": vec!["https://cdn.example/a.png"; 6]}),
    ] {
        let mut body = json!({"prompt": "now dancing", "video_id": vid});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let answer = submit(&fake, body.clone()).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{body}");
    }
    let follow_up = submit(&fake, json!({"prompt": "now dancing", "video_id": vid, "reference_images": vec!["https://cdn.example/a.png"; 5]})).await;
    assert_eq!(follow_up.status, StatusCode::OK, "{}", follow_up.json);
}

#[tokio::test]
async fn fake_pixeldojo_jobs_go_pending_then_processing_then_completed_on_time() {
    let fake = FakePixelDojo::start().await;
    fake.set_render_time(Duration::from_millis(600));
    let before = Instant::now();

    let accepted = submit(&fake, json!({"prompt": "waves", "output_format": "webm"})).await;
    assert_eq!(accepted.json["status"], "pending");
    assert_eq!(accepted.json["creditCost"], 16);
    assert_eq!(accepted.json["creditsRemaining"], 10_000 - 16);
    let id = job_id(&accepted);
    assert!(id.starts_with("job_"));
    assert_eq!(
        accepted.json["statusUrl"],
        format!("{}/jobs/{id}", fake.base_url())
    );

    assert_eq!(poll(&fake, &id).await.json["status"], "pending");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let middle = poll(&fake, &id).await;
    assert_eq!(middle.json["status"], "processing");
    assert_eq!(middle.json["creditCost"], 16);
    tokio::time::sleep(Duration::from_millis(400)).await;
    let done = poll(&fake, &id).await;
    assert_eq!(done.json["status"], "completed", "{}", done.json);
    assert_eq!(done.json["creditCost"], 16);

    let video = done.json["output"]["video"].as_str().unwrap();
    assert!(video.starts_with("http://127.0.0.1:"));
    assert!(video.ends_with(&format!("/files/{id}.webm")));
    let file = http().get(video).send().await.unwrap();
    assert_eq!(file.headers()["content-type"], "video/webm");
    assert_eq!(file.content_length(), Some(64 * 1024));
    assert_eq!(file.bytes().await.unwrap().to_vec(), fake.video_bytes(&id));

    let job = &fake.jobs()[0];
    assert_eq!(
        job.completes_at - job.created_at,
        Duration::from_millis(600)
    );
    assert!(job.created_at >= before);
    assert_eq!(job.poll_count, 3);
    assert!(job.first_seen_completed_at.unwrap() >= job.completes_at);
    assert_eq!(job.outcome, Outcome::Complete);

    let unknown = poll(&fake, "job_nope").await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(code(&unknown), "not_found");
}

#[tokio::test]
async fn fake_pixeldojo_follows_job_scripts_in_order_and_refunds_failed_jobs() {
    let fake = FakePixelDojo::start().await;
    fake.set_render_time(Duration::from_secs(60));
    fake.script_next_jobs(vec![
        JobScript {
            render_time: Some(Duration::from_millis(100)),
            outcome: Outcome::Fail("content policy violation".into()),
            ..JobScript::default()
        },
        JobScript {
            render_time: Some(Duration::ZERO),
            video_id: VideoIdPlacement::Outputs,
            video_size: Some(1000),
            ..JobScript::default()
        },
        JobScript {
            render_time: Some(Duration::ZERO),
            video_id: VideoIdPlacement::Missing,
            ..JobScript::default()
        },
    ]);

    let failing = job_id(&submit(&fake, json!({"prompt": "a"})).await);
    let outputs = job_id(&submit(&fake, json!({"prompt": "b"})).await);
    let missing = job_id(&submit(&fake, json!({"prompt": "c"})).await);
    let unscripted = job_id(&submit(&fake, json!({"prompt": "d"})).await);
    assert_eq!(fake.credits(), 10_000 - 4 * 16);

    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(
        fake.credits(),
        10_000 - 3 * 16,
        "the failed job was refunded"
    );
    let failed = poll(&fake, &failing).await;
    assert_eq!(failed.json["status"], "failed");
    assert_eq!(failed.json["error"], "content policy violation");
    assert_eq!(failed.json["creditCost"], 16);
    let failed_file = http()
        .get(format!(
            "{}/files/{failing}.mp4",
            fake.base_url().trim_end_matches("/api/v1")
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(failed_file.status(), StatusCode::NOT_FOUND);

    let with_outputs = poll(&fake, &outputs).await.json;
    assert!(with_outputs["outputs"]["videoId"]
        .as_str()
        .unwrap()
        .starts_with("vid_"));
    assert!(with_outputs["output"].get("videoId").is_none());
    assert_eq!(fake.video_bytes(&outputs).len(), 1000);
    let without = poll(&fake, &missing).await.json;
    assert_eq!(without["status"], "completed");
    assert!(without["output"].get("videoId").is_none() && without.get("outputs").is_none());
    assert_eq!(poll(&fake, &unscripted).await.json["status"], "pending");
    assert_eq!(fake.credits(), 10_000 - 3 * 16, "refunded once only");
}

#[tokio::test]
async fn fake_pixeldojo_refuses_jobs_it_cannot_pay_for() {
    let fake = FakePixelDojo::start().await;
    fake.set_credits(20);
    assert_eq!(
        submit(&fake, json!({"prompt": "a"})).await.json["creditsRemaining"],
        4
    );
    let refused = submit(&fake, json!({"prompt": "b"})).await;
    assert_eq!(refused.status, StatusCode::PAYMENT_REQUIRED);
    assert_eq!(code(&refused), "insufficient_credits");
    assert_eq!(fake.submissions().len(), 1);
}

#[tokio::test]
async fn fake_pixeldojo_injects_each_fault_exactly_the_given_number_of_times() {
    let fake = FakePixelDojo::start().await;
    fake.set_render_time(Duration::ZERO);
    fake.inject(Endpoint::Submit, Fault::rate_limited(3), 2);
    fake.inject(Endpoint::Poll, Fault::default(), 1);
    fake.inject(Endpoint::Poll, Fault::MalformedJson, 1);
    fake.inject(Endpoint::Poll, Fault::Delay(Duration::from_millis(300)), 1);
    fake.inject(
        Endpoint::Download,
        Fault::Status {
            status: 503,
            code: "internal_error",
            retry_after: None,
        },
        1,
    );

    for _ in 0..2 {
        let limited = submit(&fake, json!({"prompt": "p"})).await;
        assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(code(&limited), "rate_limited");
        assert_eq!(limited.headers["retry-after"], "3");
    }
    assert!(
        fake.submissions().is_empty(),
        "a status fault has no effect"
    );
    let accepted = submit(&fake, json!({"prompt": "p"})).await;
    assert_eq!(accepted.status, StatusCode::OK);
    let id = job_id(&accepted);

    let internal = poll(&fake, &id).await;
    assert_eq!(internal.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(code(&internal), "internal_error");
    let garbled = poll(&fake, &id).await;
    assert_eq!(garbled.status, StatusCode::OK);
    assert!(garbled.json.is_string(), "not JSON: {:?}", garbled.json);
    let started = Instant::now();
    let slow = poll(&fake, &id).await;
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(slow.json["status"], "completed");
    let normal = poll(&fake, &id).await;
    assert_eq!(normal.json["status"], "completed");
    assert_eq!(
        fake.jobs()[0].poll_count,
        2,
        "faulted polls do not reach the job"
    );

    let video = normal.json["output"]["video"].as_str().unwrap().to_owned();
    assert_eq!(
        http().get(&video).send().await.unwrap().status(),
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(
        http().get(&video).send().await.unwrap().status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn fake_pixeldojo_rate_limit_answers_429_with_retry_after_and_rate_limit_headers() {
    let fake = FakePixelDojo::start().await;
    fake.set_rate_limit(Some(3));
    let id = job_id(&submit(&fake, json!({"prompt": "p"})).await);
    let mut remaining = Vec::new();
    for _ in 0..2 {
        let answer = poll(&fake, &id).await;
        assert_eq!(answer.status, StatusCode::OK);
        assert_eq!(answer.headers["x-ratelimit-limit"], "3");
        remaining.push(
            answer.headers["x-ratelimit-remaining"]
                .to_str()
                .unwrap()
                .to_owned(),
        );
    }
    assert_eq!(remaining, ["1", "0"]);

    let limited = poll(&fake, &id).await;
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(code(&limited), "rate_limited");
    let retry_after: u64 = limited.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((59..=60).contains(&retry_after), "{retry_after}");
    assert_eq!(limited.headers["x-ratelimit-remaining"], "0");
    let reset: u64 = limited.headers["x-ratelimit-reset"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert!(
        reset > now + 50 && reset <= now + 61,
        "a Unix time: {reset}"
    );
    assert_eq!(fake.count_429(), 1);
    assert!(fake.submissions().len() == 1);

    let unauthenticated = submit_with(&fake, None, MODEL, json!({"prompt": "p"})).await;
    assert_eq!(
        unauthenticated.status,
        StatusCode::UNAUTHORIZED,
        "auth comes first"
    );
    fake.set_rate_limit(None);
    let free = poll(&fake, &id).await;
    assert_eq!(free.status, StatusCode::OK);
    assert!(free.headers.get("x-ratelimit-limit").is_none());
}

#[tokio::test]
async fn fake_pixeldojo_drop_after_accept_charges_the_job_and_closes_without_an_answer() {
    let fake = FakePixelDojo::start().await;
    fake.inject(Endpoint::Submit, Fault::DropAfterAccept, 1);

    let outcome = http()
        .post(format!("{}/models/{MODEL}/run", fake.base_url()))
        .bearer_auth(API_KEY)
        .json(&json!({"prompt": "waves"}))
        .send()
        .await;

    let err = outcome.expect_err("no HTTP answer");
    assert!(!err.is_connect(), "the request was sent: {err:?}");
    assert_eq!(fake.submissions(), vec![json!({"prompt": "waves"})]);
    assert_eq!(fake.jobs().len(), 1);
    assert_eq!(fake.credits(), 10_000 - 16);
    assert_eq!(fake.requests()[0].status, NO_RESPONSE);

    let next = submit(&fake, json!({"prompt": "again"})).await;
    assert_eq!(next.status, StatusCode::OK, "the fault happened once");
    assert_eq!(next.json["creditsRemaining"], 10_000 - 32);
}

#[tokio::test]
async fn fake_pixeldojo_wait_for_submissions_returns_once_enough_jobs_arrive() {
    let fake = FakePixelDojo::start().await;
    assert!(
        !fake
            .wait_for_submissions(1, Duration::from_millis(50))
            .await
    );
    let background = fake.clone();
    let waiter = tokio::spawn(async move {
        background
            .wait_for_submissions(2, Duration::from_secs(5))
            .await
    });
    submit(&fake, json!({"prompt": "a"})).await;
    submit(&fake, json!({"prompt": "b"})).await;
    assert!(waiter.await.unwrap());
}

#[tokio::test]
async fn fake_pixeldojo_serves_deterministic_files_of_the_requested_container() {
    let fake = FakePixelDojo::start().await;
    fake.set_render_time(Duration::ZERO);
    let mp4 = job_id(&submit(&fake, json!({"prompt": "a"})).await);
    let mov = job_id(&submit(&fake, json!({"prompt": "b", "output_format": "mov"})).await);
    assert_eq!(&fake.video_bytes(&mp4)[4..8], b"ftyp");
    assert_eq!(fake.video_bytes(&mp4), fake.video_bytes(&mp4));
    assert_ne!(fake.video_bytes(&mp4), fake.video_bytes(&mov));
    let done = poll(&fake, &mov).await;
    let file = http()
        .get(done.json["output"]["video"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(file.headers()["content-type"], "video/quicktime");
    let wrong_ext = done.json["output"]["video"]
        .as_str()
        .unwrap()
        .replace(".mov", ".mp4");
    assert_eq!(
        http().get(wrong_ext).send().await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn fake_pixeldojo_scripts_what_a_job_costs_and_what_a_failed_job_says_it_was_charged() {
    let fake = FakePixelDojo::start().await;
    let fail = |charge| JobScript {
        render_time: Some(Duration::ZERO),
        outcome: Outcome::Fail("no".into()),
        failed_charge: charge,
        ..JobScript::default()
    };
    fake.script_next_jobs(vec![
        JobScript {
            render_time: Some(Duration::ZERO),
            credit_cost: Some(20),
            ..JobScript::default()
        },
        fail(FailedCharge::Reported(0)),
        fail(FailedCharge::Reported(16)),
        fail(FailedCharge::Unreported),
    ]);

    let dear = submit(&fake, json!({"prompt": "a"})).await;
    assert_eq!(dear.json["creditCost"], 20);
    assert_eq!(dear.json["creditsRemaining"], 10_000 - 20);
    let done = poll(&fake, &job_id(&dear)).await;
    assert_eq!(done.json["status"], "completed");
    assert_eq!(done.json["creditCost"], 20);
    assert_eq!(fake.jobs()[0].credit_cost, 20);

    let mut failed = Vec::new();
    for prompt in ["b", "c", "d"] {
        let accepted = submit(&fake, json!({ "prompt": prompt })).await;
        assert_eq!(accepted.json["creditCost"], 16);
        failed.push(poll(&fake, &job_id(&accepted)).await.json);
    }
    for answer in &failed {
        assert_eq!(answer["status"], "failed", "{answer}");
        assert_eq!(answer["error"], "no");
    }
    assert_eq!(failed[0]["creditCost"], 0);
    assert_eq!(failed[1]["creditCost"], 16);
    assert!(failed[2].get("creditCost").is_none(), "{}", failed[2]);
    assert_eq!(
        fake.credits(),
        10_000 - 20 - 2 * 16,
        "only the job that reported 0 was refunded"
    );
}

#[tokio::test]
async fn fake_pixeldojo_status_faults_carry_exactly_the_headers_given_computed_when_answered() {
    let fake = FakePixelDojo::start().await;
    fake.inject(
        Endpoint::Submit,
        Fault::rate_limited_with(vec![(
            "X-RateLimit-Reset",
            HeaderText::EpochMillisIn(Duration::from_secs(3)),
        )]),
        1,
    );
    fake.inject(
        Endpoint::Poll,
        Fault::StatusWithHeaders {
            status: 503,
            code: "internal_error",
            headers: vec![
                ("Retry-After", HeaderText::literal("NaN")),
                (
                    "X-RateLimit-Reset",
                    HeaderText::EpochSecondsIn(Duration::from_secs(30)),
                ),
            ],
        },
        1,
    );
    // Injected first, answered later: the value is computed at the answer.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let epoch = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
    };
    let limited = submit(&fake, json!({"prompt": "p"})).await;
    let now_ms = epoch().as_millis();
    assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(code(&limited), "rate_limited");
    assert!(limited.headers.get("retry-after").is_none());
    let reset: u128 = limited.headers["x-ratelimit-reset"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        reset > now_ms + 2_000 && reset <= now_ms + 3_000,
        "epoch milliseconds 3 s ahead: {reset} at {now_ms}"
    );
    assert!(
        fake.submissions().is_empty(),
        "a status fault has no effect"
    );

    let id = job_id(&submit(&fake, json!({"prompt": "p"})).await);
    let unavailable = poll(&fake, &id).await;
    let now = epoch().as_secs();
    assert_eq!(unavailable.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(unavailable.headers["retry-after"], "NaN");
    let reset: u64 = unavailable.headers["x-ratelimit-reset"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(reset >= now + 29 && reset <= now + 31, "{reset} at {now}");
    assert_eq!(
        fake.jobs()[0].poll_count,
        0,
        "the poll did not reach the job"
    );
    assert_eq!(poll(&fake, &id).await.status, StatusCode::OK);
}

#[tokio::test]
async fn fake_pixeldojo_can_point_a_finished_file_at_another_origin_and_serves_files_under_any_name(
) {
    let fake = FakePixelDojo::start().await;
    let port = fake.origin().rsplit_once(':').unwrap().1.to_owned();
    let localhost = format!("http://localhost:{port}");
    let script = |origin: &str| JobScript {
        render_time: Some(Duration::ZERO),
        file_origin: Some(origin.to_owned()),
        ..JobScript::default()
    };
    fake.script_next_jobs(vec![
        script("http://files.evil.example"),
        script(&localhost),
    ]);

    let elsewhere = job_id(&submit(&fake, json!({"prompt": "a"})).await);
    let answer = poll(&fake, &elsewhere).await.json;
    assert_eq!(answer["status"], "completed");
    assert_eq!(
        answer["output"]["video"],
        format!("http://files.evil.example/files/{elsewhere}.mp4")
    );
    let local = job_id(&submit(&fake, json!({"prompt": "b"})).await);
    let video = poll(&fake, &local).await.json["output"]["video"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(video, format!("{localhost}/files/{local}.mp4"));
    let file = http().get(&video).send().await.unwrap();
    assert_eq!(file.status(), StatusCode::OK);
    assert_eq!(
        file.bytes().await.unwrap().to_vec(),
        fake.video_bytes(&local)
    );
    assert!(fake
        .requests()
        .iter()
        .any(|r| r.path == format!("/files/{local}.mp4")));
}
