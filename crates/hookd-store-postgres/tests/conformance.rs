//! The store conformance suite, run against PostgreSQL: each test in a database of its
//! own on the server `HOOKD_TEST_PG_URL` names, dropped when the test ends.
//!
//! Without `HOOKD_TEST_PG_URL` every test prints "skipping postgres" and passes (under
//! `CI` it fails instead): the factory below runs inside each generated test, so its
//! early `return` ends that test before any store is made.

use std::sync::Arc;

use hookd_store::Store;
use hookd_store_postgres::testing;

hookd_store::store_conformance_tests!({
    let Some(server_url) = testing::server_url() else {
        return;
    };
    async move {
        let (store, database) = testing::store_in_new_database(&server_url).await;
        (Arc::new(store) as Arc<dyn Store>, database)
    }
});
