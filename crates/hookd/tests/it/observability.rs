//! Observability end to end, against the real binary in its own process (so its metrics
//! are its own): `/metrics` after publishing and delivering, and JSON logs.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use hookd_core::inbound::github;
use hookd_test_support::TestSink;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::{TOKEN, WAIT};

/// A `hookd serve` child process, killed when dropped.
struct Hookd {
    child: Child,
    base: String,
    client: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl Drop for Hookd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn command(dir: &tempfile::TempDir, port: u16, extra: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_hookd"));
    command
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .args([
            "--database",
            &format!("sqlite://{}", dir.path().join("hookd.db").display()),
        ])
        .args(["--admin-token", TOKEN])
        .args(["--allow-private-network", "127.0.0.0/8"])
        .args(["--retry-schedule", "100ms,100ms"])
        .args(["--request-timeout", "2s"])
        .args(extra)
        .stdout(Stdio::null());
    command
}

async fn start(extra: &[&str]) -> Hookd {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let child = command(&dir, port, extra)
        .env("HOOKD_LOG", "warn")
        .stderr(Stdio::inherit())
        .spawn()
        .expect("hookd binary starts");
    let hookd = Hookd {
        child,
        base: format!("http://127.0.0.1:{port}"),
        client: reqwest::Client::new(),
        _dir: dir,
    };
    for _ in 0..400 {
        if let Ok(response) = hookd
            .client
            .get(format!("{}/api/v1/health", hookd.base))
            .send()
            .await
        {
            if response.status() == StatusCode::OK {
                return hookd;
            }
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("hookd never became healthy");
}

/// A hookd child process logging JSON at `info`, and its stderr lines as they come.
/// Not yet known to be healthy: the caller may read the first lines before it is.
fn start_with_json_logs() -> (Hookd, tokio::sync::mpsc::UnboundedReceiver<String>) {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = command(&dir, port, &["--log-format", "json"])
        .env("HOOKD_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .expect("hookd binary starts");
    let stderr = child.stderr.take().unwrap();
    let (lines, received) = tokio::sync::mpsc::unbounded_channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let hookd = Hookd {
        child,
        base: format!("http://127.0.0.1:{port}"),
        client: reqwest::Client::new(),
        _dir: dir,
    };
    (hookd, received)
}

impl Hookd {
    /// Waits until the health check answers 200 (10 s at most; a test then fails on its
    /// first request).
    async fn wait_healthy(&self) {
        for _ in 0..400 {
            let healthy = self
                .client
                .get(format!("{}/api/v1/health", self.base))
                .send()
                .await
                .is_ok_and(|response| response.status() == StatusCode::OK);
            if healthy {
                return;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let response = self
            .client
            .post(format!("{}{path}", self.base))
            .bearer_auth(TOKEN)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(
            response.status().is_success(),
            "{path}: {}",
            response.status()
        );
        response.json().await.unwrap()
    }

    /// Scrapes `/metrics` without a token.
    async fn scrape(&self) -> String {
        let response = self
            .client
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let content_type = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            content_type.starts_with("text/plain; version=0.0.4"),
            "{content_type}"
        );
        response.text().await.unwrap()
    }
}

/// The value of one series (`name` or `name{labels}` exactly as rendered), if present.
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| {
            let rest = line.strip_prefix(series)?;
            rest.strip_prefix(' ')?.trim().parse().ok()
        })
}

#[track_caller]
fn expect(text: &str, series: &str, expected: f64) {
    assert_eq!(value(text, series), Some(expected), "{series} in\n{text}");
}

#[tokio::test]
async fn metrics_count_publishes_attempts_and_drain_the_queue() {
    let healthy = TestSink::start(&[200]).await;
    // Two 503s, then 200s: two retried attempts in all.
    let flaky = TestSink::start(&[503, 503, 200]).await;
    let hookd = start(&[]).await;

    let before = hookd.scrape().await;
    for series in [
        r#"hookd_inbound_requests_total{result="verified"}"#,
        r#"hookd_inbound_requests_total{result="rejected"}"#,
        r#"hookd_inbound_requests_total{result="duplicate"}"#,
        r#"hookd_delivery_attempts_total{outcome="success"}"#,
        "hookd_messages_published_total",
        "hookd_queue_depth",
        "hookd_queue_oldest_due_age_seconds",
    ] {
        expect(&before, series, 0.0);
    }
    expect(&before, "hookd_database_up", 1.0);
    expect(
        &before,
        r#"hookd_db_pool_max_connections{pool="sqlite_readers"}"#,
        4.0,
    );
    assert!(
        before.contains("# HELP hookd_inbound_requests_total"),
        "{before}"
    );

    let app = hookd.post("/api/v1/app", json!({"name": "metrics"})).await;
    let app_id = app["id"].as_str().unwrap().to_owned();
    for (sink, event_types) in [(&healthy, "invoice.paid"), (&flaky, "invoice.paid")] {
        hookd
            .post(
                &format!("/api/v1/app/{app_id}/endpoint"),
                json!({"url": sink.url("/hook"), "eventTypes": [event_types]}),
            )
            .await;
    }
    // Refused by the SSRF guard on every attempt (10/8 is not allowed): three attempts,
    // then the delivery fails for good.
    hookd
        .post(
            &format!("/api/v1/app/{app_id}/endpoint"),
            json!({"url": "http://10.255.255.1/hook", "eventTypes": ["account.closed"]}),
        )
        .await;

    const MESSAGES: usize = 5;
    for index in 0..MESSAGES {
        hookd
            .post(
                &format!("/api/v1/app/{app_id}/msg"),
                json!({"eventType": "invoice.paid", "payload": {"index": index}}),
            )
            .await;
    }
    hookd
        .post(
            &format!("/api/v1/app/{app_id}/msg"),
            json!({"eventType": "account.closed", "payload": {}}),
        )
        .await;

    // 5 messages to 2 endpoints succeed, 1 to the refused endpoint fails for good.
    let deadline = tokio::time::Instant::now() + WAIT;
    let after = loop {
        let text = hookd.scrape().await;
        let succeeded = value(
            &text,
            r#"hookd_deliveries_finished_total{result="succeeded"}"#,
        );
        let failed = value(&text, r#"hookd_deliveries_finished_total{result="failed"}"#);
        if succeeded == Some(2.0 * MESSAGES as f64) && failed == Some(1.0) {
            break text;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "deliveries never finished:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };

    expect(
        &after,
        "hookd_messages_published_total",
        (MESSAGES + 1) as f64,
    );
    expect(
        &after,
        "hookd_publish_duration_seconds_count",
        (MESSAGES + 1) as f64,
    );
    expect(
        &after,
        r#"hookd_delivery_attempts_total{outcome="success"}"#,
        (2 * MESSAGES) as f64,
    );
    expect(
        &after,
        r#"hookd_delivery_attempts_total{outcome="server_error"}"#,
        2.0,
    );
    expect(
        &after,
        r#"hookd_delivery_attempts_total{outcome="refused"}"#,
        3.0,
    );
    expect(
        &after,
        r#"hookd_delivery_attempts_total{outcome="timeout"}"#,
        0.0,
    );
    // Histograms are folded in at render, so their count is exact at once.
    expect(
        &after,
        "hookd_delivery_attempt_duration_seconds_count",
        (2 * MESSAGES + 2 + 3) as f64,
    );
    // A scrape reads the queue gauges from the database before it renders the counters,
    // so the scrape that first shows the last outcome counted may have read the queue
    // just before that outcome committed. One taken after it reads the settled queue.
    let settled = hookd.scrape().await;
    expect(&settled, "hookd_queue_depth", 0.0);
    expect(&settled, "hookd_queue_due", 0.0);
    expect(&settled, "hookd_queue_oldest_due_age_seconds", 0.0);
    expect(
        &after,
        r#"hookd_inbound_requests_total{result="verified"}"#,
        0.0,
    );
    expect(
        &after,
        r#"hookd_db_pool_connections{pool="sqlite_readers",state="in_use"}"#,
        0.0,
    );
    expect(
        &after,
        r#"hookd_db_pool_connections{pool="sqlite_readers",state="idle"}"#,
        4.0,
    );
}

/// With `--no-worker`, published messages stay queued and the scrape shows them waiting,
/// with an age that grows.
#[tokio::test]
async fn metrics_show_a_waiting_queue_and_its_age() {
    let sink = TestSink::start(&[200]).await;
    let hookd = start(&["--no-worker"]).await;
    let app = hookd.post("/api/v1/app", json!({"name": "backlog"})).await;
    let app_id = app["id"].as_str().unwrap().to_owned();
    hookd
        .post(
            &format!("/api/v1/app/{app_id}/endpoint"),
            json!({"url": sink.url("/hook")}),
        )
        .await;
    for _ in 0..3 {
        hookd
            .post(
                &format!("/api/v1/app/{app_id}/msg"),
                json!({"eventType": "a.b", "payload": {}}),
            )
            .await;
    }
    let first = hookd.scrape().await;
    expect(&first, "hookd_queue_depth", 3.0);
    expect(&first, "hookd_queue_due", 3.0);
    let age = value(&first, "hookd_queue_oldest_due_age_seconds").unwrap();
    assert!(age >= 0.0, "{age}");
    // Poll until the age has visibly grown (no fixed sleep as a synchronisation).
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let text = hookd.scrape().await;
        let later = value(&text, "hookd_queue_oldest_due_age_seconds").unwrap();
        if later >= age + 0.2 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "age never grew: {age} → {later}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `--log-format json` writes one JSON object per line on stderr, and the line of a
/// failing attempt names its message, endpoint, application and attempt number.
#[tokio::test]
async fn json_logs_name_the_failing_attempt() {
    let sink = TestSink::start(&[500]).await;
    let (hookd, mut received) = start_with_json_logs();
    // The first line is a log line: the admin token is given, so nothing else is printed.
    let first = tokio::time::timeout(WAIT, received.recv())
        .await
        .expect("a log line")
        .expect("stderr open");
    let parsed: Value = serde_json::from_str(&first)
        .unwrap_or_else(|error| panic!("not JSON ({error}): {first:?}"));
    assert!(parsed["timestamp"].is_string(), "{parsed}");
    assert!(parsed["level"].is_string(), "{parsed}");
    assert!(parsed["fields"]["message"].is_string(), "{parsed}");
    hookd.wait_healthy().await;

    let app = hookd.post("/api/v1/app", json!({"name": "logs"})).await;
    let app_id = app["id"].as_str().unwrap().to_owned();
    let endpoint = hookd
        .post(
            &format!("/api/v1/app/{app_id}/endpoint"),
            json!({"url": sink.url("/hook")}),
        )
        .await;
    let message = hookd
        .post(
            &format!("/api/v1/app/{app_id}/msg"),
            json!({"eventType": "a.b", "payload": {}}),
        )
        .await;
    let failing = tokio::time::timeout(WAIT, async {
        loop {
            let line = received.recv().await.expect("stderr open");
            let parsed: Value = serde_json::from_str(&line)
                .unwrap_or_else(|error| panic!("not JSON ({error}): {line:?}"));
            if parsed["fields"]["message"] == "attempt failed" {
                return parsed;
            }
        }
    })
    .await
    .expect("a log line for the failing attempt");
    assert_eq!(failing["fields"]["status_code"], 500, "{failing}");
    assert_eq!(failing["fields"]["outcome"], "server_error", "{failing}");
    let span = &failing["span"];
    assert_eq!(span["name"], "delivery", "{failing}");
    assert_eq!(span["msg_id"], message["id"], "{failing}");
    assert_eq!(span["endpoint_id"], endpoint["id"], "{failing}");
    assert_eq!(span["app_id"], app["id"], "{failing}");
    assert_eq!(span["attempt"], 1, "{failing}");
}

/// Inbound requests are counted by verdict (verified, duplicate, rejected), and a
/// verified request without a provider event id is logged with that reason.
#[tokio::test]
async fn inbound_requests_are_counted_and_a_missing_event_id_is_logged() {
    let sink = TestSink::start(&[200]).await;
    let (hookd, mut received) = start_with_json_logs();
    hookd.wait_healthy().await;
    let app = hookd.post("/api/v1/app", json!({"name": "inbound"})).await;
    let app_id = app["id"].as_str().unwrap().to_owned();
    hookd
        .post(
            &format!("/api/v1/app/{app_id}/endpoint"),
            json!({"url": sink.url("/hook")}),
        )
        .await;
    let secret = "gh-metrics-secret";
    hookd
        .post(
            "/api/v1/source",
            json!({"name": "GitHub", "uid": "gh", "provider": "github",
                   "secret": secret, "appId": app_id}),
        )
        .await;
    let post = |headers: Vec<(String, String)>, body: &'static [u8]| {
        let mut request = hookd
            .client
            .post(format!("{}/in/gh", hookd.base))
            .body(body);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        async move { request.send().await.unwrap().status() }
    };
    let body: &[u8] = br#"{"action":"created"}"#;
    let signed = |delivery: Option<&str>| {
        let mut headers = github::sign(secret, body);
        headers.push(("x-github-event".into(), "star".into()));
        if let Some(delivery) = delivery {
            headers.push(("x-github-delivery".into(), delivery.into()));
        }
        headers
    };
    // Verified twice (once without an event id), one re-send, two refusals.
    assert_eq!(post(signed(Some("d-1")), body).await, StatusCode::OK);
    assert_eq!(post(signed(Some("d-1")), body).await, StatusCode::OK);
    assert_eq!(post(signed(None), body).await, StatusCode::OK);
    let forged = vec![(
        "x-hub-signature-256".to_owned(),
        format!("sha256={}", "0".repeat(64)),
    )];
    assert_eq!(post(forged, body).await, StatusCode::UNAUTHORIZED);
    assert_eq!(post(Vec::new(), body).await, StatusCode::UNAUTHORIZED);

    let scrape = hookd.scrape().await;
    expect(
        &scrape,
        r#"hookd_inbound_requests_total{result="verified"}"#,
        2.0,
    );
    expect(
        &scrape,
        r#"hookd_inbound_requests_total{result="duplicate"}"#,
        1.0,
    );
    expect(
        &scrape,
        r#"hookd_inbound_requests_total{result="rejected"}"#,
        2.0,
    );
    let logged = tokio::time::timeout(WAIT, async {
        loop {
            let line = received.recv().await.expect("stderr open");
            let Ok(parsed) = serde_json::from_str::<Value>(&line) else {
                continue;
            };
            let message = parsed["fields"]["message"].as_str().unwrap_or_default();
            if message.contains("no provider event id") {
                return parsed;
            }
        }
    })
    .await
    .expect("a log line saying why the request is not deduplicated");
    assert_eq!(logged["fields"]["provider"], "github", "{logged}");
}
