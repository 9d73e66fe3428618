use super::*;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap as AxumHeaders, StatusCode as AxumStatus};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;

const KEY: &str = "pd_super_secret_key_42";
const MODEL: &str = "google-gemini-omni-flash";

async fn serve(router: Router) -> Url {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    Url::parse(&format!("http://{addr}/api/v1")).unwrap()
}

fn client(base: &Url) -> PixelDojoClient {
    client_with_timeout(base, Duration::from_secs(5))
}

fn client_with_timeout(base: &Url, timeout: Duration) -> PixelDojoClient {
    client_with_key(base, KEY, timeout)
}

fn client_with_key(base: &Url, key: &str, timeout: Duration) -> PixelDojoClient {
    PixelDojoClient::new(ClientSettings {
        base_url: base.clone(),
        model: MODEL.into(),
        api_key: SecretString::from(key.to_owned()),
        request_timeout: timeout,
        download_timeout: timeout * 4,
        download_hosts: vec!["127.0.0.1".into()],
    })
}

/// A server that answers every request with the same status, headers and body.
async fn answering(status: u16, headers: &[(&'static str, String)], body: &str) -> Url {
    let headers: Vec<(&'static str, String)> = headers.to_vec();
    let body = body.to_owned();
    let router = Router::new().fallback(move || {
        let headers = headers.clone();
        let body = body.clone();
        async move {
            let mut response = Response::new(Body::from(body));
            *response.status_mut() = AxumStatus::from_u16(status).unwrap();
            for (name, value) in headers {
                response.headers_mut().insert(name, value.parse().unwrap());
            }
            response
        }
    });
    serve(router).await
}

fn error_body_nested(code: &str, message: &str) -> String {
    json!({"error": {"code": code, "message": message}}).to_string()
}

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<CapturedRun>>>);

#[derive(Clone, Debug)]
struct CapturedRun {
    model: String,
    authorization: Option<String>,
    body: Value,
}

async fn capturing_run_server() -> (Url, Captured) {
    let captured = Captured::default();
    let router = Router::new()
        .route(
            "/api/v1/models/:model/run",
            post(
                |State(c): State<Captured>,
                 Path(model): Path<String>,
                 headers: AxumHeaders,
                 body: String| async move {
                    let auth = headers
                        .get("authorization")
                        .map(|v| v.to_str().unwrap().to_owned());
                    let json: Value = serde_json::from_str(&body).unwrap();
                    c.0.lock().unwrap().push(CapturedRun {
                        model,
                        authorization: auth,
                        body: json,
                    });
                    axum::Json(json!({
                        "jobId": "job_abc123",
                        "status": "pending",
                        "statusUrl": "http://x/api/v1/jobs/job_abc123",
                        "creditCost": 16,
                        "creditsRemaining": 95
                    }))
                },
            ),
        )
        .with_state(captured.clone());
    (serve(router).await, captured)
}

#[tokio::test]
async fn submit_posts_only_the_given_fields_with_the_bearer_key_and_parses_the_answer() {
    let (base, captured) = capturing_run_server().await;
    let request = RunRequest {
        prompt: "ocean waves at golden hour".into(),
        aspect_ratio: Some("9:16".into()),
        duration: Some(5),
        ..RunRequest::default()
    };

    let submitted = client(&base).submit(&request).await.result.unwrap();

    assert_eq!(
        submitted,
        Submitted {
            job_id: "job_abc123".into(),
            status: "pending".into(),
            credit_cost: Some(16),
            credits_remaining: Some(95),
        }
    );
    let calls = captured.0.lock().unwrap().clone();
    assert_eq!(calls.len(), 1);
    let CapturedRun {
        model,
        authorization,
        body,
    } = &calls[0];
    assert_eq!(model, MODEL);
    assert_eq!(
        authorization.as_deref(),
        Some(format!("Bearer {KEY}").as_str())
    );
    assert_eq!(
        body,
        &json!({"prompt": "ocean waves at golden hour", "aspect_ratio": "9:16", "duration": 5})
    );
}

#[tokio::test]
async fn submit_sends_every_field_when_all_are_set() {
    let (base, captured) = capturing_run_server().await;
    let request = RunRequest {
        prompt: "p".into(),
        image: Some("https://cdn.example/a.png".into()),
        reference_images: vec!["https://cdn.example/r1.png".into()],
        video: Some("https://cdn.example/v.mp4".into()),
        video_id: Some("vid_1".into()),
        aspect_ratio: Some("16:9".into()),
        duration: Some(10),
        output_format: Some("webm".into()),
        seed: Some(-7),
    };

    client(&base).submit(&request).await.result.unwrap();

    let body = captured.0.lock().unwrap()[0].body.clone();
    assert_eq!(
        body,
        json!({
            "prompt": "p",
            "image": "https://cdn.example/a.png",
            "reference_images": ["https://cdn.example/r1.png"],
            "video": "https://cdn.example/v.mp4",
            "video_id": "vid_1",
            "aspect_ratio": "16:9",
            "duration": 10,
            "output_format": "webm",
            "seed": -7
        })
    );
    let back: RunRequest = serde_json::from_value(body).unwrap();
    assert_eq!(back, request);
}

fn describe(err: &ApiError) -> String {
    format!("{err:?}")
}

async fn submit_error(status: u16, body: &str) -> ApiError {
    let base = answering(status, &[], body).await;
    client(&base)
        .submit(&RunRequest {
            prompt: "x".into(),
            ..RunRequest::default()
        })
        .await
        .result
        .unwrap_err()
}

#[tokio::test]
async fn every_documented_error_code_in_a_nested_error_body_maps_to_its_variant() {
    let cases: [(u16, &str, &str); 6] = [
        (401, "unauthorized", "Unauthorized"),
        (402, "insufficient_credits", "InsufficientCredits"),
        (
            400,
            "invalid_request",
            "InvalidRequest(\"duration must be 3-10\")",
        ),
        (404, "model_not_found", "ModelNotFound"),
        (429, "rate_limited", "RateLimited"),
        (500, "internal_error", "Internal(\"duration must be 3-10\")"),
    ];
    for (status, code, expected) in cases {
        let err = submit_error(status, &error_body_nested(code, "duration must be 3-10")).await;
        assert_eq!(describe(&err), expected, "code {code}");
    }
}

#[tokio::test]
async fn every_documented_error_code_in_a_flat_error_body_maps_to_its_variant() {
    let cases: [(u16, &str); 6] = [
        (401, "Unauthorized"),
        (402, "InsufficientCredits"),
        (400, "InvalidRequest(\"bad things\")"),
        (404, "ModelNotFound"),
        (429, "RateLimited"),
        (503, "Unavailable(\"bad things\")"),
    ];
    for (status, expected) in cases {
        let err = submit_error(status, r#"{"error":"bad things"}"#).await;
        assert_eq!(describe(&err), expected, "status {status}");
    }
}

#[tokio::test]
async fn a_non_json_error_body_falls_back_to_the_http_status() {
    let cases: [(u16, &str); 8] = [
        (401, "Unauthorized"),
        (402, "InsufficientCredits"),
        (400, "InvalidRequest(\"\")"),
        (404, "ModelNotFound"),
        (429, "RateLimited"),
        (502, "Internal(\"502 Bad Gateway\")"),
        (
            403,
            "UnexpectedStatus { status: 403, message: \"403 Forbidden\" }",
        ),
        (
            418,
            "UnexpectedStatus { status: 418, message: \"418 I'm a teapot\" }",
        ),
    ];
    for (status, expected) in cases {
        let err = submit_error(status, "<html>upstream broke</html>").await;
        assert_eq!(describe(&err), expected, "status {status}");
    }
}

#[tokio::test]
async fn the_error_code_wins_over_the_status_as_with_the_older_403_insufficient_credits() {
    let body = json!({"error": {"code": "insufficient_credits", "message": "m", "status": 403}});
    let err = submit_error(403, &body.to_string()).await;
    assert!(matches!(err, ApiError::InsufficientCredits), "{err:?}");
    let err = submit_error(400, &error_body_nested("unauthorized", "m")).await;
    assert!(matches!(err, ApiError::Unauthorized), "{err:?}");
}

#[tokio::test]
async fn an_unknown_error_code_falls_back_to_the_status() {
    let err = submit_error(402, &error_body_nested("something_new", "m")).await;
    assert!(matches!(err, ApiError::InsufficientCredits), "{err:?}");
}

#[tokio::test]
async fn each_answer_carries_its_own_rate_limit_headers() {
    let base = answering(
        429,
        &[
            ("retry-after", "7".into()),
            ("x-ratelimit-limit", "60".into()),
            ("x-ratelimit-remaining", "0".into()),
            ("x-ratelimit-reset", "30".into()),
        ],
        &error_body_nested("rate_limited", "slow down"),
    )
    .await;
    let answer = client(&base).job("job_1").await;
    assert!(
        matches!(answer.result, Err(ApiError::RateLimited)),
        "{:?}",
        answer.result
    );
    assert_eq!(
        answer.rate,
        RateHeaders {
            retry_after: Some("7".into()),
            limit: Some("60".into()),
            remaining: Some("0".into()),
            reset: Some("30".into()),
        }
    );
    let quiet = answering(200, &[], r#"{"jobId":"job_1","status":"pending"}"#).await;
    assert_eq!(
        client(&quiet).job("job_1").await.rate,
        RateHeaders::default()
    );
}

async fn job_answer(body: Value) -> Result<JobStatus, ApiError> {
    let base = answering(200, &[], &body.to_string()).await;
    client(&base).job("job_1").await.result
}

#[tokio::test]
async fn a_completed_job_reads_the_video_id_from_output_or_outputs_or_none() {
    let from_output = job_answer(json!({"jobId":"job_1","status":"completed","output":{"video":"https://t/a.mp4","videoId":"vid_a"},"creditCost":16})).await;
    assert_eq!(
        from_output.unwrap(),
        JobStatus::Completed {
            video_url: "https://t/a.mp4".into(),
            video_id: Some("vid_a".into()),
            credit_cost: Some(16)
        }
    );
    let from_outputs = job_answer(json!({"status":"completed","output":{"video":"https://t/b.mp4"},"outputs":{"videoId":"vid_b"}})).await;
    assert_eq!(
        from_outputs.unwrap(),
        JobStatus::Completed {
            video_url: "https://t/b.mp4".into(),
            video_id: Some("vid_b".into()),
            credit_cost: None
        }
    );
    let absent =
        job_answer(json!({"status":"completed","output":{"video":"https://t/c.mp4"}})).await;
    assert!(
        matches!(absent, Ok(JobStatus::Completed { video_id: None, .. })),
        "{absent:?}"
    );
}

#[tokio::test]
async fn a_completed_job_finds_the_video_in_videos_or_assets() {
    let videos =
        job_answer(json!({"status":"completed","output":{"videos":["https://t/v.mp4"]}})).await;
    assert!(
        matches!(videos, Ok(JobStatus::Completed { ref video_url, .. }) if video_url == "https://t/v.mp4"),
        "{videos:?}"
    );
    let assets =
        job_answer(json!({"status":"completed","assets":[{"url":"https://t/s.mp4"}]})).await;
    assert!(
        matches!(assets, Ok(JobStatus::Completed { ref video_url, .. }) if video_url == "https://t/s.mp4"),
        "{assets:?}"
    );
}

#[tokio::test]
async fn a_completed_job_without_any_video_url_is_malformed() {
    let err = job_answer(json!({"status":"completed","output":{}}))
        .await
        .unwrap_err();
    assert!(matches!(err, ApiError::Malformed(_)), "{err:?}");
}

#[tokio::test]
async fn a_failed_job_carries_its_error_message() {
    let failed = job_answer(
        json!({"jobId":"job_1","status":"failed","error":"content policy","creditCost":16}),
    )
    .await;
    assert_eq!(
        failed.unwrap(),
        JobStatus::Failed {
            error: "content policy".into(),
            credit_cost: Some(16)
        }
    );
    let nested = job_answer(json!({"status":"failed","error":{"message":"boom"}})).await;
    assert_eq!(
        nested.unwrap(),
        JobStatus::Failed {
            error: "boom".into(),
            credit_cost: None
        }
    );
}

#[tokio::test]
async fn any_other_status_value_means_the_job_is_still_running() {
    for status in ["pending", "processing", "queued", "starting", "IN_PROGRESS"] {
        let answer = job_answer(json!({"jobId":"job_1","status":status})).await;
        assert_eq!(
            answer.unwrap(),
            JobStatus::Running {
                status: status.into()
            }
        );
    }
}

#[tokio::test]
async fn a_2xx_answer_that_is_not_json_is_malformed() {
    let base = answering(200, &[], r#"{"jobId": "job_"#).await;
    let c = client(&base);
    let err = c.job("job_1").await.result.unwrap_err();
    assert!(matches!(err, ApiError::Malformed(_)), "{err:?}");
    let err = c.submit(&RunRequest::default()).await.result.unwrap_err();
    assert!(matches!(err, ApiError::Malformed(_)), "{err:?}");
    let base = answering(200, &[], r#"{"status": "pending"}"#).await;
    let err = client(&base)
        .submit(&RunRequest::default())
        .await
        .result
        .unwrap_err();
    assert!(
        matches!(err, ApiError::Malformed(_)),
        "a run answer without a job id: {err:?}"
    );
}

#[tokio::test]
async fn polling_an_unknown_job_is_not_reported_as_an_unknown_model() {
    let base = answering(404, &[], &error_body_nested("not_found", "Job not found")).await;
    let err = client(&base).job("job_nope").await.result.unwrap_err();
    assert!(matches!(err, ApiError::UnknownJob), "{err:?}");
}

#[tokio::test]
async fn a_refused_connection_is_not_sent() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let base = Url::parse(&format!("http://{addr}/api/v1")).unwrap();
    let err = client(&base)
        .submit(&RunRequest::default())
        .await
        .result
        .unwrap_err();
    assert!(matches!(err, ApiError::NotSent(_)), "{err:?}");
}

/// Accepts one connection, reads the request, then runs `then` on the open socket.
async fn raw_server<F, Fut>(then: F) -> Url
where
    F: FnOnce(tokio::net::TcpStream) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut request = Vec::new();
        let mut buf = [0u8; 4096];
        // Headers end with a blank line; the test bodies are tiny and arrive with them.
        while !request.windows(4).any(|w| w == b"\r\n\r\n") {
            let n = socket.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            request.extend_from_slice(&buf[..n]);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        then(socket).await;
    });
    Url::parse(&format!("http://{addr}/api/v1")).unwrap()
}

#[tokio::test]
async fn a_server_that_closes_the_connection_without_answering_leaves_a_submit_uncertain() {
    let base = raw_server(|socket| async move { drop(socket) }).await;
    let err = client(&base)
        .submit(&RunRequest::default())
        .await
        .result
        .unwrap_err();
    assert!(matches!(err, ApiError::Uncertain(_)), "{err:?}");
}

#[tokio::test]
async fn a_server_that_never_answers_within_the_timeout_leaves_a_submit_uncertain() {
    let base = raw_server(|socket| async move {
        tokio::time::sleep(Duration::from_secs(30)).await;
        drop(socket);
    })
    .await;
    let started = Instant::now();
    let err = client_with_timeout(&base, Duration::from_millis(300))
        .submit(&RunRequest::default())
        .await
        .result
        .unwrap_err();
    assert!(matches!(err, ApiError::Uncertain(_)), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn a_body_cut_off_mid_way_is_uncertain() {
    use tokio::io::AsyncWriteExt;
    let base = raw_server(|mut socket| async move {
        let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100\r\n\r\n{\"jobId\":";
        socket.write_all(head.as_bytes()).await.unwrap();
        drop(socket);
    })
    .await;
    let err = client(&base)
        .submit(&RunRequest::default())
        .await
        .result
        .unwrap_err();
    assert!(matches!(err, ApiError::Uncertain(_)), "{err:?}");
}

fn video(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

async fn file_server() -> (Url, Arc<Mutex<Vec<Option<String>>>>) {
    let auth_seen = Arc::new(Mutex::new(Vec::new()));
    let seen = auth_seen.clone();
    let router = Router::new()
        .route(
            "/files/sized.mp4",
            get(move |headers: AxumHeaders| {
                let seen = seen.clone();
                async move {
                    seen.lock().unwrap().push(
                        headers
                            .get("authorization")
                            .map(|v| v.to_str().unwrap().to_owned()),
                    );
                    ([("content-type", "video/mp4")], video(100_000))
                }
            }),
        )
        .route(
            "/files/chunked.mp4",
            get(|| async {
                let chunks = video(100_000)
                    .chunks(10_000)
                    .map(|c| Ok::<_, std::io::Error>(Bytes::copy_from_slice(c)))
                    .collect::<Vec<_>>();
                Body::from_stream(futures::stream::iter(chunks)).into_response()
            }),
        )
        .route(
            "/files/redirect-here.mp4",
            get(|| async { axum::response::Redirect::temporary("/files/chunked.mp4") }),
        )
        .route(
            "/files/redirect-away.mp4",
            get(|| async {
                axum::response::Redirect::temporary("http://localhost:9/files/sized.mp4")
            }),
        )
        .route(
            "/files/trickle.mp4",
            get(|| async {
                // A byte every 100 ms, for ever: each chunk is in time, the whole is not.
                let chunks = futures::stream::unfold((), |()| async {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    Some((Ok::<_, std::io::Error>(Bytes::from_static(b"x")), ()))
                });
                Body::from_stream(chunks).into_response()
            }),
        )
        .route(
            "/files/gone.mp4",
            get(|| async { (AxumStatus::NOT_FOUND, "<Error>NoSuchKey</Error>") }),
        );
    let base = serve(router).await;
    (base, auth_seen)
}

fn file_url(base: &Url, name: &str) -> Url {
    base.join(&format!("/files/{name}")).unwrap()
}

#[tokio::test]
async fn download_returns_the_exact_bytes_without_sending_the_key() {
    let (base, auth_seen) = file_server().await;
    let c = client(&base);
    let got = c
        .download(&file_url(&base, "sized.mp4"), 100_000)
        .await
        .unwrap();
    assert_eq!(got, Download::Complete(Bytes::from(video(100_000))));
    let got = c
        .download(&file_url(&base, "chunked.mp4"), 1_000_000)
        .await
        .unwrap();
    assert_eq!(got, Download::Complete(Bytes::from(video(100_000))));
    assert_eq!(auth_seen.lock().unwrap().clone(), vec![None]);
}

#[tokio::test]
async fn download_stops_at_max_bytes_with_or_without_a_content_length() {
    let (base, _) = file_server().await;
    let c = client(&base);
    let sized = c
        .download(&file_url(&base, "sized.mp4"), 99_999)
        .await
        .unwrap();
    assert_eq!(
        sized,
        Download::TooLarge {
            size: Some(100_000)
        }
    );
    let chunked = c
        .download(&file_url(&base, "chunked.mp4"), 25_000)
        .await
        .unwrap();
    assert_eq!(chunked, Download::TooLarge { size: None });
}

#[tokio::test]
async fn a_missing_file_is_an_unexpected_status_not_a_model_error() {
    let (base, _) = file_server().await;
    let err = client(&base)
        .download(&file_url(&base, "gone.mp4"), 1_000)
        .await
        .unwrap_err();
    assert!(
        matches!(err, ApiError::UnexpectedStatus { status: 404, .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_download_follows_redirects_only_between_the_vendors_hosts() {
    let (base, _) = file_server().await;
    let c = client(&base);
    let here = c
        .download(&file_url(&base, "redirect-here.mp4"), 1_000_000)
        .await
        .unwrap();
    assert_eq!(here, Download::Complete(Bytes::from(video(100_000))));
    let away = c
        .download(&file_url(&base, "redirect-away.mp4"), 1_000_000)
        .await
        .unwrap_err();
    assert!(format!("{away}").contains("redirect"), "{away}");
}

#[tokio::test]
async fn a_download_that_trickles_on_past_its_deadline_is_cut_off() {
    let (base, _) = file_server().await;
    let c = client_with_timeout(&base, Duration::from_millis(300));
    let started = Instant::now();
    let err = c
        .download(&file_url(&base, "trickle.mp4"), 100_000_000)
        .await
        .unwrap_err();
    assert!(matches!(err, ApiError::Uncertain(_)), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn check_key_accepts_a_404_for_the_probe_job_and_rejects_a_401() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    let router = Router::new().route(
        "/api/v1/jobs/:id",
        get(move |Path(id): Path<String>, headers: AxumHeaders| {
            let record = record.clone();
            async move {
                record.lock().unwrap().push(id);
                let good = headers.get("authorization").and_then(|v| v.to_str().ok())
                    == Some("Bearer pd_super_secret_key_42");
                if good {
                    (
                        AxumStatus::NOT_FOUND,
                        error_body_nested("not_found", "no such job"),
                    )
                } else {
                    (
                        AxumStatus::UNAUTHORIZED,
                        error_body_nested("unauthorized", "bad key"),
                    )
                }
            }
        }),
    );
    let base = serve(router).await;
    client(&base).check_key().await.unwrap();
    let wrong = client_with_key(&base, "pd_wrong", Duration::from_secs(5));
    let err = wrong.check_key().await.unwrap_err();
    assert!(matches!(err, ApiError::Unauthorized), "{err:?}");
    assert_eq!(
        seen.lock().unwrap().clone(),
        vec![KEY_CHECK_JOB_ID.to_owned(); 2]
    );
}

#[derive(Clone, Default)]
struct LogSink(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn the_api_key_never_appears_in_debug_output_errors_or_logs() {
    let sink = LogSink::default();
    let writer = sink.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    // tracing caches each log line's interest once for the whole process, asked of the thread
    // that reaches it first. While one dispatcher is registered it asks only that thread's, so a
    // sibling test running the client with none would cache "never" and the lines would not be
    // captured here. A second registered dispatcher makes every such question go to all of
    // them, and the rebuild asks again of the lines already cached.
    let _anchor = tracing::Dispatch::new(tracing::subscriber::NoSubscriber::default());
    let _guard = tracing::subscriber::set_default(subscriber);
    tracing::callsite::rebuild_interest_cache();

    let base = answering(401, &[], &error_body_nested("unauthorized", "bad key")).await;
    // As a sibling test would: the client's lines first reached on a thread with no subscriber.
    let first = base.clone();
    let sibling = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        sibling.block_on(async { client(&first).job("job_1").await.result.is_err() })
    })
    .await
    .unwrap();
    let c = client(&base);
    let mut texts = vec![format!("{c:?}"), format!("{:?}", c.clone())];
    let mut errors = vec![c.submit(&RunRequest::default()).await.result.unwrap_err()];
    errors.push(c.job("job_1").await.result.unwrap_err());
    errors.push(c.check_key().await.unwrap_err());
    let refused = {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        drop(listener);
        Url::parse(&format!("http://{addr}/api/v1")).unwrap()
    };
    errors.push(client(&refused).job("job_1").await.result.unwrap_err());
    let silent = raw_server(|socket| async move { drop(socket) }).await;
    errors.push(
        client(&silent)
            .submit(&RunRequest::default())
            .await
            .result
            .unwrap_err(),
    );
    for err in &errors {
        texts.push(format!("{err:?}"));
        texts.push(err.to_string());
    }
    texts.push(String::from_utf8(sink.0.lock().unwrap().clone()).unwrap());

    let logs = texts.last().unwrap();
    assert!(logs.contains("status=401"), "answers were logged: {logs}");
    assert!(
        logs.contains("PixelDojo request failed"),
        "failures were logged: {logs}"
    );
    for text in texts {
        assert!(!text.contains(KEY), "the key leaked into: {text}");
        assert!(
            !text.contains("super_secret"),
            "part of the key leaked into: {text}"
        );
    }
}
