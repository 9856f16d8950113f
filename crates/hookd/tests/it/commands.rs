//! Commands as destinations (issue #5 item 6): endpoints whose URL is `command://NAME`
//! run a command from the config file, with the payload on stdin and chosen fields in
//! the environment; the exit code and output are the attempt's result.

use std::path::{Path, PathBuf};

use reqwest::StatusCode;
use serde_json::{json, Value};

use crate::support::{Options, TestServer};

/// A temp dir holding shell scripts and a config file declaring them as commands.
struct Commands {
    dir: tempfile::TempDir,
}

impl Commands {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes `script` and returns its path. Commands run it as `/bin/sh SCRIPT`, so the
    /// file is never executed while another test thread may hold it open for writing.
    fn script(&self, name: &str, script: &str) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, format!("#!/bin/sh\n{script}\n")).expect("write script");
        path
    }

    /// Writes the config file with `tables` (TOML) and returns its path.
    fn config(&self, tables: &str) -> PathBuf {
        let path = self.path("hookd.toml");
        std::fs::write(&path, tables).expect("write config");
        path
    }
}

async fn server_with(config: PathBuf, retry_schedule: &'static str) -> TestServer {
    TestServer::start_with(Options {
        config: Some(config),
        retry_schedule,
        ..Options::default()
    })
    .await
}

/// Waits until the message has `count` attempts whose status is final, and returns them
/// oldest first.
async fn attempts(server: &TestServer, app: &str, msg_id: &str, count: usize) -> Vec<Value> {
    let body = server
        .eventually(&format!("/api/v1/app/{app}/attempt/msg/{msg_id}"), |body| {
            body["data"]
                .as_array()
                .is_some_and(|data| data.len() >= count)
        })
        .await;
    let mut data = body["data"].as_array().expect("data").clone();
    data.reverse();
    data
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

#[tokio::test]
async fn a_published_message_runs_the_command_with_its_payload_and_environment() {
    let commands = Commands::new();
    let out = commands.path("out.txt");
    let script = commands.script(
        "record.sh",
        "cat >> \"$1\"; printf '\\nREF=%s REPO=%s MSG=%s TYPE=%s APP=%s EVENT=%s TOKEN=%s\\n' \
         \"$REF\" \"$REPO\" \"$HOOKD_MSG_ID\" \"$HOOKD_EVENT_TYPE\" \"$HOOKD_APP_ID\" \
         \"$HOOKD_EVENT_ID\" \"${HOOKD_ADMIN_TOKEN:-none}\" >> \"$1\"; echo recorded",
    );
    let config = commands.config(&format!(
        "[commands.record]\nargv = [\"/bin/sh\", {script:?}, {out:?}]\ntimeout = \"10s\"\n\
         env = {{ REF = \"/ref\", REPO = \"/repository/full_name\" }}\n",
    ));
    let server = server_with(config, "50ms").await;
    let app = server.app("ci").await;
    let endpoint = server
        .endpoint(&app, json!({"url": "command://record"}))
        .await;
    let msg_id = server
        .publish(
            &app,
            json!({"eventType": "push", "eventId": "evt-1",
                   "payload": {"ref": "refs/heads/main", "repository": {"full_name": "o/r"}, "é": 1}}),
        )
        .await;
    let attempts = attempts(&server, &app, &msg_id, 1).await;
    assert_eq!(attempts[0]["responseStatusCode"], 200, "{}", attempts[0]);
    assert_eq!(attempts[0]["status"], 0, "{}", attempts[0]);
    assert_eq!(attempts[0]["url"], "command://record");
    assert_eq!(attempts[0]["endpointId"], endpoint.as_str());
    assert_eq!(attempts[0]["response"], "recorded\n");
    let written = read(&out);
    let (payload, env) = written.split_once('\n').expect("payload then env");
    assert_eq!(
        payload,
        r#"{"ref":"refs/heads/main","repository":{"full_name":"o/r"},"é":1}"#
    );
    assert_eq!(
        env,
        format!(
            "REF=refs/heads/main REPO=o/r MSG={msg_id} TYPE=push APP={app} EVENT=evt-1 TOKEN=none\n"
        )
    );
    server.stop().await;
}

#[tokio::test]
async fn a_failing_command_is_retried_and_its_output_is_in_the_attempt() {
    let commands = Commands::new();
    let script = commands.script("fail.sh", "echo to stdout; echo to stderr >&2; exit 3");
    let config = commands.config(&format!(
        "[commands.fail]\nargv = [\"/bin/sh\", {script:?}]\n"
    ));
    let server = server_with(config, "50ms,50ms").await;
    let app = server.app("ci").await;
    server
        .endpoint(&app, json!({"url": "command://fail"}))
        .await;
    let msg_id = server
        .publish(&app, json!({"eventType": "push", "payload": {}}))
        .await;
    let attempts = attempts(&server, &app, &msg_id, 3).await;
    assert_eq!(attempts.len(), 3);
    for attempt in &attempts {
        assert_eq!(attempt["responseStatusCode"], 3, "{attempt}");
        assert_eq!(attempt["status"], 2, "{attempt}");
        assert_eq!(attempt["response"], "to stdout\nto stderr\n", "{attempt}");
    }
    server.stop().await;
}

#[tokio::test]
async fn a_command_past_its_timeout_is_killed_with_what_it_started() {
    let commands = Commands::new();
    let late = commands.path("late.txt");
    // The background child is in the command's process group: the timeout kills it too,
    // so it never writes.
    let script = commands.script(
        "hang.sh",
        &format!("echo started; (sleep 1; echo late > {late:?}) & sleep 30"),
    );
    let config = commands.config(&format!(
        "[commands.hang]\nargv = [\"/bin/sh\", {script:?}]\ntimeout = \"300ms\"\n"
    ));
    let server = server_with(config, "50ms").await;
    let app = server.app("ci").await;
    server
        .endpoint(&app, json!({"url": "command://hang"}))
        .await;
    let msg_id = server
        .publish(&app, json!({"eventType": "push", "payload": {}}))
        .await;
    let attempts = attempts(&server, &app, &msg_id, 2).await;
    for attempt in &attempts {
        assert_eq!(attempt["responseStatusCode"], 0, "{attempt}");
        assert_eq!(attempt["status"], 2, "{attempt}");
        let response = attempt["response"].as_str().expect("response");
        assert!(
            response.starts_with("command timed out after 300 ms")
                && response.ends_with("started\n"),
            "{response}"
        );
    }
    // An absence can only be checked after the moment the child would have written.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert!(!late.exists(), "the timed-out command's child kept running");
    server.stop().await;
}

#[tokio::test]
async fn concurrency_one_runs_messages_one_at_a_time_in_arrival_order() {
    let commands = Commands::new();
    let log = commands.path("log.txt");
    let script = commands.script(
        "serial.sh",
        &format!(
            "echo \"start $HOOKD_MSG_ID\" >> {log:?}; sleep 0.3; echo \"end $HOOKD_MSG_ID\" >> {log:?}"
        ),
    );
    let config = commands.config(&format!(
        "[commands.serial]\nargv = [\"/bin/sh\", {script:?}]\nconcurrency = 1\n"
    ));
    let server = server_with(config, "50ms").await;
    let app = server.app("ci").await;
    server
        .endpoint(&app, json!({"url": "command://serial"}))
        .await;
    let mut msg_ids = Vec::new();
    for index in 0..3 {
        msg_ids.push(
            server
                .publish(&app, json!({"eventType": "push", "payload": {"n": index}}))
                .await,
        );
    }
    for msg_id in &msg_ids {
        let attempts = attempts(&server, &app, msg_id, 1).await;
        assert_eq!(attempts[0]["responseStatusCode"], 200, "{}", attempts[0]);
    }
    let expected: Vec<String> = msg_ids
        .iter()
        .flat_map(|id| [format!("start {id}"), format!("end {id}")])
        .collect();
    let lines: Vec<String> = read(&log).lines().map(str::to_owned).collect();
    assert_eq!(lines, expected, "runs overlapped or ran out of order");
    server.stop().await;
}

#[tokio::test]
async fn an_endpoint_naming_an_unconfigured_command_is_refused() {
    let commands = Commands::new();
    let script = commands.script("ok.sh", "exit 0");
    let config = commands.config(&format!(
        "[commands.deploy]\nargv = [\"/bin/sh\", {script:?}]\n"
    ));
    let server = server_with(config, "50ms").await;
    let app = server.app("ci").await;
    for url in ["command://nope", "command://", "command://de/ploy"] {
        let (status, body) = server
            .post(&format!("/api/v1/app/{app}/endpoint"), json!({"url": url}))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{url}: {body}");
        assert!(
            body["detail"].as_str().unwrap_or_default().contains("url"),
            "{body}"
        );
    }
    let endpoint = server
        .endpoint(&app, json!({"url": "command://deploy"}))
        .await;
    let (status, body) = server
        .call(
            reqwest::Method::PATCH,
            &format!("/api/v1/app/{app}/endpoint/{endpoint}"),
            Some(json!({"url": "command://other"})),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    // Other schemes are still refused exactly as before.
    let (status, body) = server
        .post(
            &format!("/api/v1/app/{app}/endpoint"),
            json!({"url": "file:///etc/passwd"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    server.stop().await;
}
