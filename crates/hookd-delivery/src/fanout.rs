//! How many deliveries a publish to an application is likely to make, learned from the
//! last publish to it, so that a publish reserves as many worker slots as it will lease
//! (see [`crate::Worker::reserve`]) rather than a fixed number.
//!
//! Without it, every publish reserved the most one may lease (16): with 64 publishes in
//! flight to a one-endpoint application, 1,024 slots were held for 64 deliveries, the
//! worker's 512 ran out, and the publishes after that left their deliveries to claims.
//!
//! **Invariant:** a guess only sizes a reservation. A wrong guess costs a claim (too
//! small) or slots held for the length of one write (too large), never a delivery.

use std::collections::HashMap;
use std::sync::Mutex;

use hookd_core::ids::ApplicationId;

/// Past this many applications the table starts over, so it cannot grow without bound.
const MAX_APPLICATIONS: usize = 10_000;

/// The last fan-out seen per application.
#[derive(Debug, Default)]
pub(crate) struct FanoutHints {
    last: Mutex<HashMap<ApplicationId, usize>>,
}

impl FanoutHints {
    /// The deliveries the next publish to `app_id` is expected to make, at most `max`;
    /// `max` for an application not seen yet.
    pub(crate) fn expected(&self, app_id: &ApplicationId, max: usize) -> usize {
        self.lock().get(app_id).map_or(max, |&last| last.min(max))
    }

    /// Remembers that a publish to `app_id` made `deliveries` deliveries, counting none
    /// as one: a write that made none (a duplicate inbound request, an application
    /// without endpoints yet) should not leave the next publish without a slot.
    pub(crate) fn learn(&self, app_id: &ApplicationId, deliveries: usize) {
        let deliveries = deliveries.max(1);
        let mut last = self.lock();
        if last.get(app_id) == Some(&deliveries) {
            return;
        }
        if last.len() >= MAX_APPLICATIONS {
            last.clear();
        }
        last.insert(app_id.clone(), deliveries);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ApplicationId, usize>> {
        self.last
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(id: &str) -> ApplicationId {
        ApplicationId::from_trusted(id.to_owned())
    }

    #[test]
    fn an_unknown_application_gets_the_most() {
        let hints = FanoutHints::default();
        assert_eq!(hints.expected(&app("app_a"), 16), 16);
    }

    #[test]
    fn the_last_fan_out_is_expected_next_within_the_most() {
        let hints = FanoutHints::default();
        hints.learn(&app("app_a"), 1);
        hints.learn(&app("app_b"), 40);
        assert_eq!(hints.expected(&app("app_a"), 16), 1);
        assert_eq!(hints.expected(&app("app_b"), 16), 16);
        hints.learn(&app("app_a"), 0);
        assert_eq!(hints.expected(&app("app_a"), 16), 1);
        hints.learn(&app("app_a"), 3);
        assert_eq!(hints.expected(&app("app_a"), 16), 3);
    }

    #[test]
    fn the_table_starts_over_when_full() {
        let hints = FanoutHints::default();
        for index in 0..MAX_APPLICATIONS {
            hints.learn(&app(&format!("app_{index}")), 1);
        }
        hints.learn(&app("app_last"), 2);
        assert_eq!(hints.expected(&app("app_0"), 16), 16);
        assert_eq!(hints.expected(&app("app_last"), 16), 2);
    }
}
