//! A short-lived cache of applications by id or uid, for the publish path, which would
//! otherwise read the application on every message.
//!
//! **Invariant:** an entry is never older than `MAX_AGE`, and any change to an
//! application through this node clears the cache. A stale entry can only name an
//! application that another node just changed or deleted; publishing to a deleted one
//! still fails in the store (its deliveries and message need the application row).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use hookd_core::model::Application;

const MAX_AGE: Duration = Duration::from_secs(2);
/// Past this many entries the cache starts over, so it cannot grow without bound.
const MAX_ENTRIES: usize = 10_000;

#[derive(Default)]
pub struct AppCache {
    entries: Mutex<HashMap<String, (Instant, Application)>>,
}

impl AppCache {
    /// The cached application for `id_or_uid`, if fresh.
    pub fn get(&self, id_or_uid: &str) -> Option<Application> {
        let entries = self.lock();
        entries
            .get(id_or_uid)
            .filter(|(fetched, _)| fetched.elapsed() < MAX_AGE)
            .map(|(_, app)| app.clone())
    }

    pub fn insert(&self, id_or_uid: &str, app: &Application) {
        let mut entries = self.lock();
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(id_or_uid.to_owned(), (Instant::now(), app.clone()));
    }

    /// Forgets everything (after an application changed on this node).
    pub fn clear(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Instant, Application)>> {
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
