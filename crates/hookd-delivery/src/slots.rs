//! Per-endpoint bounds on requests in flight, so one slow or hanging receiver cannot hold
//! every worker slot while other endpoints wait.
//!
//! **Invariant:** a slot is held by a guard and given back when the guard drops, however
//! the attempt ends (success, failure, panic, cancellation at shutdown).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use hookd_core::ids::EndpointId;

/// Counts of requests in flight, by endpoint.
#[derive(Debug)]
pub(crate) struct EndpointSlots {
    limit: usize,
    taken: Arc<Mutex<HashMap<EndpointId, usize>>>,
}

/// One request's slot; dropping it frees the slot.
#[derive(Debug)]
pub(crate) struct EndpointSlot {
    endpoint_id: EndpointId,
    taken: Arc<Mutex<HashMap<EndpointId, usize>>>,
}

impl EndpointSlots {
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            limit: limit.max(1),
            taken: Arc::default(),
        }
    }

    /// A slot for one request to `endpoint_id`, or `None` when all of its slots are taken.
    pub(crate) fn try_take(&self, endpoint_id: &EndpointId) -> Option<EndpointSlot> {
        let mut taken = self
            .taken
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let count = taken.entry(endpoint_id.clone()).or_insert(0);
        if *count >= self.limit {
            return None;
        }
        *count += 1;
        Some(EndpointSlot {
            endpoint_id: endpoint_id.clone(),
            taken: self.taken.clone(),
        })
    }
}

impl Drop for EndpointSlot {
    fn drop(&mut self) {
        let mut taken = self
            .taken
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(count) = taken.get_mut(&self.endpoint_id) {
            *count -= 1;
            if *count == 0 {
                taken.remove(&self.endpoint_id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_bounded_per_endpoint_and_freed_on_drop() {
        let slots = EndpointSlots::new(2);
        let slow = EndpointId::new(1, [1; 14]);
        let other = EndpointId::new(2, [2; 14]);
        let first = slots.try_take(&slow).expect("first slot");
        let second = slots.try_take(&slow).expect("second slot");
        assert!(slots.try_take(&slow).is_none(), "the third request waits");
        assert!(
            slots.try_take(&other).is_some(),
            "another endpoint is not affected"
        );
        drop(first);
        let third = slots.try_take(&slow).expect("a freed slot is reused");
        drop((second, third));
        assert!(
            slots.taken.lock().unwrap().is_empty(),
            "no counts are left behind"
        );
    }
}
