//! Code nobody here wrote, run against hookd: the Standard Webhooks and Svix Python
//! libraries verify what hookd signs, the official Svix Python SDK drives the API, and
//! schemathesis checks the API against its OpenAPI document.
//!
//! These need the peer virtualenv that `.ci/run` builds (`.venv-peers/` in the workspace)
//! and the peers folder (`../shared/peers`). `HOOKD_PEERS_PYTHON` and `HOOKD_PEERS_DIR`
//! override both paths. Without them the tests skip locally, and fail under `CI`.

use std::path::PathBuf;
use std::process::Command;

use hookd_test_support::TestSink;
use serde_json::{json, Value};

use crate::support::{TestServer, TOKEN, WAIT};

struct Peers {
    python: PathBuf,
    dir: PathBuf,
}

fn peers() -> Option<Peers> {
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let python = std::env::var_os("HOOKD_PEERS_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace.join(".venv-peers/bin/python"));
    let dir = std::env::var_os("HOOKD_PEERS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace.join("../shared/peers"));
    match (python.exists(), dir.exists()) {
        (true, true) => Some(Peers { python, dir }),
        _ if std::env::var_os("CI").is_some() => {
            panic!(
                "peer clients missing under CI: {} / {} (.ci/run installs them)",
                python.display(),
                dir.display()
            )
        }
        _ => {
            eprintln!(
                "skipping peer test: no {} (run .ci/run once to install the peers)",
                python.display()
            );
            None
        }
    }
}

impl Peers {
    /// Runs `<peer>.py verify`; true when the library accepts the request.
    fn verifies(&self, peer: &str, secret: &str, body: &[u8], headers: &Value) -> bool {
        let scratch = tempfile::tempdir().unwrap();
        let body_file = scratch.path().join("body");
        let headers_file = scratch.path().join("headers.json");
        std::fs::write(&body_file, body).unwrap();
        std::fs::write(&headers_file, headers.to_string()).unwrap();
        let output = Command::new(&self.python)
            .arg(self.dir.join("python").join(format!("{peer}.py")))
            .args(["verify", "--secret", secret])
            .arg("--body-file")
            .arg(&body_file)
            .arg("--headers-file")
            .arg(&headers_file)
            .output()
            .expect("the peer python runs");
        match output.status.code() {
            Some(0) => true,
            Some(1) => false,
            other => panic!(
                "{peer} failed to run ({other:?}): {}",
                String::from_utf8_lossy(&output.stderr)
            ),
        }
    }
}

#[tokio::test]
async fn standard_webhooks_and_svix_libraries_verify_hookd_signatures() {
    let Some(peers) = peers() else { return };
    let server = TestServer::start().await;
    let mut sink = TestSink::start(&[200]).await;
    let app = server.app("Peers").await;
    let endpoint = server.endpoint(&app, json!({"url": sink.url("/")})).await;
    // Rotate once, so the header carries two signatures as during a real rotation.
    let old = server.secret(&app, &endpoint).await;
    server
        .post(
            &format!("/api/v1/app/{app}/endpoint/{endpoint}/secret/rotate"),
            json!({}),
        )
        .await;
    let new = server.secret(&app, &endpoint).await;
    server
        .publish(
            &app,
            json!({"eventType": "peer.check", "payload": {"name": "Zoë", "n": 1}}),
        )
        .await;
    let received = sink.next(WAIT).await.expect("delivery");
    let headers: Value = ["webhook-id", "webhook-timestamp", "webhook-signature"]
        .iter()
        .map(|name| (name.to_string(), json!(received.header(name).unwrap())))
        .collect::<serde_json::Map<_, _>>()
        .into();
    for peer in ["standardwebhooks_peer", "svix_peer"] {
        for secret in [&old, &new] {
            assert!(
                peers.verifies(peer, secret, &received.body, &headers),
                "{peer} rejects hookd's signature"
            );
        }
        let mut tampered = received.body.to_vec();
        tampered[2] ^= 1;
        assert!(
            !peers.verifies(peer, &new, &tampered, &headers),
            "{peer} accepts a tampered body"
        );
    }
    server.stop().await;
}

#[tokio::test]
async fn the_official_svix_python_sdk_drives_hookd() {
    let Some(peers) = peers() else { return };
    let server = TestServer::start().await;
    let mut sink = TestSink::start(&[200]).await;
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/it/svix_sdk_client.py");
    // N.B.: the server runs on this test's runtime, so the SDK must not block it.
    let output = tokio::process::Command::new(&peers.python)
        .arg(&script)
        .args([&server.base, TOKEN, &sink.url("/sdk")])
        .output()
        .await
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "SDK script failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .expect("the script prints JSON last");
    let received = sink
        .next(WAIT)
        .await
        .expect("the SDK's message is delivered");
    assert_eq!(received.header("webhook-id"), report["msg_id"].as_str());
    assert!(report["secret"].as_str().unwrap().starts_with("whsec_"));
    assert!(report["attempts"].as_u64().unwrap() >= 1, "{report}");
    assert_eq!(
        report["app_again_id"], report["app_id"],
        "get_or_create returned the same app"
    );
    assert_eq!(report["expunged"], true, "{report}");
    assert_eq!(report["destinations"], json!([report["endpoint_id"]]));
    assert_eq!(report["attempt_response"], "EXPUNGED");
    let replayed = sink
        .next(WAIT)
        .await
        .expect("the replay reaches the endpoint made after the message");
    assert_eq!(replayed.path, "/sdk-late");
    assert_eq!(replayed.header("webhook-id"), report["msg_id"].as_str());
    let ping = sink.next(WAIT).await.expect("the ping arrives");
    assert_eq!(ping.path, "/sdk");
    assert_eq!(ping.header("webhook-id"), report["ping_id"].as_str());
    server.stop().await;
}

/// schemathesis generates thousands of requests from the OpenAPI document, well-formed and
/// not, alone and in sequences that follow the answers' ids, and checks every answer
/// against the document with all its checks: no 5xx, only documented statuses, content
/// types and headers, answers that match their schemas, every request the document calls
/// valid accepted and every one it calls invalid refused, 401 without the token, 405 for
/// methods the document does not list, a resource just created not a 404 and one deleted
/// gone.
///
/// The sequences (the stateful phase) follow the document's links, from each answer that
/// carries an id to the operations that take it, so that they work on applications,
/// endpoints, messages, sources and bins that exist. schemathesis's own inferred links are
/// off (some 300, guessed from field names, they crowded out the document's 65).
/// Scenarios may run to 50 steps, as deep chains (application, endpoint, message,
/// attempts, resend) need many, and are capped at 300; Hypothesis ends the phase sooner,
/// after some 20 to 60 scenarios and 5 to 12 seconds, so the whole test takes about a
/// minute (and 40 to 50 seconds on a quiet machine).
///
/// Relaxed on purpose, each for one operation:
/// - For `POST …/secret/rotate` only, `negative_data_rejection` also takes a 200. The
///   document states the rule of the `standard` and `svix` schemes for `key` (a Standard
///   Webhooks secret; a malformed one is a 422, as Svix answers), but an endpoint on one
///   of hookd's raw-key schemes takes any non-empty key: which rule applies depends on
///   the endpoint, which a request schema cannot say.
/// - For `POST /b/{bin_id}` only, `not_a_server_error` and `positive_data_acceptance`
///   take any status: a bin answers with the status it was made with (a bin answering 503
///   is how a sender's retries are tested), not with one that judges the request. The
///   document says so: its answer is `default`, any status.
/// - For `POST …/bin/{bin_id}/request/{request_id}/replay` only, `not_a_server_error`
///   takes a 502: the URL is the caller's, and one that does not answer (the fuzzer's
///   made-up host names) is a 502 `replay_failed`, as documented.
/// - For `POST /api/v1/app/{app_id}/msg`, in the fuzzing and stateful phases only,
///   `positive_data_acceptance` takes a 422: a payload is checked against its event
///   type's JSON Schema, and by then the fuzzer has written event types of its own names
///   and schemas; which payloads a stored schema admits is data, not document. The
///   coverage phase, which publishes before any event type exists, stays strict.
/// - For `POST …/endpoint/{endpoint_id}/send-example`, for the same reason and in every
///   phase (event types the fuzzer made exist by the time the coverage phase reaches it):
///   whether the named event type has an example (a 422 if not) is stored data.
/// - For `GET /api/v1/source/{source_id}/stream` only, `positive_data_acceptance` also
///   takes a 400: the stream is WebSocket only, and a request that is not an upgrade is a
///   400, as documented. OpenAPI cannot describe the handshake, so no request the fuzzer
///   sends is one; only a real source id (from a link) gets that far.
/// - For `POST /in/{source_id}` only, `positive_data_acceptance` also takes a 413: a
///   source may set its own body limit (`bodyLimit`, down to 1 byte), and only a real
///   source (from a link) has one; it is stored data, which the document cannot know.
///
/// And, in `schemathesis_hooks.py`, where the configuration cannot be that narrow (it can
/// neither pick values apart nor scope a check of the stateful phase to one operation):
/// - ST301 ("deleted resource still available") is dropped for event types:
///   `DELETE /api/v1/event-type/{name}` archives the event type, as Svix does (a GET still
///   answers it, with `archived: true`); only `?expunge=true` removes it.
/// - a `whsk_` 64-byte ed25519 key pair the fuzzer made up is never sent. The document
///   admits every key pair of that shape, as a real one is valid, but only the server can
///   tell that the public half is the seed's, and refuses one that is not (422); a
///   made-up one never is.
/// - nor a discord source's made-up public key that is no point of the curve (about half
///   of them): the document admits any 64 hex characters, the server refuses those (422);
///   nor a standard-webhooks or svix source's made-up `whpk_` key that is none.
/// - ST302 ("created resource not found") is dropped for two right 404s of a source
///   operation, as a source belongs to an application that is not in its path: one for
///   an unknown `appId` (the link from a new source to its PUT mostly gives the source's
///   own application, but now and then schemathesis makes one up), and one after the
///   source's application was deleted in the same scenario, which deletes its sources.
///   And for the 404 of `send-example` naming the event type of its body, not the
///   endpoint just created.
const SCHEMATHESIS_CONFIG: &str = r#"
[phases.stateful]
inference.algorithms = []
max-steps = 50
generation.max-examples = 300

[[operations]]
include-name = "POST /api/v1/app/{app_id}/endpoint/{endpoint_id}/secret/rotate"
checks.negative_data_rejection.expected-statuses = ["200", "400", "401", "403", "404", "405", "406", "409", "415", "422", "428", "429", "5xx"]

[[operations]]
include-name = "POST /api/v1/bin/{bin_id}/request/{request_id}/replay"
checks.not_a_server_error.expected-statuses = ["2xx", "3xx", "4xx", "502"]

[[operations]]
include-name = "POST /api/v1/app/{app_id}/msg"
phases.fuzzing.checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "422", "429", "5xx"]
phases.stateful.checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "422", "429", "5xx"]

[[operations]]
include-name = "POST /api/v1/app/{app_id}/endpoint/{endpoint_id}/send-example"
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "422", "429", "5xx"]

[[operations]]
include-name = "GET /api/v1/source/{source_id}/stream"
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "400", "401", "403", "404", "409", "429", "5xx"]

[[operations]]
include-name = "POST /in/{source_id}"
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "401", "403", "404", "409", "413", "429", "5xx"]

[[operations]]
include-name = "POST /b/{bin_id}"
checks.not_a_server_error.expected-statuses = ["2xx", "3xx", "4xx", "5xx"]
checks.positive_data_acceptance.expected-statuses = ["2xx", "3xx", "4xx", "5xx"]
"#;

#[tokio::test]
async fn schemathesis_finds_the_api_does_what_its_document_says() {
    let Some(peers) = peers() else { return };
    let server = TestServer::start().await;
    let schemathesis = peers.python.with_file_name("schemathesis");
    // schemathesis keeps a cache folder in its working directory; keep it out of the tree.
    let scratch = tempfile::tempdir().unwrap();
    let config = scratch.path().join("schemathesis.toml");
    std::fs::write(&config, SCHEMATHESIS_CONFIG).unwrap();
    let hooks = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/it/schemathesis_hooks.py");
    let output = tokio::process::Command::new(&schemathesis)
        .current_dir(scratch.path())
        .arg("--config-file")
        .arg(&config)
        .arg("run")
        .arg(format!("{}/api/v1/openapi.json", server.base))
        .args(["--url", &server.base])
        .args(["-H", &format!("Authorization: Bearer {TOKEN}")])
        .args(["--checks", "all", "--max-examples", "30", "--seed", "1"])
        .env("NO_COLOR", "1")
        .env("SCHEMATHESIS_HOOKS", &hooks)
        .output()
        .await
        .expect("schemathesis runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "schemathesis found failures:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains("passed"), "{stdout}");
    assert!(!stdout.contains("Schema Error"), "{stdout}");
    server.stop().await;
}
