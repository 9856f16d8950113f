//! `hookd verify`, run as the real binary on captured requests: what it prints and its
//! exit code for a good request, each failed check, and usage errors.

use std::path::Path;
use std::process::{Command, Output};

use hookd_core::inbound::{github, stripe, twilio};

fn hookd_verify(dir: &Path, body: &[u8], args: &[&str]) -> Output {
    let body_file = dir.join("body");
    std::fs::write(&body_file, body).unwrap();
    Command::new(env!("CARGO_BIN_EXE_hookd"))
        .arg("verify")
        .args(args)
        .arg("--body-file")
        .arg(&body_file)
        .output()
        .expect("hookd runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn a_good_request_passes_and_names_the_secret_that_matched() {
    let dir = tempfile::tempdir().unwrap();
    let body = br#"{"id":"evt_1","type":"invoice.paid"}"#;
    let (name, value) = stripe::sign("whsec_new", 1_700_000_000, body).remove(0);
    // A header dump as captured, with the request line and a CRLF.
    let headers = dir.path().join("headers.txt");
    std::fs::write(
        &headers,
        format!("POST /in/stripe HTTP/1.1\r\nHost: hooks.example.com\r\n{name}: {value}\r\n\r\n"),
    )
    .unwrap();
    let output = hookd_verify(
        dir.path(),
        body,
        &[
            "--provider",
            "stripe",
            "--secret",
            "whsec_old",
            "--secret",
            "whsec_new",
            "--headers-file",
            headers.to_str().unwrap(),
            "--now",
            "1700000010",
        ],
    );
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert!(text.contains("matches secret #1 of 2"), "{text}");
    assert!(text.contains("event id: evt_1"), "{text}");
    assert!(text.contains("event type: invoice.paid"), "{text}");
    assert!(
        !text.contains(&value),
        "the signature is not echoed: {text}"
    );
}

#[test]
fn each_failed_check_is_named_with_exit_code_1() {
    let dir = tempfile::tempdir().unwrap();
    let body = b"Hello, World!";
    let (name, value) = github::sign("It's a Secret to Everybody", body).remove(0);
    let header = format!("{name}: {value}");
    let cases: Vec<(Vec<&str>, &[u8], &str)> = vec![
        (
            vec!["--provider", "github", "--secret", "wrong", "-H", &header],
            body,
            "FAILED signature_mismatch",
        ),
        (
            vec![
                "--provider",
                "github",
                "--secret",
                "It's a Secret to Everybody",
                "-H",
                &header,
            ],
            b"Hello, World?",
            "FAILED signature_mismatch",
        ),
        (
            vec!["--provider", "github", "--secret", "s", "-H", "X-Other: 1"],
            body,
            "FAILED missing_header: missing header x-hub-signature-256",
        ),
    ];
    for (args, body, expected) in cases {
        let output = hookd_verify(dir.path(), body, &args);
        let text = stdout(&output);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {text}");
        assert!(text.contains(expected), "{args:?}: {text}");
        assert!(
            !text.contains(&value),
            "the expected signature is not echoed"
        );
    }

    // A stale timestamp: its age is printed, and that the signature itself matched.
    let body = br#"{"id":"evt_2"}"#;
    let (name, value) = stripe::sign("whsec_s", 1_700_000_000, body).remove(0);
    let header = format!("{name}: {value}");
    let output = hookd_verify(
        dir.path(),
        body,
        &[
            "--provider",
            "stripe",
            "--secret",
            "whsec_s",
            "-H",
            &header,
            "--now",
            "1700003600",
        ],
    );
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(
        text.contains(
            "FAILED stale_timestamp: timestamp is 3600 s from now, outside the 300 s tolerance"
        ),
        "{text}"
    );
    assert!(
        text.contains("the signature itself matches secret #0"),
        "{text}"
    );
}

#[test]
fn twilio_needs_the_url_it_signed() {
    let dir = tempfile::tempdir().unwrap();
    let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
    let body = b"CallSid=CA1234567890ABCDE&Caller=%2B12349013030&Digits=1234&From=%2B12349013030&To=%2B18005551212";
    let (name, value) = twilio::sign("12345", url, body, true).remove(0);
    let header = format!("{name}: {value}");
    let common = [
        "--provider",
        "twilio",
        "--secret",
        "12345",
        "-H",
        &header,
        "-H",
        "Content-Type: application/x-www-form-urlencoded",
        "-H",
        "I-Twilio-Idempotency-Token: idem-1",
    ];
    let mut good = common.to_vec();
    good.extend(["--url", url]);
    let output = hookd_verify(dir.path(), body, &good);
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    assert!(stdout(&output).contains("event id: idem-1"));
    let mut moved = common.to_vec();
    moved.extend(["--url", "https://mycompany.com/other.php?foo=1&bar=2"]);
    let output = hookd_verify(dir.path(), body, &moved);
    assert_eq!(output.status.code(), Some(1));
    assert!(stdout(&output).contains("--url"), "{}", stdout(&output));
    // Without --url it is a usage error.
    let output = hookd_verify(dir.path(), body, &common);
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--url"));
    // Unless the captured headers start with the request line and carry Host.
    let capture = dir.path().join("capture.txt");
    std::fs::write(
        &capture,
        format!(
            "POST /myapp.php?foo=1&bar=2 HTTP/1.1\nHost: mycompany.com\n{header}\nContent-Type: application/x-www-form-urlencoded\n"
        ),
    )
    .unwrap();
    let output = hookd_verify(
        dir.path(),
        body,
        &[
            "--provider",
            "twilio",
            "--secret",
            "12345",
            "--headers-file",
            capture.to_str().unwrap(),
        ],
    );
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    assert!(stdout(&output).contains(&format!("url: {url}")));
}

#[test]
fn usage_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        vec!["--provider", "nope", "--secret", "s"],
        vec!["--provider", "github"],
        vec!["--provider", "github", "--secret", "s", "-H", "no colon"],
        vec!["--provider", "generic", "--secret", "s"],
        vec![
            "--provider",
            "github",
            "--secret",
            "s",
            "--headers-file",
            "/nonexistent/h",
        ],
    ] {
        let output = hookd_verify(dir.path(), b"{}", &args);
        assert_eq!(
            output.status.code(),
            Some(2),
            "{args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

#[test]
fn a_json_headers_file_and_a_generic_scheme() {
    let dir = tempfile::tempdir().unwrap();
    let body = br#"{"type":"thing.happened"}"#;
    // Python: hmac.new(b"gen_secret", body, hashlib.sha1).hexdigest()
    let headers = dir.path().join("headers.json");
    std::fs::write(
        &headers,
        r#"{"X-Hook-Signature": "31df1360fd95df6e629decd932cbdba27fff4ff9"}"#,
    )
    .unwrap();
    let output = hookd_verify(
        dir.path(),
        body,
        &[
            "--provider",
            "generic",
            "--generic",
            r#"{"algorithm":"sha1","header":"X-Hook-Signature"}"#,
            "--secret",
            "gen_secret",
            "--headers-file",
            headers.to_str().unwrap(),
        ],
    );
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert!(text.contains("event type: thing.happened"), "{text}");
}

#[test]
fn a_meta_subscription_handshake_is_checked() {
    let dir = tempfile::tempdir().unwrap();
    let url = "https://hooks.example.com/in/wa?hub.mode=subscribe&hub.verify_token=vt-1&hub.challenge=8421";
    let args = |token: &'static str| {
        vec![
            "--provider",
            "meta",
            "--secret",
            "app-secret",
            "--method",
            "GET",
            "--url",
            url,
            "--verify-token",
            token,
        ]
    };
    let output = hookd_verify(dir.path(), b"", &args("vt-1"));
    assert_eq!(output.status.code(), Some(0), "{}", stdout(&output));
    assert!(stdout(&output).contains("handshake: answered with status 200"));
    let output = hookd_verify(dir.path(), b"", &args("other"));
    assert_eq!(output.status.code(), Some(1), "{}", stdout(&output));
    assert!(stdout(&output).contains("status 403"));
}
