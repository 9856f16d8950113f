//! Inspector bins: a URL (`/b/{bin}`) that records any request sent to it, for a
//! developer to look at, stream live and replay elsewhere.
//!
//! This module holds the records ([`Bin`], [`BinResponse`], [`BinRequest`]) and the pure
//! decisions around them: whether a bin still takes requests, how a captured body is cut
//! to the limit, which captured headers a replay sends on.
//!
//! **Invariants:** nothing here reads a clock (`now` is a parameter). A captured body is
//! the first bytes received, exactly; `body_size` is the size of the whole body and
//! `body_truncated` says whether bytes were dropped. A replay never forwards hop-by-hop
//! headers, `Host` or `Content-Length` (the client computes those for the new request).

use serde::{Deserialize, Serialize};

use crate::ids::{BinId, BinRequestId};
use crate::Timestamp;

/// An inspector bin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bin {
    pub id: BinId,
    /// What every request to the bin is answered with.
    pub response: BinResponse,
    /// Most requests the bin records; the next ones are refused (429).
    pub max_requests: u64,
    /// Requests recorded so far (also the stream position of the newest one).
    pub n_requests: u64,
    /// From this instant on the bin answers 404 and retention deletes it.
    pub expires_at: Timestamp,
    pub created_at: Timestamp,
}

impl Bin {
    /// Whether the bin is past its expiry at `now`.
    pub fn is_expired(&self, now: Timestamp) -> bool {
        now >= self.expires_at
    }

    /// Whether the bin has recorded as many requests as it may.
    pub fn is_full(&self) -> bool {
        self.n_requests >= self.max_requests
    }
}

/// The answer a bin gives to every request it records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BinResponse {
    /// HTTP status, 200 to 599. Default: 200.
    pub status: u16,
    /// Response headers as `[name, value]` pairs (a `content-type` among them sets the
    /// body's type). Default: `content-type: application/json`.
    pub headers: Vec<(String, String)>,
    /// Response body. Default: `{"ok":true}`.
    pub body: String,
}

impl Default for BinResponse {
    fn default() -> Self {
        Self {
            status: 200,
            headers: vec![("content-type".to_owned(), "application/json".to_owned())],
            body: r#"{"ok":true}"#.to_owned(),
        }
    }
}

/// One request a bin recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BinRequest {
    pub id: BinRequestId,
    pub bin_id: BinId,
    pub method: String,
    /// The path below the bin's URL, starting with `/` (`/` for the bin's URL itself).
    pub path: String,
    /// The query string without `?`, when there was one.
    pub query: Option<String>,
    /// Lowercase names, values as received, in the order received.
    pub headers: Vec<(String, String)>,
    /// The body's first bytes, up to the capture limit, exactly as received.
    pub body: Vec<u8>,
    /// Size of the whole body as received, in bytes.
    pub body_size: u64,
    /// Whether bytes past the capture limit were dropped.
    pub body_truncated: bool,
    pub content_type: Option<String>,
    pub source_ip: Option<String>,
    pub received_at: Timestamp,
}

/// Headers that describe one connection rather than the request (RFC 9110 §7.6.1), plus
/// those the replaying client sets itself.
const NOT_REPLAYED: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
];

/// The captured headers a replay sends: all of them, in order, except hop-by-hop ones,
/// those the `Connection` header names, `Host` and `Content-Length`.
pub fn replay_headers(headers: &[(String, String)]) -> Vec<(String, String)> {
    let named_by_connection: Vec<String> = headers
        .iter()
        .filter(|(name, _)| name.eq_ignore_ascii_case("connection"))
        .flat_map(|(_, value)| value.split(','))
        .map(|token| token.trim().to_ascii_lowercase())
        .filter(|token| !token.is_empty())
        .collect();
    headers
        .iter()
        .filter(|(name, _)| {
            let name = name.to_ascii_lowercase();
            !NOT_REPLAYED.contains(&name.as_str()) && !named_by_connection.contains(&name)
        })
        .cloned()
        .collect()
}

/// Keeps the first `limit` bytes of `chunk` that still fit after `kept` bytes: returns the
/// part to keep (the rest is only counted).
pub fn fitting_part(chunk: &[u8], kept: usize, limit: usize) -> &[u8] {
    let room = limit.saturating_sub(kept);
    &chunk[..chunk.len().min(room)]
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
    fn replay_drops_hop_by_hop_host_and_length_and_keeps_order() {
        let captured = pairs(&[
            ("host", "hookd.example"),
            ("content-type", "application/octet-stream"),
            ("connection", "keep-alive, x-hop"),
            ("x-hop", "1"),
            ("keep-alive", "timeout=5"),
            ("content-length", "256"),
            ("transfer-encoding", "chunked"),
            ("x-signature", "abc"),
            ("x-repeat", "1"),
            ("x-repeat", "2"),
            ("Upgrade", "h2c"),
        ]);
        assert_eq!(
            replay_headers(&captured),
            pairs(&[
                ("content-type", "application/octet-stream"),
                ("x-signature", "abc"),
                ("x-repeat", "1"),
                ("x-repeat", "2"),
            ])
        );
    }

    #[test]
    fn fitting_part_cuts_at_the_limit() {
        for (chunk_len, kept, limit, expect) in [
            (10, 0, 100, 10),
            (10, 95, 100, 5),
            (10, 100, 100, 0),
            (10, 120, 100, 0),
            (0, 0, 0, 0),
        ] {
            let chunk = vec![7u8; chunk_len];
            assert_eq!(
                fitting_part(&chunk, kept, limit).len(),
                expect,
                "{chunk_len} {kept} {limit}"
            );
        }
    }

    #[test]
    fn expiry_and_fullness() {
        let at = |secs| chrono::DateTime::from_timestamp(secs, 0).unwrap();
        let bin = Bin {
            id: BinId::new(1, [1; 14]),
            response: BinResponse::default(),
            max_requests: 2,
            n_requests: 1,
            expires_at: at(100),
            created_at: at(0),
        };
        assert!(!bin.is_expired(at(99)));
        assert!(bin.is_expired(at(100)));
        assert!(!bin.is_full());
        assert!(Bin {
            n_requests: 2,
            ..bin
        }
        .is_full());
    }
}
