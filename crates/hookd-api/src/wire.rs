//! Small wire helpers: timestamps as Svix writes them, fresh ids, tri-state patch fields.

use chrono::{SecondsFormat, Utc};
use hookd_core::Timestamp;
use serde::{Deserialize, Deserializer, Serializer};

/// The current time, truncated to milliseconds (what the store keeps).
pub fn now() -> Timestamp {
    let now = Utc::now();
    chrono::DateTime::from_timestamp_millis(now.timestamp_millis()).unwrap_or(now)
}

/// Fresh id material: milliseconds and 14 random bytes.
pub fn id_parts(at: Timestamp) -> (u64, [u8; 14]) {
    (at.timestamp_millis().max(0) as u64, rand::random())
}

/// Serialises a timestamp as RFC 3339 with milliseconds and `Z`.
pub fn timestamp<S: Serializer>(value: &Timestamp, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&value.to_rfc3339_opts(SecondsFormat::Millis, true))
}

/// A PATCH field: absent (`None`), explicitly null (`Some(None)`), or set.
pub fn patch_field<'de, T, D>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    T: Deserialize<'de>,
    D: Deserializer<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}
