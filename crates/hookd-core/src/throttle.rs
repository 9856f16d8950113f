//! Per-endpoint `throttleRate` (messages per second) as send slots: the pure decision
//! every store backend applies, atomically, to one endpoint's "next free slot" and one
//! claimed delivery's reserved slot.
//!
//! How it works: each throttled endpoint has a next free slot, shared by every node on
//! the database. A delivery that wants to go takes the next free slot and moves it on by
//! one spacing (1 s ÷ rate). When that slot is now (or past), the delivery goes at once;
//! when it is in the future, the delivery keeps the slot and is given back to the queue,
//! due at it, so that when it is claimed again it goes without taking another. Each
//! waiting delivery therefore costs one reservation and one wait, however long the
//! backlog, instead of polling for a free slot.
//!
//! **Invariants:**
//! - Slots handed out for one endpoint are at least one spacing apart, and none is
//!   before the moment it was asked for: no credit builds up while the endpoint is idle.
//! - A reserved slot is used at most once, and only from the moment it comes due until
//!   [`SLOT_GRACE`] after. A delivery claimed later than that takes a fresh slot, so a
//!   worker that fell behind sends at most one grace period's worth of slots at once:
//!   over any window of length `w`, an endpoint gets at most `rate × (w + SLOT_GRACE) + 1`
//!   sends.

use std::time::Duration;

use crate::Timestamp;

/// How long after it comes due a reserved slot may still be used.
pub const SLOT_GRACE: Duration = Duration::from_secs(1);

/// The time between two sends to an endpoint limited to `rate_per_second` (0 counts as 1).
pub fn spacing(rate_per_second: u16) -> Duration {
    Duration::from_secs_f64(1.0 / f64::from(rate_per_second.max(1)))
}

/// What to do with a claimed delivery to a throttled endpoint, and what to store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotDecision {
    /// Send now with the slot the delivery reserved earlier; clear it.
    UseReserved,
    /// Send now; the endpoint's next free slot becomes `next_free`.
    SendNow { next_free: Timestamp },
    /// Wait: the delivery keeps the slot `at` and is due again then; the endpoint's next
    /// free slot becomes `next_free`.
    Reserve { at: Timestamp, next_free: Timestamp },
    /// Wait for the slot the delivery already holds, which is still in the future
    /// (claimed early, e.g. by a node whose clock runs ahead); store nothing new.
    WaitForReserved { at: Timestamp },
}

/// Decides for one delivery at `now`, given the endpoint's next free slot (`None` when it
/// never had one) and the slot the delivery already holds (`None` when it holds none).
pub fn decide(
    endpoint_next_free: Option<Timestamp>,
    delivery_slot: Option<Timestamp>,
    spacing: Duration,
    now: Timestamp,
) -> SlotDecision {
    let spacing = chrono::Duration::from_std(spacing).unwrap_or(chrono::Duration::seconds(1));
    let grace = chrono::Duration::from_std(SLOT_GRACE).unwrap_or(chrono::Duration::seconds(1));
    match delivery_slot {
        Some(slot) if slot > now => return SlotDecision::WaitForReserved { at: slot },
        Some(slot) if now < slot + grace => return SlotDecision::UseReserved,
        // No slot, or one that went stale: take a fresh one.
        _ => {}
    }
    let slot = endpoint_next_free.map_or(now, |next_free| next_free.max(now));
    let next_free = slot + spacing;
    if slot <= now {
        SlotDecision::SendNow { next_free }
    } else {
        SlotDecision::Reserve {
            at: slot,
            next_free,
        }
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn t(ms: i64) -> Timestamp {
        chrono::Utc
            .timestamp_millis_opt(1_700_000_000_000 + ms)
            .unwrap()
    }

    #[test]
    fn decisions() {
        let every_100ms = spacing(10);
        assert_eq!(every_100ms, Duration::from_millis(100));
        let check = |next_free, slot, now, expect| {
            assert_eq!(
                decide(next_free, slot, every_100ms, now),
                expect,
                "next_free {next_free:?}, slot {slot:?}, now {now:?}"
            );
        };
        // A first send goes at once and moves the slot on by one spacing.
        check(
            None,
            None,
            t(0),
            SlotDecision::SendNow { next_free: t(100) },
        );
        // An idle endpoint builds up no credit.
        check(
            Some(t(-5_000)),
            None,
            t(0),
            SlotDecision::SendNow { next_free: t(100) },
        );
        // A busy endpoint: the delivery reserves the next slot and waits for it.
        check(
            Some(t(300)),
            None,
            t(0),
            SlotDecision::Reserve {
                at: t(300),
                next_free: t(400),
            },
        );
        // Claimed again when its slot is due (or a little after): it goes.
        check(
            Some(t(900)),
            Some(t(300)),
            t(300),
            SlotDecision::UseReserved,
        );
        check(
            Some(t(900)),
            Some(t(300)),
            t(1_299),
            SlotDecision::UseReserved,
        );
        // Claimed early: it waits for the slot it holds and takes no other.
        check(
            Some(t(900)),
            Some(t(300)),
            t(250),
            SlotDecision::WaitForReserved { at: t(300) },
        );
        // Claimed a grace period late: the slot is stale and a fresh one is taken.
        check(
            Some(t(900)),
            Some(t(300)),
            t(1_300),
            SlotDecision::SendNow {
                next_free: t(1_400),
            },
        );
        check(
            Some(t(2_000)),
            Some(t(300)),
            t(1_300),
            SlotDecision::Reserve {
                at: t(2_000),
                next_free: t(2_100),
            },
        );
    }

    #[test]
    fn spacing_of_a_zero_rate_is_one_second() {
        assert_eq!(spacing(0), Duration::from_secs(1));
        assert_eq!(spacing(1), Duration::from_secs(1));
        assert_eq!(spacing(1_000), Duration::from_millis(1));
    }

    proptest::proptest! {
        /// However many deliveries ask, in any order of time, the slots handed out for
        /// one endpoint are a spacing apart and never before they were asked for.
        #[test]
        fn slots_are_spaced_and_never_in_the_past(
            rate in 1u16..2_000,
            asks in proptest::collection::vec(0i64..5_000, 1..60),
        ) {
            let spacing = spacing(rate);
            let mut asks = asks;
            asks.sort_unstable();
            let mut next_free = None;
            let mut slots = Vec::new();
            for ask in asks {
                let now = t(ask);
                let slot = match decide(next_free, None, spacing, now) {
                    SlotDecision::SendNow { next_free: next } => { next_free = Some(next); now }
                    SlotDecision::Reserve { at, next_free: next } => { next_free = Some(next); at }
                    other => panic!("a delivery without a slot got {other:?}"),
                };
                proptest::prop_assert!(slot >= now);
                slots.push(slot);
            }
            let spacing = chrono::Duration::from_std(spacing).unwrap();
            for pair in slots.windows(2) {
                proptest::prop_assert!(pair[1] - pair[0] >= spacing);
            }
        }
    }
}
