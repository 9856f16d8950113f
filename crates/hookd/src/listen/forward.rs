//! What `hookd listen` sends to the local URL for each event, and what it makes of the
//! answer. Pure: the clock and the secret are parameters.
//!
//! - A message (`--app`) is POSTed as its payload, `content-type: application/json`,
//!   signed with Standard Webhooks headers under the local secret, `webhook-id` being the
//!   message id, as hookd's worker would deliver it to an endpoint.
//! - A request (`--source`, bins) keeps its method, body bytes and headers, minus the
//!   hop-by-hop ones, `Host` and `Content-Length` (the local connection sets its own), so
//!   the local app can check the provider's own signature. With `--sign` its Standard
//!   Webhooks headers are replaced by ones signed with the local secret.
//!
//! **Invariant:** the body forwarded is exactly the bytes the sender sent (or the payload
//! as published); nothing here parses or re-serialises it.

use hmac::{Hmac, Mac};
use hookd_core::signature::{self, SignatureScheme};
use sha2::Sha256;

use super::frame::{CapturedRequest, StreamedMessage};

/// One request to the local URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalRequest {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// What became of one attempt to forward.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocalOutcome {
    /// The local app answered with this status.
    Answered(u16),
    /// No answer: the connection failed or timed out.
    Unreachable(String),
}

impl LocalOutcome {
    /// Whether the event is done with: any answer but a 5xx, 408 or 429. A 4xx is the
    /// local app refusing this event (a signature check, say), which a retry would not
    /// change; it is reported and the listener moves on.
    pub fn is_final(&self) -> bool {
        match self {
            Self::Answered(status) => !(*status >= 500 || *status == 408 || *status == 429),
            Self::Unreachable(_) => false,
        }
    }
}

/// The standard webhooks headers `--sign` replaces.
const STANDARD_HEADERS: &[&str] = &["webhook-id", "webhook-timestamp", "webhook-signature"];

/// The received headers worth forwarding: the same rule as a bin's replay (all but
/// hop-by-hop ones, those the `Connection` header names, `Host` and `Content-Length`).
use hookd_core::bin::replay_headers as forwardable_headers;

/// A message as a signed POST to `forward_to`.
///
/// # Errors
/// When `secret` is not a usable `whsec_` secret.
pub fn message_request(
    forward_to: &str,
    message: &StreamedMessage,
    secret: &str,
    now_secs: i64,
) -> Result<LocalRequest, signature::SecretError> {
    let body = message.payload.as_bytes().to_vec();
    let mut headers = vec![("content-type".to_owned(), "application/json".to_owned())];
    headers.extend(signature::sign(
        SignatureScheme::Standard,
        None,
        &[secret],
        &message.msg_id,
        now_secs,
        &body,
    )?);
    Ok(LocalRequest {
        method: "POST".to_owned(),
        url: forward_to.to_owned(),
        headers,
        body,
    })
}

/// A captured request, forwarded as it came: same method, body and headers (see
/// [`forwardable_headers`]) to `url`. With `resign`, its Standard Webhooks headers are
/// replaced by ones signed with that secret (id: the message id, else the request id).
///
/// # Errors
/// When `resign` is not a usable `whsec_` secret.
pub fn captured_request(
    url: &str,
    request: &CapturedRequest,
    resign: Option<&str>,
    now_secs: i64,
) -> Result<LocalRequest, signature::SecretError> {
    let mut headers = forwardable_headers(&request.headers);
    if let Some(secret) = resign {
        headers.retain(|(name, _)| !STANDARD_HEADERS.contains(&name.to_ascii_lowercase().as_str()));
        let id = request.msg_id.as_deref().unwrap_or(&request.id);
        headers.extend(signature::sign(
            SignatureScheme::Standard,
            None,
            &[secret],
            id,
            now_secs,
            &request.body,
        )?);
    }
    Ok(LocalRequest {
        method: request.method.clone(),
        url: url.to_owned(),
        headers,
        body: request.body.clone(),
    })
}

/// Where a bin's captured request goes: `forward_to` with the path below the bin's URL
/// and the request's query appended (`/stripe?x=1` on `http://l/hooks` is
/// `http://l/hooks/stripe?x=1`).
pub fn bin_forward_url(forward_to: &str, path: &str, query: Option<&str>) -> String {
    let (base, base_query) = match forward_to.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (forward_to, None),
    };
    let mut url = base.to_owned();
    let suffix = path.trim_start_matches('/');
    if !suffix.is_empty() {
        if !url.ends_with('/') {
            url.push('/');
        }
        url.push_str(suffix);
    }
    let queries: Vec<&str> = [base_query, query]
        .into_iter()
        .flatten()
        .filter(|query| !query.is_empty())
        .collect();
    if !queries.is_empty() {
        url.push('?');
        url.push_str(&queries.join("&"));
    }
    url
}

/// A `whsec_` secret that is the same every time for one token, server and stream, and
/// that nobody without the token can compute: the local app configures it once.
pub fn derived_secret(token: &str, server: &str, stream: &str) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(token.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(b"hookd listen local signing secret\n");
    mac.update(server.trim_end_matches('/').as_bytes());
    mac.update(b"\n");
    mac.update(stream.as_bytes());
    let digest = mac.finalize().into_bytes();
    signature::generate_symmetric_secret(&digest[..24])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(name, value)| ((*name).to_owned(), (*value).to_owned()))
            .collect()
    }

    #[test]
    fn hop_by_hop_host_and_length_are_dropped_the_rest_kept_in_order() {
        let received = pairs(&[
            ("host", "hookd.example"),
            ("content-length", "12"),
            ("Connection", "keep-alive, x-trace-hop"),
            ("keep-alive", "timeout=5"),
            ("transfer-encoding", "chunked"),
            ("x-trace-hop", "1"),
            ("content-type", "application/json"),
            ("x-hub-signature-256", "sha256=abc"),
            ("webhook-signature", "v1,xyz"),
            ("x-repeat", "1"),
            ("x-repeat", "2"),
            ("authorization", "Basic dTpw"),
        ]);
        assert_eq!(
            forwardable_headers(&received),
            pairs(&[
                ("content-type", "application/json"),
                ("x-hub-signature-256", "sha256=abc"),
                ("webhook-signature", "v1,xyz"),
                ("x-repeat", "1"),
                ("x-repeat", "2"),
                ("authorization", "Basic dTpw"),
            ])
        );
    }

    fn captured() -> CapturedRequest {
        CapturedRequest {
            cursor: "0.1".into(),
            event_type: Some("push".into()),
            id: "req_1".into(),
            msg_id: Some("msg_1".into()),
            method: "POST".into(),
            path: "/in/gh".into(),
            query: None,
            headers: pairs(&[
                ("host", "hookd"),
                ("webhook-id", "provider-id"),
                ("webhook-signature", "v1,provider"),
                ("x-other", "kept"),
            ]),
            body: b"{\"a\": 1}".to_vec(),
        }
    }

    #[test]
    fn a_captured_request_is_forwarded_as_is_or_re_signed() {
        let request = captured();
        let as_is = captured_request("http://localhost:3000/hook", &request, None, 0).unwrap();
        assert_eq!(as_is.body, request.body);
        assert_eq!(as_is.method, "POST");
        assert_eq!(
            as_is.headers,
            pairs(&[
                ("webhook-id", "provider-id"),
                ("webhook-signature", "v1,provider"),
                ("x-other", "kept"),
            ])
        );

        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let re_signed =
            captured_request("http://l/", &request, Some(secret), 1_700_000_000).unwrap();
        assert_eq!(re_signed.body, request.body);
        let header = |name: &str| {
            re_signed
                .headers
                .iter()
                .filter(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(header("webhook-id"), ["msg_1"]);
        assert_eq!(header("x-other"), ["kept"]);
        let lookup = |name: &str| header(name).into_iter().next();
        signature::verify(&[secret], &lookup, &re_signed.body, 1_700_000_000, 300)
            .expect("re-signed with the local secret");
    }

    #[test]
    fn a_message_is_its_payload_signed_with_the_local_secret() {
        let message = StreamedMessage {
            cursor: "0.1".into(),
            msg_id: "msg_2".into(),
            event_type: "invoice.paid".into(),
            payload: r#"{"b":1,"a":2}"#.into(),
        };
        let secret = derived_secret("token", "http://127.0.0.1:8080", "app:acme");
        let local = message_request("http://l/hook", &message, &secret, 1_700_000_000).unwrap();
        assert_eq!(local.body, br#"{"b":1,"a":2}"#);
        assert_eq!(local.method, "POST");
        assert_eq!(
            local.headers[0],
            ("content-type".into(), "application/json".into())
        );
        let lookup = |name: &str| {
            local
                .headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(lookup("webhook-id").as_deref(), Some("msg_2"));
        signature::verify(&[secret.as_str()], &lookup, &local.body, 1_700_000_000, 300)
            .expect("signed with the local secret");
    }

    #[test]
    fn bin_requests_keep_their_path_suffix_and_query() {
        for (forward_to, path, query, expected) in [
            ("http://l:3000/hooks", "/", None, "http://l:3000/hooks"),
            ("http://l:3000/hooks", "", None, "http://l:3000/hooks"),
            (
                "http://l:3000/hooks",
                "/stripe",
                Some("x=1"),
                "http://l:3000/hooks/stripe?x=1",
            ),
            ("http://l:3000/", "/a/b", None, "http://l:3000/a/b"),
            (
                "http://l:3000/h?k=v",
                "/s",
                Some("x=1"),
                "http://l:3000/h/s?k=v&x=1",
            ),
            ("http://l:3000/h?k=v", "/", Some(""), "http://l:3000/h?k=v"),
        ] {
            assert_eq!(bin_forward_url(forward_to, path, query), expected);
        }
    }

    #[test]
    fn the_derived_secret_is_stable_and_depends_on_every_input() {
        let secret = derived_secret("t", "http://h:8080/", "app:a");
        assert!(secret.starts_with("whsec_"));
        assert_eq!(secret, derived_secret("t", "http://h:8080", "app:a"));
        assert_ne!(secret, derived_secret("u", "http://h:8080", "app:a"));
        assert_ne!(secret, derived_secret("t", "http://h:9090", "app:a"));
        assert_ne!(secret, derived_secret("t", "http://h:8080", "app:b"));
        assert!(signature::validate_secret(SignatureScheme::Standard, &secret).is_ok());
    }

    #[test]
    fn only_answers_other_than_5xx_408_429_are_final() {
        for (outcome, done) in [
            (LocalOutcome::Answered(200), true),
            (LocalOutcome::Answered(204), true),
            (LocalOutcome::Answered(301), true),
            (LocalOutcome::Answered(400), true),
            (LocalOutcome::Answered(401), true),
            (LocalOutcome::Answered(408), false),
            (LocalOutcome::Answered(429), false),
            (LocalOutcome::Answered(500), false),
            (LocalOutcome::Answered(503), false),
            (
                LocalOutcome::Unreachable("connection refused".into()),
                false,
            ),
        ] {
            assert_eq!(outcome.is_final(), done, "{outcome:?}");
        }
    }
}
