//! Send slots of throttled endpoints (`Store::take_send_slot`), shared by every node on
//! the database: `hookd_core::throttle::decide` written as one statement.
//!
//! **Invariants:**
//! - One statement, so one round trip and one implicit transaction: the endpoint's next
//!   free slot moves on under its row lock (`INSERT … ON CONFLICT DO UPDATE`), so two
//!   nodes taking slots at once queue on that row and never get the same slot.
//! - Nothing changes unless the caller's lease is current; a delivery given back to
//!   wait for its slot loses its lease in the same statement.
//! - The SQL mirrors `decide` case by case; the conformance suite checks both backends
//!   against the same expectations.

use std::time::Duration;

use hookd_core::ids::EndpointId;
use hookd_core::throttle::SLOT_GRACE;
use hookd_core::Timestamp;
use hookd_store::{Lease, SendSlot, StoreResult};

use crate::db::{retry_transient, Db};
use crate::rows::get;

/// `$1` delivery id, `$2` lease token, `$3` endpoint id, `$4` now, `$5` spacing and `$6`
/// grace in microseconds. `own` is the delivery's reserved slot unless it went stale;
/// `taken` moves the endpoint's next free slot on when there is no such slot. The
/// delivery row changes only to wait (slot in the future: keep it, due then, lease
/// dropped) or to clear a slot it held. Answers whether the lease was held, the slot, and
/// whether the slot is still to come.
const TAKE_SLOT_SQL: &str = "WITH held AS ( \
        SELECT send_slot_at AS slot FROM deliveries \
        WHERE id = $1 AND lease_token = $2 AND next_attempt_at IS NOT NULL \
    ), own AS ( \
        SELECT slot FROM held \
        WHERE slot IS NOT NULL AND $4 < slot + $6::bigint * interval '1 microsecond' \
    ), taken AS ( \
        INSERT INTO endpoint_send_slots AS s (endpoint_id, next_send_at) \
        SELECT $3, $4 + $5::bigint * interval '1 microsecond' \
        WHERE EXISTS (SELECT 1 FROM held) AND NOT EXISTS (SELECT 1 FROM own) \
        ON CONFLICT (endpoint_id) DO UPDATE \
            SET next_send_at = greatest(s.next_send_at, $4) + $5::bigint * interval '1 microsecond' \
        RETURNING s.next_send_at - $5::bigint * interval '1 microsecond' AS slot \
    ), chosen AS ( \
        SELECT slot, slot > $4 AS later FROM own \
        UNION ALL SELECT slot, slot > $4 FROM taken \
    ), changed AS ( \
        UPDATE deliveries d SET \
            send_slot_at = CASE WHEN c.later THEN c.slot END, \
            next_attempt_at = CASE WHEN c.later THEN c.slot ELSE d.next_attempt_at END, \
            lease_token = CASE WHEN c.later THEN NULL ELSE d.lease_token END, \
            lease_expires_at = CASE WHEN c.later THEN NULL ELSE d.lease_expires_at END \
        FROM chosen c \
        WHERE d.id = $1 AND d.lease_token = $2 AND (c.later OR d.send_slot_at IS NOT NULL) \
    ) \
    SELECT EXISTS (SELECT 1 FROM held), (SELECT slot FROM chosen), \
        coalesce((SELECT later FROM chosen), false)";

/// Takes a send slot for the leased delivery; see `Store::take_send_slot`.
pub(crate) async fn take_send_slot(
    db: &Db,
    lease: &Lease,
    endpoint_id: &EndpointId,
    spacing: Duration,
    now: Timestamp,
) -> StoreResult<SendSlot> {
    let spacing_us = micros(spacing);
    let grace_us = micros(SLOT_GRACE);
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 6] = [
        &lease.delivery_id.as_str(),
        &lease.token,
        &endpoint_id.as_str(),
        &now,
        &spacing_us,
        &grace_us,
    ];
    // A foreign-key error here means the endpoint was deleted between the read of the
    // delivery and the insert of its slot row: the next try finds the delivery gone.
    let rows = retry_transient(db, || db.try_query(TAKE_SLOT_SQL, &params)).await?;
    let Some(row) = rows.first() else {
        return Ok(SendSlot::LeaseLost);
    };
    let held: bool = get(row, 0)?;
    let slot: Option<Timestamp> = get(row, 1)?;
    let later: bool = get(row, 2)?;
    Ok(match (held, slot) {
        (false, _) | (true, None) => SendSlot::LeaseLost,
        (true, Some(slot)) if later => SendSlot::Later(slot),
        (true, Some(_)) => SendSlot::Now,
    })
}

fn micros(duration: Duration) -> i64 {
    // Round up, so that the spacing PostgreSQL keeps is never shorter than the rate's.
    i64::try_from(duration.as_nanos().div_ceil(1_000)).unwrap_or(i64::MAX)
}
