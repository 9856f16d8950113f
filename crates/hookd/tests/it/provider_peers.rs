//! Provider verification against the providers' own libraries: each library signs a
//! request and `hookd_core::inbound::verify` must accept it (and refuse it tampered,
//! stale or under the wrong secret); hookd's provider signers (used by tests and
//! `hookd verify`) sign, and the library must accept that too.
//!
//! Libraries: stripe, slack_sdk, twilio, razorpay, standardwebhooks and svix (Python, in
//! the peer virtualenv) and @octokit/webhooks-methods (JavaScript, installed by `.ci/run`
//! into `.peers-js/`). Like `peers.rs`, these skip locally when the peers are missing and
//! fail under `CI`.
//!
//! [`Libraries::sign`] returns the headers a library produced, so that route-level tests
//! can POST a library-signed request to `/in/{source}`.

use std::path::PathBuf;
use std::process::Command;

use hookd_core::inbound::{
    self, github, razorpay, slack, stripe, twilio, InboundError, InboundRequest, Provider,
    VerifierConfig,
};
use serde_json::Value;

/// The peer libraries, found the way `peers.rs` finds them.
pub struct Libraries {
    python: PathBuf,
    python_dir: PathBuf,
    /// `github_peer.mjs` beside a `node_modules` holding @octokit/webhooks-methods.
    github_script: PathBuf,
}

/// One request as a library signed it.
#[derive(Debug, Clone)]
pub struct SignedRequest {
    /// Lowercase names.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Libraries {
    /// The libraries, or `None` (with a note) when they are not installed here; panics
    /// under `CI`, where they must be.
    pub fn find() -> Option<Self> {
        let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
        let python = std::env::var_os("HOOKD_PEERS_PYTHON")
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace.join(".venv-peers/bin/python"));
        let peers = std::env::var_os("HOOKD_PEERS_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace.join("../shared/peers"));
        let js_dir = std::env::var_os("HOOKD_PEERS_JS")
            .map(PathBuf::from)
            .unwrap_or_else(|| workspace.join(".peers-js"));
        let github_script = js_dir.join("github_peer.mjs");
        let present = python.exists()
            && peers.exists()
            && github_script.exists()
            && js_dir
                .join("node_modules/@octokit/webhooks-methods")
                .exists();
        if present {
            return Some(Self {
                python,
                python_dir: peers.join("python"),
                github_script,
            });
        }
        if std::env::var_os("CI").is_some() {
            panic!(
                "provider peer libraries missing under CI: {} / {} / {} (.ci/run installs them)",
                python.display(),
                peers.display(),
                github_script.display()
            );
        }
        eprintln!("skipping provider peer test: run .ci/run once to install the peers");
        None
    }

    /// Headers the library `peer` (`stripe_peer`, `github_peer`, …) adds to `body` signed
    /// with `secret`; `extra` are the peer's keyword options (`timestamp=…`, `url=…`).
    pub fn sign(&self, peer: &str, secret: &str, body: &[u8], extra: &[&str]) -> SignedRequest {
        let scratch = tempfile::tempdir().unwrap();
        let body_file = scratch.path().join("body");
        std::fs::write(&body_file, body).unwrap();
        let mut command = self.command(peer);
        command
            .args(["sign", "--secret", secret, "--body-file"])
            .arg(&body_file);
        for option in extra {
            command.args(["--extra", option]);
        }
        let output = command.output().expect("the peer runs");
        assert!(
            output.status.success(),
            "{peer} sign failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let headers: Value = serde_json::from_slice(&output.stdout).expect("headers as JSON");
        SignedRequest {
            headers: headers
                .as_object()
                .expect("a JSON object")
                .iter()
                .map(|(name, value)| {
                    (
                        name.to_ascii_lowercase(),
                        value.as_str().unwrap().to_owned(),
                    )
                })
                .collect(),
            body: body.to_vec(),
        }
    }

    /// Whether the library `peer` accepts `headers` and `body` under `secret`.
    pub fn verifies(
        &self,
        peer: &str,
        secret: &str,
        body: &[u8],
        headers: &[(String, String)],
        extra: &[&str],
    ) -> bool {
        let scratch = tempfile::tempdir().unwrap();
        let body_file = scratch.path().join("body");
        let headers_file = scratch.path().join("headers.json");
        std::fs::write(&body_file, body).unwrap();
        let headers: serde_json::Map<String, Value> = headers
            .iter()
            .map(|(name, value)| (name.clone(), Value::from(value.as_str())))
            .collect();
        std::fs::write(&headers_file, Value::from(headers).to_string()).unwrap();
        let mut command = self.command(peer);
        command
            .args(["verify", "--secret", secret, "--body-file"])
            .arg(&body_file)
            .arg("--headers-file")
            .arg(&headers_file);
        for option in extra {
            command.args(["--extra", option]);
        }
        let output = command.output().expect("the peer runs");
        match output.status.code() {
            Some(0) => true,
            Some(1) => false,
            other => panic!(
                "{peer} verify failed to run ({other:?}): {}",
                String::from_utf8_lossy(&output.stderr)
            ),
        }
    }

    fn command(&self, peer: &str) -> Command {
        if peer == "github_peer" {
            let mut command = Command::new("node");
            command.arg(&self.github_script);
            command
        } else {
            let mut command = Command::new(&self.python);
            command.arg(self.python_dir.join(format!("{peer}.py")));
            command
        }
    }
}

/// What hookd says about a request to `url`.
fn hookd_verify(
    provider: Provider,
    secrets: &[&str],
    url: &str,
    headers: &[(String, String)],
    body: &[u8],
    now: i64,
) -> Result<usize, InboundError> {
    let config = VerifierConfig::new(provider, secrets.iter().map(|s| s.to_string()).collect());
    let request = InboundRequest {
        method: "POST",
        url,
        headers,
        body,
    };
    inbound::verify(&config, &request, now).map(|verified| verified.secret_index)
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn tampered(body: &[u8]) -> Vec<u8> {
    let mut body = body.to_vec();
    let index = body.len() / 2;
    body[index] ^= 0x01;
    body
}

const URL: &str = "https://hooks.example.com/in/src";
const JSON_BODY: &str =
    r#"{"id":"evt_peer_1","object":"event","type":"invoice.paid","data":{"name":"Zoë ✓"}}"#;

/// Library-signed requests that hookd must accept, then refuse tampered, stale and under
/// the wrong secret.
fn library_signed_cases(
    libraries: &Libraries,
    peer: &str,
    provider: Provider,
    secret: &str,
    body: &[u8],
    timestamped: bool,
) {
    let signed = libraries.sign(peer, secret, body, &[]);
    let now = now();
    assert_eq!(
        hookd_verify(provider, &[secret], URL, &signed.headers, &signed.body, now),
        Ok(0),
        "{peer}: hookd refuses the library's signature"
    );
    assert_eq!(
        hookd_verify(
            provider,
            &["another-secret", secret],
            URL,
            &signed.headers,
            body,
            now
        ),
        Ok(1),
        "{peer}: rotation"
    );
    assert!(
        matches!(
            hookd_verify(
                provider,
                &[secret],
                URL,
                &signed.headers,
                &tampered(body),
                now
            ),
            Err(InboundError::SignatureMismatch { .. })
        ),
        "{peer}: tampered body accepted"
    );
    assert!(
        matches!(
            hookd_verify(provider, &["wrong-secret"], URL, &signed.headers, body, now),
            Err(InboundError::SignatureMismatch { .. })
        ),
        "{peer}: wrong secret accepted"
    );
    if timestamped {
        let stale_at = (now - 3600).to_string();
        let stale = libraries.sign(peer, secret, body, &[&format!("timestamp={stale_at}")]);
        let result = hookd_verify(provider, &[secret], URL, &stale.headers, body, now);
        assert!(
            matches!(result, Err(InboundError::StaleTimestamp { .. })),
            "{peer}: stale request gave {result:?}"
        );
    }
}

#[test]
fn stripe_library_and_hookd_agree() {
    let Some(libraries) = Libraries::find() else {
        return;
    };
    let secret = "whsec_peer_stripe_secret";
    library_signed_cases(
        &libraries,
        "stripe_peer",
        Provider::Stripe,
        secret,
        JSON_BODY.as_bytes(),
        true,
    );
    let body = JSON_BODY.as_bytes();
    let headers = stripe::sign(secret, now(), body);
    assert!(libraries.verifies("stripe_peer", secret, body, &headers, &[]));
    assert!(!libraries.verifies("stripe_peer", secret, &tampered(body), &headers, &[]));
}

#[test]
fn slack_library_and_hookd_agree() {
    let Some(libraries) = Libraries::find() else {
        return;
    };
    let secret = "8f742231b10e8888abcd99yyyzzz85a5";
    let body = b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&command=%2Fweather&text=94070";
    library_signed_cases(
        &libraries,
        "slack_peer",
        Provider::Slack,
        secret,
        body,
        true,
    );
    let headers = slack::sign(secret, now(), body);
    assert!(libraries.verifies("slack_peer", secret, body, &headers, &[]));
    assert!(!libraries.verifies("slack_peer", secret, &tampered(body), &headers, &[]));
}

#[test]
fn razorpay_library_and_hookd_agree() {
    let Some(libraries) = Libraries::find() else {
        return;
    };
    let secret = "rzp_webhook_secret_for_tests";
    let body = r#"{"entity":"event","account_id":"acc_1","event":"payment.captured","payload":{"note":"Zoë"}}"#
        .as_bytes();
    library_signed_cases(
        &libraries,
        "razorpay_peer",
        Provider::Razorpay,
        secret,
        body,
        false,
    );
    let headers = razorpay::sign(secret, body);
    assert!(libraries.verifies("razorpay_peer", secret, body, &headers, &[]));
    assert!(!libraries.verifies("razorpay_peer", secret, &tampered(body), &headers, &[]));
}

#[test]
fn standard_webhooks_and_svix_libraries_sign_what_hookd_accepts() {
    let Some(libraries) = Libraries::find() else {
        return;
    };
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let body = JSON_BODY.as_bytes();
    for (peer, provider) in [
        ("standardwebhooks_peer", Provider::StandardWebhooks),
        ("svix_peer", Provider::Svix),
    ] {
        let signed = libraries.sign(peer, secret, body, &[]);
        let now = now();
        assert_eq!(
            hookd_verify(provider, &[secret], URL, &signed.headers, body, now),
            Ok(0),
            "{peer}"
        );
        let other = "whsec_dGhpcyBpcyBhbm90aGVyIHNlY3JldCBrZXkh";
        assert_eq!(
            hookd_verify(provider, &[other, secret], URL, &signed.headers, body, now),
            Ok(1)
        );
        assert!(hookd_verify(provider, &[other], URL, &signed.headers, body, now).is_err());
        assert!(hookd_verify(
            provider,
            &[secret],
            URL,
            &signed.headers,
            &tampered(body),
            now
        )
        .is_err());
        let stale = libraries.sign(peer, secret, body, &[&format!("timestamp={}", now - 3600)]);
        assert!(matches!(
            hookd_verify(provider, &[secret], URL, &stale.headers, body, now),
            Err(InboundError::StaleTimestamp { .. })
        ));
    }
}

#[test]
fn twilio_library_and_hookd_agree_on_forms_and_json() {
    let Some(libraries) = Libraries::find() else {
        return;
    };
    let token = "twilio_auth_token_0123456789";
    let now = now();
    // A form post: the library signs the URL and the sorted fields.
    let form = b"MessageSid=SM1&From=%2B15551234567&To=%2B15557654321&Body=Zo%C3%AB+%E2%9C%93";
    let url = "https://hooks.example.com:8443/in/twilio?source=sms";
    let signed = libraries.sign("twilio_peer", token, form, &[&format!("url={url}")]);
    let mut headers = signed.headers.clone();
    headers.push((
        "content-type".into(),
        "application/x-www-form-urlencoded".into(),
    ));
    assert_eq!(
        hookd_verify(Provider::Twilio, &[token], url, &headers, form, now),
        Ok(0)
    );
    assert!(hookd_verify(
        Provider::Twilio,
        &[token],
        url,
        &headers,
        &tampered(form),
        now
    )
    .is_err());
    assert!(hookd_verify(Provider::Twilio, &["wrong"], url, &headers, form, now).is_err());
    // Another URL (a proxy that rewrote the path) is another signature.
    assert!(hookd_verify(
        Provider::Twilio,
        &[token],
        "https://hooks.example.com:8443/in/other?source=sms",
        &headers,
        form,
        now
    )
    .is_err());
    let ours = twilio::sign(token, url, form, true);
    assert!(libraries.verifies("twilio_peer", token, form, &ours, &[&format!("url={url}")]));

    // A JSON post: the library appends bodySHA256 to the URL and signs the URL alone.
    let body = JSON_BODY.as_bytes();
    let signed = libraries.sign(
        "twilio_peer",
        token,
        body,
        &["url=https://hooks.example.com/in/twilio"],
    );
    let signed_url = signed
        .headers
        .iter()
        .find(|(name, _)| name == "x-url")
        .map(|(_, value)| value.clone())
        .expect("the peer reports the URL it signed");
    assert!(signed_url.contains("bodySHA256="));
    assert_eq!(
        hookd_verify(
            Provider::Twilio,
            &[token],
            &signed_url,
            &signed.headers,
            body,
            now
        ),
        Ok(0)
    );
    assert_eq!(
        hookd_verify(
            Provider::Twilio,
            &[token],
            &signed_url,
            &signed.headers,
            &tampered(body),
            now
        ),
        Err(InboundError::BodyHashMismatch)
    );
    let our_url = twilio::url_with_body_hash("https://hooks.example.com/in/twilio", body);
    assert_eq!(our_url, signed_url);
    let mut ours = twilio::sign(token, &our_url, body, false);
    ours.push(("x-url".into(), our_url.clone()));
    assert!(libraries.verifies("twilio_peer", token, body, &ours, &[]));
    assert!(!libraries.verifies("twilio_peer", token, &tampered(body), &ours, &[]));
}

#[test]
fn octokit_and_hookd_agree_on_github_signatures() {
    let Some(libraries) = Libraries::find() else {
        return;
    };
    let secret = "It's a Secret to Everybody";
    let body = JSON_BODY.as_bytes();
    library_signed_cases(
        &libraries,
        "github_peer",
        Provider::Github,
        secret,
        body,
        false,
    );
    let headers = github::sign(secret, body);
    assert!(libraries.verifies("github_peer", secret, body, &headers, &[]));
    assert!(!libraries.verifies("github_peer", secret, &tampered(body), &headers, &[]));
    assert!(!libraries.verifies("github_peer", "wrong", body, &headers, &[]));
}
