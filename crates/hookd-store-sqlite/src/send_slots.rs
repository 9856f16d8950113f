//! Send slots of throttled endpoints (`Store::take_send_slot`): the decision of
//! `hookd_core::throttle` applied to the endpoint's next free slot and the delivery's
//! reserved slot, on the single writer.
//!
//! **Invariant:** the read of both slots and the writes that follow run in one writer
//! command, so no other claim, release or slot can interleave with them; nothing changes
//! unless the caller's lease is current.

use std::time::Duration;

use hookd_core::ids::EndpointId;
use hookd_core::throttle::{self, SlotDecision};
use hookd_core::Timestamp;
use hookd_store::{Lease, SendSlot, StoreResult};
use rusqlite::{params, Connection, OptionalExtension};

use crate::error::DbResultExt;
use crate::rows::{millis, opt_timestamp};

/// Takes a send slot for the leased delivery; see `Store::take_send_slot`.
pub(crate) fn take_send_slot(
    connection: &Connection,
    lease: &Lease,
    endpoint_id: &EndpointId,
    spacing: Duration,
    now: Timestamp,
) -> StoreResult<SendSlot> {
    let held: Option<Option<Timestamp>> = connection
        .prepare_cached(
            "SELECT send_slot_at FROM deliveries \
             WHERE id = ?1 AND lease_token = ?2 AND next_attempt_at IS NOT NULL",
        )
        .db()?
        .query_row(params![lease.delivery_id.as_str(), lease.token], |row| {
            opt_timestamp(row, 0)
        })
        .optional()
        .db()?;
    let Some(delivery_slot) = held else {
        return Ok(SendSlot::LeaseLost);
    };
    let next_free: Option<Timestamp> = connection
        .prepare_cached("SELECT next_send_at FROM endpoint_send_slots WHERE endpoint_id = ?1")
        .db()?
        .query_row(params![endpoint_id.as_str()], |row| opt_timestamp(row, 0))
        .optional()
        .db()?
        .flatten();
    match throttle::decide(next_free, delivery_slot, spacing, now) {
        SlotDecision::UseReserved => {
            set_delivery_slot(connection, lease, None)?;
            Ok(SendSlot::Now)
        }
        SlotDecision::SendNow { next_free } => {
            set_next_free(connection, endpoint_id, next_free)?;
            if delivery_slot.is_some() {
                set_delivery_slot(connection, lease, None)?;
            }
            Ok(SendSlot::Now)
        }
        SlotDecision::Reserve { at, next_free } => {
            set_next_free(connection, endpoint_id, next_free)?;
            release_holding(connection, lease, at)?;
            Ok(SendSlot::Later(at))
        }
        SlotDecision::WaitForReserved { at } => {
            release_holding(connection, lease, at)?;
            Ok(SendSlot::Later(at))
        }
    }
}

/// Stores the endpoint's next free slot, rounded up to the millisecond the column keeps,
/// so that rounding can never bring two slots closer than the spacing.
fn set_next_free(
    connection: &Connection,
    endpoint_id: &EndpointId,
    next_free: Timestamp,
) -> StoreResult<()> {
    let mut next_free_ms = millis(next_free);
    if next_free.timestamp_subsec_nanos() % 1_000_000 != 0 {
        next_free_ms += 1;
    }
    connection
        .prepare_cached(
            "INSERT INTO endpoint_send_slots (endpoint_id, next_send_at) VALUES (?1, ?2) \
             ON CONFLICT (endpoint_id) DO UPDATE SET next_send_at = excluded.next_send_at",
        )
        .db()?
        .execute(params![endpoint_id.as_str(), next_free_ms])
        .db()?;
    Ok(())
}

fn set_delivery_slot(
    connection: &Connection,
    lease: &Lease,
    slot: Option<Timestamp>,
) -> StoreResult<()> {
    connection
        .prepare_cached(
            "UPDATE deliveries SET send_slot_at = ?3 WHERE id = ?1 AND lease_token = ?2",
        )
        .db()?
        .execute(params![
            lease.delivery_id.as_str(),
            lease.token,
            slot.map(millis)
        ])
        .db()?;
    Ok(())
}

/// Gives the delivery back, due at its slot `at`, which it keeps.
fn release_holding(connection: &Connection, lease: &Lease, at: Timestamp) -> StoreResult<()> {
    connection
        .prepare_cached(
            "UPDATE deliveries SET send_slot_at = ?3, next_attempt_at = ?3, \
                 lease_token = NULL, lease_expires_at = NULL \
             WHERE id = ?1 AND lease_token = ?2",
        )
        .db()?
        .execute(params![lease.delivery_id.as_str(), lease.token, millis(at)])
        .db()?;
    Ok(())
}
