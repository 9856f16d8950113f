//! The store conformance suite, run against SQLite: each test on a fresh database file in
//! its own temporary directory, removed when the test ends.

use std::sync::Arc;

use hookd_store::Store;
use hookd_store_sqlite::SqliteStore;

async fn fresh_store() -> (Arc<dyn Store>, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("create a temporary directory");
    let store = SqliteStore::open(&dir.path().join("hookd.db")).expect("open a fresh database");
    (Arc::new(store), dir)
}

hookd_store::store_conformance_tests!(fresh_store());
