//! Plain values of the inspector bins that cross the store boundary: what a capture did,
//! and a captured request with its stream position.
//!
//! **Invariant:** a bin's requests are numbered 1, 2, 3… in the order their captures
//! commit (the bin's row serialises them), so the number is the request's stream cursor
//! (`{epoch: 0, seq: n}`): a reader that has seen request `n` of a bin has seen every
//! request before it, on any node.

use hookd_core::bin::BinRequest;

use crate::StreamCursor;

/// What `capture_bin_request` did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaptureOutcome {
    /// The request is committed at this stream position.
    Captured { cursor: StreamCursor },
    /// The bin already holds `max_requests` requests; nothing was written.
    Full { max_requests: u64 },
}

/// One captured request with its stream position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamedBinRequest {
    pub cursor: StreamCursor,
    pub request: BinRequest,
}

/// The stream cursor of a bin's request number `n`.
pub fn bin_cursor(n: u64) -> StreamCursor {
    StreamCursor { epoch: 0, seq: n }
}
