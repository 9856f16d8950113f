//! The answer of `Store::take_send_slot`: whether a claimed delivery to a throttled
//! endpoint may be sent now.
//!
//! **Invariant:** `Later` and `LeaseLost` both mean the caller no longer holds the
//! delivery: it must not send it, and must not record an outcome for it.

use hookd_core::Timestamp;

/// Whether a claimed delivery to a throttled endpoint may go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendSlot {
    /// Send it now; the lease is still held.
    Now,
    /// Not before this time: the delivery was given back to the queue, due then, and
    /// keeps its slot.
    Later(Timestamp),
    /// The lease was no longer current; nothing changed.
    LeaseLost,
}
