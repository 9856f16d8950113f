//! `hookd listen` end to end: the real binary follows a real hookd (in-process, or a
//! child process that is killed and restarted) and forwards to real receivers on
//! 127.0.0.1.

use std::process::Stdio;
use std::time::Duration;

use hookd_core::inbound::{self, InboundRequest, Provider, VerifierConfig};
use hookd_test_support::TestSink;
use reqwest::StatusCode;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

use crate::support::{TestServer, TOKEN, WAIT};

/// GitHub's webhook secret for the test source.
const GITHUB_SECRET: &str = "It's a Secret to Everybody";

/// A running `hookd listen`, its stdout and stderr read line by line.
struct Listen {
    child: Child,
    stdout: mpsc::UnboundedReceiver<String>,
    stderr: mpsc::UnboundedReceiver<String>,
}

impl Listen {
    fn start(args: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_hookd"))
            .arg("listen")
            .args(args)
            .env_remove("HOOKD_TOKEN")
            .env_remove("HOOKD_ADMIN_TOKEN")
            .env_remove("HOOKD_SERVER")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("hookd listen starts");
        let stdout = lines(child.stdout.take().expect("piped stdout"));
        let stderr = lines(child.stderr.take().expect("piped stderr"));
        Self {
            child,
            stdout,
            stderr,
        }
    }

    /// The next stdout line that `wanted` accepts (earlier ones are skipped).
    async fn stdout_line(&mut self, wanted: impl Fn(&str) -> bool) -> String {
        next_line(&mut self.stdout, wanted, "stdout").await
    }

    async fn stderr_line(&mut self, wanted: impl Fn(&str) -> bool) -> String {
        next_line(&mut self.stderr, wanted, "stderr").await
    }

    /// Sends SIGINT (what Ctrl-C sends) and returns the exit status.
    async fn interrupt(mut self) -> std::process::ExitStatus {
        let pid = self.child.id().expect("still running").to_string();
        let sent = Command::new("kill")
            .args(["-INT", &pid])
            .status()
            .await
            .unwrap();
        assert!(sent.success());
        tokio::time::timeout(WAIT, self.child.wait())
            .await
            .expect("hookd listen exits after Ctrl-C")
            .unwrap()
    }
}

fn lines(
    stream: impl tokio::io::AsyncRead + Unpin + Send + 'static,
) -> mpsc::UnboundedReceiver<String> {
    let (sender, receiver) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut reader = BufReader::new(stream).lines();
        while let Ok(Some(line)) = reader.next_line().await {
            if sender.send(line).is_err() {
                return;
            }
        }
    });
    receiver
}

async fn next_line(
    lines: &mut mpsc::UnboundedReceiver<String>,
    wanted: impl Fn(&str) -> bool,
    which: &str,
) -> String {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match tokio::time::timeout_at(deadline, lines.recv()).await {
            Ok(Some(line)) if wanted(&line) => return line,
            Ok(Some(_)) => {}
            Ok(None) => panic!("hookd listen closed its {which} before the line expected"),
            Err(_) => panic!("hookd listen never printed the expected line on {which}"),
        }
    }
}

/// A hookd server as a child process, killed with SIGKILL when dropped.
struct ServerProcess {
    child: std::process::Child,
    base: String,
}

impl ServerProcess {
    async fn start(database: &str, port: u16) -> Self {
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_hookd"))
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .args(["--database", database, "--admin-token", TOKEN])
            .env("HOOKD_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("hookd serve starts");
        let server = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        let client = reqwest::Client::new();
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let Ok(response) = client
                .get(format!("{}/api/v1/health", server.base))
                .send()
                .await
            {
                if response.status() == StatusCode::OK {
                    return server;
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "hookd at {} never became healthy",
                server.base
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let response = reqwest::Client::new()
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

    /// What GitHub would send for `body`, to the source `gh`; returns the headers sent.
    async fn github_delivery(&self, delivery: &str, body: &[u8]) -> Vec<(String, String)> {
        let mut headers = inbound::github::sign(GITHUB_SECRET, body);
        headers.push(("x-github-event".into(), "issues".into()));
        headers.push(("x-github-delivery".into(), delivery.into()));
        headers.push(("content-type".into(), "application/json".into()));
        headers.push(("user-agent".into(), "GitHub-Hookshot/044aadd".into()));
        let mut request = reqwest::Client::new()
            .post(format!("{}/in/gh", self.base))
            .body(body.to_vec());
        for (name, value) in &headers {
            request = request.header(name, value);
        }
        let response = request.send().await.unwrap();
        assert_eq!(
            response.status(),
            StatusCode::OK,
            "GitHub's delivery is accepted"
        );
        headers
    }
}

impl Drop for ServerProcess {
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

/// The body GitHub sends: pretty-printed, keys in GitHub's order. Forwarding must keep
/// these exact bytes, or the signature no longer matches.
fn github_body(n: u32) -> Vec<u8> {
    format!("{{\n  \"action\": \"opened\",\n  \"issue\": {{\"number\": {n}, \"title\": \"caf\u{e9} #{n}\"}},\n  \"zen\": \"Keep it logically awesome.\"\n}}")
        .into_bytes()
}

#[tokio::test]
async fn listen_source_forwards_provider_signed_requests_across_a_server_restart() {
    let dir = tempfile::tempdir().unwrap();
    let database = format!("sqlite://{}", dir.path().join("hookd.db").display());
    let port = free_port();
    let server = ServerProcess::start(&database, port).await;
    let app = server.post("/api/v1/app", json!({"name": "Repo"})).await;
    server
        .post(
            "/api/v1/source",
            json!({"name": "GitHub", "uid": "gh", "provider": "github",
                   "secret": GITHUB_SECRET, "appId": app["id"]}),
        )
        .await;
    let mut sink = TestSink::start(&[200]).await;
    let mut listen = Listen::start(&[
        "--forward-to",
        &sink.url("/webhooks/github"),
        "--server",
        &server.base,
        "--token",
        TOKEN,
        "--source",
        "gh",
    ]);
    let ready = listen.stdout_line(|line| line.starts_with("Ready")).await;
    assert!(
        ready.contains("source gh") && ready.contains("/webhooks/github"),
        "{ready}"
    );

    let body = github_body(1);
    let sent = server.github_delivery("delivery-1", &body).await;
    let received = sink
        .next(WAIT)
        .await
        .expect("the request reaches the local app");
    assert_eq!(received.path, "/webhooks/github");
    assert_eq!(
        received.body.as_ref(),
        body.as_slice(),
        "the provider's bytes, intact"
    );
    for (name, value) in &sent {
        assert_eq!(received.header(name), Some(value.as_str()), "header {name}");
    }
    // The local app checks GitHub's own signature, as it would in production.
    let headers: Vec<(String, String)> = received
        .headers
        .iter()
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect();
    let request = InboundRequest {
        method: "POST",
        url: "http://localhost/webhooks/github",
        headers: &headers,
        body: &received.body,
    };
    inbound::verify(
        &VerifierConfig::new(Provider::Github, vec![GITHUB_SECRET.into()]),
        &request,
        chrono::Utc::now().timestamp(),
    )
    .expect("GitHub's signature verifies on the forwarded request");
    let line = listen.stdout_line(|line| line.contains("200 OK")).await;
    assert!(line.contains("issues.opened"), "{line}");

    // The server dies. While it is down for listen, requests 2 and 3 are committed (by
    // a hookd on the same database on another port, so listen cannot have seen them
    // live); then the server comes back where listen expects it.
    server.kill();
    listen
        .stderr_line(|line| line.contains("lost the connection"))
        .await;
    let other = ServerProcess::start(&database, free_port()).await;
    let meanwhile = [github_body(2), github_body(3)];
    other.github_delivery("delivery-2", &meanwhile[0]).await;
    other.github_delivery("delivery-3", &meanwhile[1]).await;
    other.kill();
    let server = ServerProcess::start(&database, port).await;
    listen
        .stderr_line(|line| line.contains("reconnected"))
        .await;
    for expected in &meanwhile {
        let received = sink
            .next(WAIT)
            .await
            .expect("what arrived meanwhile is forwarded");
        assert_eq!(received.body.as_ref(), expected.as_slice());
    }
    // And live again. A message published straight into the application is not the
    // source's, and is not forwarded. Forwarding is in order, so a repeat of 1, 2 or 3
    // (or that message) would have arrived before 4: each was forwarded once.
    server
        .post(
            &format!("/api/v1/app/{}/msg", app["id"].as_str().unwrap()),
            json!({"eventType": "not.from.github", "payload": {}}),
        )
        .await;
    let body = github_body(4);
    server.github_delivery("delivery-4", &body).await;
    let received = sink.next(WAIT).await.expect("live after the restart");
    assert_eq!(received.body.as_ref(), body.as_slice());
    assert!(sink.drain().is_empty());

    assert!(listen.interrupt().await.success(), "Ctrl-C exits cleanly");
}

#[tokio::test]
async fn listen_app_signs_with_the_printed_secret_and_waits_for_a_local_app_that_is_down() {
    let server = TestServer::start().await;
    let app = server.app("Acme").await;
    // Nothing listens on the local port yet.
    let local = std::net::SocketAddr::from(([127, 0, 0, 1], free_port()));
    let forward_to = format!("http://{local}/hook");
    let mut listen = Listen::start(&[
        "--forward-to",
        &forward_to,
        "--server",
        &server.base,
        "--token",
        TOKEN,
        "--app",
        &app,
    ]);
    let secret_line = listen
        .stdout_line(|line| line.starts_with("Local signing secret:"))
        .await;
    let secret = secret_line
        .split_whitespace()
        .find(|word| word.starts_with("whsec_"))
        .expect("the secret is printed")
        .to_owned();
    listen.stdout_line(|line| line.starts_with("Ready")).await;

    let msg_id = server
        .publish(
            &app,
            json!({"eventType": "invoice.paid", "payload": {"z": 1, "a": {"amount": 1200}}}),
        )
        .await;
    let down = listen
        .stdout_line(|line| line.contains("unreachable"))
        .await;
    assert!(
        down.contains("invoice.paid") && down.contains("retrying in"),
        "{down}"
    );

    // The local app comes up, answers 503 once, then 200: listen keeps the event until
    // it is taken.
    let mut sink = TestSink::start_at(local, &[503, 200]).await;
    let first = sink
        .next(WAIT)
        .await
        .expect("the event, once the app is up");
    let second = sink
        .next(WAIT)
        .await
        .expect("the event again after the 503");
    for received in [&first, &second] {
        assert_eq!(received.header("webhook-id"), Some(msg_id.as_str()));
        assert_eq!(received.body.as_ref(), br#"{"z":1,"a":{"amount":1200}}"#);
    }
    let mut headers = http::HeaderMap::new();
    for name in ["webhook-id", "webhook-timestamp", "webhook-signature"] {
        headers.insert(name, second.header(name).unwrap().parse().unwrap());
    }
    standardwebhooks::Webhook::new(&secret)
        .unwrap()
        .verify(&second.body, &headers)
        .expect("the Standard Webhooks library verifies it with the printed secret");
    let retried = listen.stdout_line(|line| line.contains("503")).await;
    assert!(retried.contains("retrying in"), "{retried}");
    let ok = listen.stdout_line(|line| line.contains("200 OK")).await;
    assert!(ok.contains("invoice.paid") && ok.contains(&msg_id), "{ok}");

    // The secret is the same on the next start.
    assert!(listen.interrupt().await.success());
    let mut again = Listen::start(&[
        "--forward-to",
        &forward_to,
        "--server",
        &server.base,
        "--token",
        TOKEN,
        "--app",
        &app,
    ]);
    let repeated = again
        .stdout_line(|line| line.starts_with("Local signing secret:"))
        .await;
    assert_eq!(repeated, secret_line);
}

/// Runs `hookd listen` to its end and returns (exit code, stdout, stderr).
async fn run_to_end(args: &[&str]) -> (Option<i32>, String, String) {
    let output = tokio::time::timeout(
        WAIT,
        Command::new(env!("CARGO_BIN_EXE_hookd"))
            .arg("listen")
            .args(args)
            .env_remove("HOOKD_TOKEN")
            .env_remove("HOOKD_ADMIN_TOKEN")
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("hookd listen exits by itself")
    .unwrap();
    (
        output.status.code(),
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap(),
    )
}

#[tokio::test]
async fn listen_exits_with_one_line_on_a_bad_token_an_unreachable_server_or_bad_flags() {
    let server = TestServer::start().await;
    let app = server.app("Acme").await;

    let (code, stdout, stderr) = run_to_end(&[
        "--forward-to",
        "http://127.0.0.1:9/hook",
        "--server",
        &server.base,
        "--token",
        "not-the-token",
        "--app",
        &app,
    ])
    .await;
    assert_eq!(code, Some(1));
    assert_eq!(stdout, "");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("refused the token"), "{stderr}");

    let (code, _, stderr) = run_to_end(&[
        "--forward-to",
        "http://127.0.0.1:9/hook",
        "--server",
        &server.base,
        "--token",
        TOKEN,
        "--source",
        "no-such-source",
    ])
    .await;
    assert_eq!(code, Some(1));
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("404") && stderr.contains("not found"),
        "{stderr}"
    );

    // The source stream is WebSocket only.
    let (status, _) = server
        .post(
            "/api/v1/source",
            json!({"name": "GitHub", "uid": "gh", "provider": "github",
                   "secret": GITHUB_SECRET, "appId": app}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, body) = server.get("/api/v1/source/gh/stream").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["code"], "bad_request");

    let nobody = format!("http://127.0.0.1:{}", free_port());
    let (code, stdout, stderr) = run_to_end(&[
        "--forward-to",
        "http://127.0.0.1:9/hook",
        "--server",
        &nobody,
        "--token",
        TOKEN,
        "--app",
        &app,
    ])
    .await;
    assert_eq!(code, Some(1));
    assert_eq!(stdout, "");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("cannot reach the hookd server"), "{stderr}");

    for flags in [
        vec![
            "--forward-to",
            "http://127.0.0.1:9/hook",
            "--app",
            "a",
            "--sign",
            "nope",
        ],
        vec!["--forward-to", "ftp://x/y", "--app", "a"],
    ] {
        let (code, _, stderr) = run_to_end(&flags).await;
        assert_eq!(code, Some(2), "{flags:?}");
        assert_eq!(stderr.lines().count(), 1, "{flags:?}: {stderr}");
    }
    let (code, _, stderr) = run_to_end(&[
        "--forward-to",
        "http://127.0.0.1:9/hook",
        "--app",
        "a",
        "--source",
        "s",
    ])
    .await;
    assert_eq!(code, Some(2));
    assert!(stderr.contains("cannot be used with"), "{stderr}");
}

#[tokio::test]
async fn listen_source_with_sign_re_signs_with_the_local_secret() {
    let server = TestServer::start().await;
    let app = server.app("Repo").await;
    let (status, _) = server
        .post(
            "/api/v1/source",
            json!({"name": "GitHub", "uid": "gh", "provider": "github",
                   "secret": GITHUB_SECRET, "appId": app}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let mut sink = TestSink::start(&[200]).await;
    let local_secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let mut listen = Listen::start(&[
        "--forward-to",
        &sink.url("/hook"),
        "--server",
        &server.base,
        "--token",
        TOKEN,
        "--source",
        "gh",
        "--sign",
        local_secret,
    ]);
    listen.stdout_line(|line| line.starts_with("Ready")).await;

    let body = github_body(7);
    let mut request = server
        .client
        .post(format!("{}/in/gh", server.base))
        .body(body.clone());
    for (name, value) in inbound::github::sign(GITHUB_SECRET, &body) {
        request = request.header(name, value);
    }
    let answer = request
        .header("x-github-event", "issues")
        .header("x-github-delivery", "delivery-7")
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    let msg_id = answer.json::<Value>().await.unwrap()["msgId"]
        .as_str()
        .unwrap()
        .to_owned();

    let received = sink
        .next(WAIT)
        .await
        .expect("the request reaches the local app");
    assert_eq!(received.body.as_ref(), body.as_slice());
    assert_eq!(received.header("webhook-id"), Some(msg_id.as_str()));
    assert!(received.header("x-hub-signature-256").is_some());
    let mut headers = http::HeaderMap::new();
    for name in ["webhook-id", "webhook-timestamp", "webhook-signature"] {
        headers.insert(name, received.header(name).unwrap().parse().unwrap());
    }
    standardwebhooks::Webhook::new(local_secret)
        .unwrap()
        .verify(&received.body, &headers)
        .expect("re-signed with the local secret");
}

#[tokio::test]
async fn listen_without_source_or_app_forwards_what_a_new_bin_captures() {
    let server = TestServer::start().await;
    let mut sink = TestSink::start(&[200]).await;
    let mut listen = Listen::start(&[
        "--forward-to",
        &sink.url("/local"),
        "--server",
        &server.base,
        "--token",
        TOKEN,
    ]);
    let bin_line = listen
        .stdout_line(|line| line.starts_with("Bin URL:"))
        .await;
    let bin_url = bin_line
        .split_whitespace()
        .nth(2)
        .expect("the bin URL is printed")
        .to_owned();
    assert!(
        bin_url.starts_with(&format!("{}/b/bin_", server.base)),
        "{bin_line}"
    );
    listen.stdout_line(|line| line.starts_with("Ready")).await;

    // What a provider sends: any method, a path below the bin, a binary body.
    let body: Vec<u8> = vec![0x00, 0x9f, 0x92, 0x96, 0xff, b'\n'];
    let answer = server
        .client
        .put(format!("{bin_url}/orders/7?x=1"))
        .header("content-type", "application/octet-stream")
        .header("x-provider-signature", "t=1,v1=abc")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert!(answer.status().is_success(), "{}", answer.status());
    let received = sink
        .next(WAIT)
        .await
        .expect("the captured request is forwarded");
    assert_eq!(received.path, "/local/orders/7");
    assert_eq!(
        received.body.as_ref(),
        body.as_slice(),
        "binary body intact"
    );
    assert_eq!(received.header("x-provider-signature"), Some("t=1,v1=abc"));
    assert_eq!(
        received.header("content-type"),
        Some("application/octet-stream")
    );
    let line = listen.stdout_line(|line| line.contains("200 OK")).await;
    assert!(line.contains("PUT /orders/7"), "{line}");
    assert!(listen.interrupt().await.success());
}
