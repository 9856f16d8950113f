//! Values of the live-stream part of the store: a position in an application's message
//! stream ([`StreamCursor`]) and a batch read from it ([`StreamBatch`]).
//!
//! **Invariant:** cursors order messages by commit, not by id. Every reader of one
//! database sees one application's messages in the same cursor order, and a message
//! never appears at a cursor lower than one a reader has already been given: resuming
//! "after cursor C" misses nothing that was committed later, on any node.

use std::fmt;

use hookd_core::model::Message;

/// A position in an application's message stream.
///
/// It is two numbers compared in order: `epoch`, then `seq`. SQLite numbers commits with
/// `seq` alone (`epoch` is 0); PostgreSQL uses the committing transaction's id as `epoch`
/// (see the backend). On the wire it is the text `epoch.seq`; clients treat it as opaque.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct StreamCursor {
    pub epoch: u64,
    pub seq: u64,
}

impl StreamCursor {
    /// Before the first message of every application.
    pub const START: StreamCursor = StreamCursor { epoch: 0, seq: 0 };

    /// Parses the wire form `epoch.seq`.
    pub fn parse(text: &str) -> Option<StreamCursor> {
        let (epoch, seq) = text.split_once('.')?;
        let digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
        if !digits(epoch) || !digits(seq) {
            return None;
        }
        Some(StreamCursor {
            epoch: epoch.parse().ok()?,
            seq: seq.parse().ok()?,
        })
    }
}

impl fmt::Display for StreamCursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.epoch, self.seq)
    }
}

/// One message with its stream position.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamedMessage {
    pub cursor: StreamCursor,
    pub message: Message,
}

/// Messages read from a stream, oldest commit first.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamBatch {
    pub messages: Vec<StreamedMessage>,
    /// `false` when the store holds committed messages after these that it cannot hand
    /// out yet, because a transaction that began earlier is still open (PostgreSQL only):
    /// read again shortly; nothing else will announce them.
    pub settled: bool,
}

#[cfg(test)]
mod tests {
    use super::StreamCursor;

    #[test]
    fn cursor_text_round_trips_and_orders() {
        for (text, expect) in [
            ("0.0", Some((0, 0))),
            ("0.42", Some((0, 42))),
            ("7531.9", Some((7531, 9))),
            ("", None),
            ("42", None),
            ("1.", None),
            (".1", None),
            ("-1.2", None),
            ("1.2.3", None),
            ("a.1", None),
            ("99999999999999999999999.1", None),
        ] {
            let parsed = StreamCursor::parse(text);
            assert_eq!(
                parsed.map(|cursor| (cursor.epoch, cursor.seq)),
                expect,
                "{text:?}"
            );
            if let Some(cursor) = parsed {
                assert_eq!(cursor.to_string(), text);
            }
        }
        let a = StreamCursor { epoch: 1, seq: 900 };
        let b = StreamCursor { epoch: 2, seq: 1 };
        assert!(a < b && StreamCursor::START < a);
    }
}
