//! Per-endpoint `throttleRate` (messages per second), enforced by spacing attempts.
//!
//! Each throttled endpoint has a "next free slot" time. A delivery may go when its slot
//! is not in the future; otherwise it is given back to the queue, due at its slot. The
//! slot decision is a pure function; the map of slots is this node's memory, so the rate
//! holds per node (cross-node limits belong to the shared store, a later issue).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use hookd_core::ids::EndpointId;
use hookd_core::Timestamp;

/// Whether a delivery may go now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    Now,
    /// Not before this time.
    Later(Timestamp),
}

/// Takes a slot for one delivery at `now` given the endpoint's next free slot.
/// Returns the decision and the new next free slot.
pub fn admit(
    next_free: Option<Timestamp>,
    rate_per_second: u16,
    now: Timestamp,
) -> (Admission, Timestamp) {
    let spacing = chrono::Duration::from_std(Duration::from_secs_f64(
        1.0 / f64::from(rate_per_second.max(1)),
    ))
    .unwrap_or(chrono::Duration::seconds(1));
    match next_free {
        Some(slot) if slot > now => (Admission::Later(slot), slot),
        _ => (Admission::Now, now + spacing),
    }
}

/// The slots of every throttled endpoint this worker has seen.
#[derive(Debug, Default)]
pub struct Throttle {
    next_free: Mutex<HashMap<EndpointId, Timestamp>>,
}

impl Throttle {
    /// Takes a slot for one delivery to `endpoint_id`.
    pub fn admit(
        &self,
        endpoint_id: &EndpointId,
        rate_per_second: u16,
        now: Timestamp,
    ) -> Admission {
        let mut slots = self
            .next_free
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let (admission, next) = admit(slots.get(endpoint_id).copied(), rate_per_second, now);
        if admission == Admission::Now {
            slots.insert(endpoint_id.clone(), next);
        }
        admission
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn spaces_deliveries_at_the_rate() {
        let t0 = chrono::Utc.timestamp_opt(1_700_000_000, 0).unwrap();
        let (first, slot) = admit(None, 2, t0);
        assert_eq!(first, Admission::Now);
        assert_eq!(slot, t0 + chrono::Duration::milliseconds(500));
        let (second, same) = admit(Some(slot), 2, t0);
        assert_eq!(second, Admission::Later(slot));
        assert_eq!(same, slot);
        let (third, next) = admit(Some(slot), 2, slot);
        assert_eq!(third, Admission::Now);
        assert_eq!(next, slot + chrono::Duration::milliseconds(500));
    }
}
