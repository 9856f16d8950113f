//! hookd killed with SIGKILL mid-load and restarted: every message that got a 202 is
//! delivered (at-least-once), because 202 means committed.

use std::collections::HashSet;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hookd_test_support::TestSink;
use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::TOKEN;

struct Process {
    child: Child,
    base: String,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn spawn(database: &str, port: u16) -> Process {
    let child = Command::new(env!("CARGO_BIN_EXE_hookd"))
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--database",
            database,
        ])
        .args([
            "--admin-token",
            TOKEN,
            "--allow-private-network",
            "127.0.0.0/8",
            "--retry-schedule",
            "100ms,100ms,100ms,100ms",
            "--request-timeout",
            "2s",
        ])
        .env("HOOKD_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("hookd binary starts");
    Process {
        child,
        base: format!("http://127.0.0.1:{port}"),
    }
}

async fn wait_healthy(client: &reqwest::Client, base: &str) {
    for _ in 0..400 {
        if let Ok(response) = client.get(format!("{base}/api/v1/health")).send().await {
            if response.status() == StatusCode::OK {
                return;
            }
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("hookd at {base} never became healthy");
}

#[tokio::test]
async fn kill_nine_mid_load_loses_no_acknowledged_message() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("hookd.db").display());
    let port = free_port();
    let mut sink = TestSink::start(&[200]).await;
    let client = reqwest::Client::new();
    let mut process = spawn(&database, port);
    wait_healthy(&client, &process.base).await;

    let post = |path: String, body: Value| {
        let client = client.clone();
        let base = process.base.clone();
        async move {
            client
                .post(format!("{base}{path}"))
                .bearer_auth(TOKEN)
                .json(&body)
                .timeout(Duration::from_secs(5))
                .send()
                .await
        }
    };
    let app: Value = post("/api/v1/app".into(), json!({"name": "crash"}))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let app_id = app["id"].as_str().unwrap().to_owned();
    let endpoint = post(
        format!("/api/v1/app/{app_id}/endpoint"),
        json!({"url": sink.url("/")}),
    )
    .await
    .unwrap();
    assert_eq!(endpoint.status(), StatusCode::CREATED);

    // Eight publishers run until the server dies under them.
    let acknowledged = Arc::new(Mutex::new(HashSet::new()));
    let mut publishers = Vec::new();
    for worker in 0..8 {
        let acknowledged = acknowledged.clone();
        let client = client.clone();
        let url = format!("{}/api/v1/app/{app_id}/msg", process.base);
        publishers.push(tokio::spawn(async move {
            for n in 0..1_000 {
                let sent = client
                    .post(&url)
                    .bearer_auth(TOKEN)
                    .json(&json!({"eventType": "load.test", "payload": {"worker": worker, "n": n}}))
                    .timeout(Duration::from_secs(5))
                    .send()
                    .await;
                match sent {
                    Ok(response) if response.status() == StatusCode::ACCEPTED => {
                        let body: Value = response.json().await.unwrap();
                        acknowledged
                            .lock()
                            .unwrap()
                            .insert(body["id"].as_str().unwrap().to_owned());
                    }
                    _ => break,
                }
            }
        }));
    }
    // Kill once a few hundred are in, while publishing and delivery are both under way.
    loop {
        if acknowledged.lock().unwrap().len() >= 300 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    process.child.kill().expect("SIGKILL");
    process.child.wait().unwrap();
    for publisher in publishers {
        publisher.await.unwrap();
    }
    let acknowledged = acknowledged.lock().unwrap().clone();
    let delivered_before: Vec<_> = sink.drain();

    let mut restarted = spawn(&database, port);
    wait_healthy(&client, &restarted.base).await;
    let mut delivered: HashSet<String> = delivered_before
        .iter()
        .filter_map(|received| received.header("webhook-id").map(str::to_owned))
        .collect();
    let mut duplicates = delivered_before.len() - delivered.len();
    while !acknowledged.is_subset(&delivered) {
        let Some(received) = sink.next(Duration::from_secs(30)).await else {
            let missing = acknowledged.difference(&delivered).count();
            restarted.child.kill().ok();
            panic!("{missing} acknowledged messages never arrived after the restart");
        };
        let id = received.header("webhook-id").unwrap().to_owned();
        if !delivered.insert(id) {
            duplicates += 1;
        }
    }
    eprintln!(
        "crash test: {} acknowledged, {} delivered before the kill, {} duplicates",
        acknowledged.len(),
        delivered_before.len(),
        duplicates
    );
    restarted.child.kill().ok();
    restarted.child.wait().ok();
}

#[tokio::test]
async fn sigterm_finishes_the_attempt_in_flight_before_exiting() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("hookd.db").display());
    let port = free_port();
    // The receiver takes a second to answer, so the attempt is in flight at SIGTERM.
    let mut sink = TestSink::start_with(hookd_test_support::Script {
        statuses: vec![200],
        headers: Vec::new(),
        delay: Duration::from_secs(1),
    })
    .await;
    let client = reqwest::Client::new();
    let mut process = spawn(&database, port);
    wait_healthy(&client, &process.base).await;
    let call = |method: reqwest::Method, path: String, body: Option<Value>| {
        let mut request = client
            .request(method, format!("{}{path}", process.base))
            .bearer_auth(TOKEN);
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send()
    };
    let app: Value = call(
        reqwest::Method::POST,
        "/api/v1/app".into(),
        Some(json!({"name": "term"})),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let app_id = app["id"].as_str().unwrap().to_owned();
    call(
        reqwest::Method::POST,
        format!("/api/v1/app/{app_id}/endpoint"),
        Some(json!({"url": sink.url("/")})),
    )
    .await
    .unwrap();
    let message: Value = call(
        reqwest::Method::POST,
        format!("/api/v1/app/{app_id}/msg"),
        Some(json!({"eventType": "a.b", "payload": {}})),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    sink.next(Duration::from_secs(10))
        .await
        .expect("the attempt started");
    let status = Command::new("kill")
        .args(["-TERM", &process.child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = tokio::task::spawn_blocking(move || process.child.wait().unwrap())
        .await
        .unwrap();
    assert!(exit.success(), "graceful shutdown exits 0, got {exit:?}");

    // After a restart, the attempt that was in flight is recorded as a success and
    // nothing is sent again.
    let restarted = spawn(&database, port);
    wait_healthy(&client, &restarted.base).await;
    let msg_id = message["id"].as_str().unwrap();
    let attempts: Value = client
        .get(format!(
            "{}/api/v1/app/{app_id}/attempt/msg/{msg_id}",
            restarted.base
        ))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let mut restarted = restarted;
    assert_eq!(attempts["data"].as_array().unwrap().len(), 1, "{attempts}");
    assert_eq!(attempts["data"][0]["responseStatusCode"], 200);
    assert!(
        sink.next(Duration::from_millis(500)).await.is_none(),
        "no second delivery"
    );
    restarted.child.kill().ok();
    restarted.child.wait().ok();
}
