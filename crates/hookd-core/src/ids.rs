//! Prefixed, time-sortable identifiers (`app_…`, `ep_…`, `msg_…`, `atmpt_…`).
//!
//! An id is a prefix, an underscore and 27 base62 characters encoding 160 bits: 48 bits
//! of milliseconds since the Unix epoch followed by 112 random bits. The encoding is
//! fixed-width over an alphabet in ASCII order, so ids of one kind sort by creation time
//! as plain strings. This matches the shape Svix documents (`^msg_[A-Za-z0-9]{27}$`).

use std::fmt;

use serde::{Deserialize, Serialize};

/// Number of base62 characters after the prefix.
pub const ID_BODY_LEN: usize = 27;

const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// Encodes a creation time and 14 random bytes as a 27-character base62 string.
pub fn encode_id_body(unix_ms: u64, random: [u8; 14]) -> String {
    let mut bytes = [0u8; 20];
    bytes[..6].copy_from_slice(&unix_ms.to_be_bytes()[2..]);
    bytes[6..].copy_from_slice(&random);
    // The 160-bit big-endian number as five 32-bit limbs, most significant first.
    let mut limbs = [0u32; 5];
    for (limb, chunk) in limbs.iter_mut().zip(bytes.chunks_exact(4)) {
        *limb = u32::from_be_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
    }
    // Long division by 62^5 (which fits in 32 bits) gives five digits per pass over the
    // limbs instead of one: ids are made on every publish and delivery, and the
    // digit-at-a-time division showed in profiles.
    const CHUNK_DIGITS: usize = 5;
    const CHUNK: u64 = 62u64.pow(CHUNK_DIGITS as u32);
    let mut digits = [b'0'; ID_BODY_LEN];
    let mut end = ID_BODY_LEN;
    while end > 0 {
        let mut remainder: u64 = 0;
        for limb in limbs.iter_mut() {
            let value = (remainder << 32) | u64::from(*limb);
            *limb = (value / CHUNK) as u32;
            remainder = value % CHUNK;
        }
        let start = end.saturating_sub(CHUNK_DIGITS);
        for slot in digits[start..end].iter_mut().rev() {
            *slot = ALPHABET[(remainder % 62) as usize];
            remainder /= 62;
        }
        end = start;
    }
    String::from_utf8(digits.to_vec()).expect("alphabet is ASCII")
}

/// Keeps ids strictly increasing within one process, even when many are made in the
/// same millisecond or the clock steps back: a new id never sorts before the previous one.
#[derive(Debug, Default)]
pub struct IdSequence {
    last_ms: u64,
    last_random: u128,
}

const RANDOM_BITS: u32 = 112;

impl IdSequence {
    /// The (milliseconds, random) pair to encode next, given the current time and fresh
    /// random bytes. Within one millisecond the random part counts up from the first draw.
    pub fn next(&mut self, unix_ms: u64, random: [u8; 14]) -> (u64, [u8; 14]) {
        let mut padded = [0u8; 16];
        padded[2..].copy_from_slice(&random);
        let drawn = u128::from_be_bytes(padded);
        let (ms, value) = if unix_ms > self.last_ms {
            (unix_ms, drawn)
        } else if self.last_random + 1 < (1u128 << RANDOM_BITS) {
            (self.last_ms, self.last_random + 1)
        } else {
            // The random space of this millisecond is used up: borrow the next one.
            (self.last_ms + 1, 0)
        };
        self.last_ms = ms;
        self.last_random = value;
        let mut out = [0u8; 14];
        out.copy_from_slice(&value.to_be_bytes()[2..]);
        (ms, out)
    }
}

static SEQUENCE: std::sync::Mutex<IdSequence> = std::sync::Mutex::new(IdSequence {
    last_ms: 0,
    last_random: 0,
});

/// [`IdSequence::next`] on the process-wide sequence that every id constructor uses.
pub fn next_in_sequence(unix_ms: u64, random: [u8; 14]) -> (u64, [u8; 14]) {
    SEQUENCE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .next(unix_ms, random)
}

/// Whether `body` has the shape of an id body (27 base62 characters).
pub fn is_id_body(body: &str) -> bool {
    body.len() == ID_BODY_LEN && body.bytes().all(|b| b.is_ascii_alphanumeric())
}

macro_rules! id_type {
    ($(#[$meta:meta])* $name:ident, $prefix:literal) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// The prefix every id of this kind starts with, underscore included.
            pub const PREFIX: &'static str = $prefix;

            /// A new id created at `unix_ms`, with the caller's randomness, sorting after
            /// every id this process made before.
            pub fn new(unix_ms: u64, random: [u8; 14]) -> Self {
                let (unix_ms, random) = next_in_sequence(unix_ms, random);
                Self(format!("{}{}", $prefix, encode_id_body(unix_ms, random)))
            }

            /// Parses an id, checking the prefix and the body's shape.
            pub fn parse(text: &str) -> Option<Self> {
                let body = text.strip_prefix($prefix)?;
                is_id_body(body).then(|| Self(text.to_owned()))
            }

            /// Whether `text` looks like an id of this kind (rather than a uid).
            pub fn looks_like(text: &str) -> bool {
                text.strip_prefix($prefix).is_some_and(is_id_body)
            }

            /// Wraps a string read back from the store, which only ever holds valid ids.
            pub fn from_trusted(text: String) -> Self {
                Self(text)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

id_type!(
    /// An application: one tenant, usually one customer of the hookd user.
    ApplicationId,
    "app_"
);
id_type!(
    /// An endpoint: a URL subscribed to some of an application's messages.
    EndpointId,
    "ep_"
);
id_type!(
    /// A message: one published event.
    MessageId,
    "msg_"
);
id_type!(
    /// An attempt: one HTTP try of one message to one endpoint.
    AttemptId,
    "atmpt_"
);
id_type!(
    /// A delivery: the queue row of one message for one endpoint.
    DeliveryId,
    "dlv_"
);
id_type!(
    /// A background task such as an endpoint recovery.
    TaskId,
    "qtask_"
);
id_type!(
    /// A source: one inbound provider connection (`/in/{source}`).
    SourceId,
    "src_"
);
id_type!(
    /// One request received at a source's `/in` URL, kept for inspection and replay.
    InboundRequestId,
    "inreq_"
);
id_type!(
    /// An inspector bin (`/b/{bin}`) that records any request.
    BinId,
    "bin_"
);
id_type!(
    /// One request captured by an inspector bin.
    BinRequestId,
    "breq_"
);

#[cfg(test)]
mod tests {
    use super::*;

    /// The straightforward encoding, one base62 digit per division of the whole number.
    fn encode_digit_by_digit(unix_ms: u64, random: [u8; 14]) -> String {
        let mut number = [0u8; 20];
        number[..6].copy_from_slice(&unix_ms.to_be_bytes()[2..]);
        number[6..].copy_from_slice(&random);
        let mut digits = [0u8; ID_BODY_LEN];
        for slot in digits.iter_mut().rev() {
            let mut remainder: u32 = 0;
            for byte in number.iter_mut() {
                let value = (remainder << 8) | u32::from(*byte);
                *byte = (value / 62) as u8;
                remainder = value % 62;
            }
            *slot = ALPHABET[remainder as usize];
        }
        String::from_utf8(digits.to_vec()).unwrap()
    }

    #[test]
    fn chunked_encoding_matches_digit_by_digit_division() {
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut cases = vec![(0, [0u8; 14]), ((1 << 48) - 1, [255u8; 14])];
        for _ in 0..2_000 {
            let mut random = [0u8; 14];
            for byte in random.iter_mut() {
                *byte = next() as u8;
            }
            cases.push((next() >> 16, random));
        }
        for (ms, random) in cases {
            assert_eq!(
                encode_id_body(ms, random),
                encode_digit_by_digit(ms, random)
            );
        }
    }

    #[test]
    fn ids_have_the_documented_shape() {
        let id = MessageId::new(1_700_000_000_000, [7; 14]);
        assert!(id.as_str().starts_with("msg_"));
        assert_eq!(id.as_str().len(), 4 + ID_BODY_LEN);
        assert!(MessageId::looks_like(id.as_str()));
        assert_eq!(MessageId::parse(id.as_str()), Some(id.clone()));
        assert!(!EndpointId::looks_like(id.as_str()));
        assert!(MessageId::parse("msg_short").is_none());
    }

    #[test]
    fn ids_made_in_one_millisecond_still_increase() {
        let mut sequence = IdSequence::default();
        let mut previous = String::new();
        for random in [[200; 14], [1; 14], [255; 14], [0; 14]] {
            let (ms, bits) = sequence.next(1_700_000_000_000, random);
            let body = encode_id_body(ms, bits);
            assert!(body > previous, "{body} should sort after {previous}");
            previous = body;
        }
        // A clock that steps back does not reorder either.
        let (ms, bits) = sequence.next(1_600_000_000_000, [0; 14]);
        assert!(encode_id_body(ms, bits) > previous);
    }

    #[test]
    fn ids_sort_by_time() {
        let mut previous = encode_id_body(0, [255; 14]);
        for ms in [
            1u64,
            2,
            1_000,
            1_700_000_000_000,
            1_700_000_000_001,
            (1 << 48) - 1,
        ] {
            let next = encode_id_body(ms, [0; 14]);
            assert!(next > previous, "{next} should sort after {previous}");
            previous = encode_id_body(ms, [255; 14]);
            assert!(previous > next);
        }
    }
}
