//! Handing freshly published deliveries straight to the publishing node's own worker.
//!
//! A publish that finds its node's worker with free capacity reserves it, writes the
//! deliveries already leased ([`Store::create_message_leased`](crate::Store::create_message_leased))
//! and hands them over in memory: no claim query, no wake-up, no second trip through the
//! database before the first attempt. Everything else (retries, work published elsewhere,
//! a node that died with leases) still goes through the claim.
//!
//! **Invariant:** a reservation holds worker capacity until it is delivered or dropped;
//! dropping it (the publish failed) gives the capacity back and hands over nothing.

use std::time::Duration;

use crate::ClaimedDelivery;

/// A worker on this node that accepts deliveries published here.
pub trait LocalWorker: Send + Sync {
    /// Reserves room for `deliveries` attempts to start now, or `None` when the worker is
    /// busy or stopping (the deliveries then wait in the queue as usual).
    fn reserve(&self, deliveries: usize) -> Option<Reservation>;
}

/// Room reserved in a [`LocalWorker`] for deliveries about to be published.
pub struct Reservation {
    lease: Duration,
    deliver: Box<dyn FnOnce(Vec<ClaimedDelivery>) + Send>,
}

impl Reservation {
    /// A reservation whose deliveries must be leased for `lease`, and which `deliver`
    /// starts attempting (at most as many as were reserved).
    pub fn new(
        lease: Duration,
        deliver: impl FnOnce(Vec<ClaimedDelivery>) + Send + 'static,
    ) -> Self {
        Self {
            lease,
            deliver: Box::new(deliver),
        }
    }

    /// How long the published deliveries must be leased for.
    pub fn lease(&self) -> Duration {
        self.lease
    }

    /// Starts attempting `claimed`, the deliveries written under this reservation.
    pub fn deliver(self, claimed: Vec<ClaimedDelivery>) {
        (self.deliver)(claimed);
    }
}

impl std::fmt::Debug for Reservation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reservation")
            .field("lease", &self.lease)
            .finish_non_exhaustive()
    }
}
