//! `hookd send`, run as the real binary against a real receiver: the event it fires
//! verifies with the `standardwebhooks` crate (and with GitHub's rules for `--scheme
//! github`), it prints the request and the answer, and its exit code follows the answer.

use std::time::Duration;

use hookd_core::inbound::github;
use hookd_test_support::TestSink;

async fn hookd_send(args: &[&str]) -> std::process::Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_hookd"))
        .arg("send")
        .args(args)
        .output()
        .await
        .expect("hookd runs")
}

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

#[tokio::test]
async fn a_sent_event_verifies_with_standard_webhooks_and_the_answer_is_printed() {
    let mut sink = TestSink::start(&[200]).await;
    let url = sink.url("/hook");
    let output = hookd_send(&[
        &url,
        "--secret",
        SECRET,
        "--event-type",
        "invoice.paid",
        "--data",
        r#"{"b": 1, "a": "é"}"#,
        "-H",
        "X-Tenant: acme",
    ])
    .await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{stdout}");
    let received = sink.next(Duration::from_secs(10)).await.expect("delivered");
    assert_eq!(&received.body[..], r#"{"b":1,"a":"é"}"#.as_bytes());
    assert_eq!(received.header("x-tenant"), Some("acme"));
    let mut headers = http::HeaderMap::new();
    for (name, value) in &received.headers {
        headers.insert(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            http::HeaderValue::from_str(value).unwrap(),
        );
    }
    standardwebhooks::Webhook::new(SECRET)
        .unwrap()
        .verify(&received.body, &headers)
        .expect("the standardwebhooks crate verifies what hookd send signed");
    assert!(stdout.contains("> webhook-signature: v1,"), "{stdout}");
    assert!(stdout.contains(r#"{"b":1,"a":"é"}"#), "{stdout}");
    assert!(stdout.contains("< 200 OK ("), "{stdout}");
}

#[tokio::test]
async fn the_github_scheme_signs_as_github_does_and_a_non_2xx_exits_1() {
    let mut sink = TestSink::start(&[500]).await;
    let url = sink.url("/gh");
    let output = hookd_send(&[&url, "--scheme", "github", "--secret", "gh-secret"]).await;
    assert_eq!(output.status.code(), Some(1));
    let received = sink.next(Duration::from_secs(10)).await.expect("delivered");
    let (name, value) = github::sign("gh-secret", &received.body).remove(0);
    assert_eq!(received.header(&name), Some(value.as_str()));
    let body: serde_json::Value = serde_json::from_slice(&received.body).unwrap();
    assert_eq!(body["type"], "hookd.test");
    assert!(String::from_utf8_lossy(&output.stdout).contains("< 500"));
}

#[tokio::test]
async fn without_a_secret_one_is_generated_and_printed() {
    let mut sink = TestSink::start(&[204]).await;
    let output = hookd_send(&[&sink.url("/x")]).await;
    assert_eq!(output.status.code(), Some(0));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let secret = stdout
        .lines()
        .find_map(|line| line.strip_prefix("generated secret: "))
        .expect("secret printed");
    let received = sink.next(Duration::from_secs(10)).await.expect("delivered");
    let mut headers = http::HeaderMap::new();
    for (name, value) in &received.headers {
        headers.insert(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            http::HeaderValue::from_str(value).unwrap(),
        );
    }
    standardwebhooks::Webhook::new(secret)
        .unwrap()
        .verify(&received.body, &headers)
        .expect("verifies with the printed secret");
}

#[tokio::test]
async fn unreachable_urls_and_usage_errors_have_their_exit_codes() {
    // A port nothing listens on: bind one, then free it.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    drop(listener);
    let output = hookd_send(&[&url, "--secret", SECRET]).await;
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.starts_with("hookd: could not reach"), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    for args in [
        vec![url.as_str(), "--data", "{not json"],
        vec![url.as_str(), "--scheme", "md5"],
        vec!["ftp://example.com/"],
        vec![url.as_str(), "--secret", "not-whsec"],
    ] {
        let output = hookd_send(&args).await;
        assert_eq!(output.status.code(), Some(2), "{args:?}");
    }
}
