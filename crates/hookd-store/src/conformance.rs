//! The conformance suite: the behaviour every [`Store`] backend must show,
//! written once and run against each backend.
//!
//! Each test is a `pub async fn name(store: Arc<dyn Store>)` that panics on a failed
//! assertion. A backend runs all of them with one line in its `tests/` directory:
//!
//! ```text
//! hookd_store::store_conformance_tests!(async { fresh_store().await });
//! ```
//!
//! **Invariant:** a test assumes nothing but a fresh, empty store and the trait. It never
//! sleeps (time moves by passing a later `now`), never names a backend, and builds its
//! records with [`fixtures`], so the same bodies hold for SQLite and PostgreSQL.

mod bins;
mod destinations;
pub mod fixtures;
mod messages;
mod observability;
mod queue;
mod records;
mod replay;
mod retention;
mod runs;
mod send_slots;
mod sources;
mod streams;

use std::any::Any;
use std::sync::Arc;

pub use bins::*;
pub use destinations::*;
pub use messages::*;
pub use observability::*;
pub use queue::*;
pub use records::*;
pub use replay::*;
pub use retention::*;
pub use runs::*;
pub use send_slots::*;
pub use sources::*;
pub use streams::*;

use crate::Store;

/// What a store factory handed to [`store_conformance_tests!`](crate::store_conformance_tests)
/// may produce: the store alone, or the store with a guard (a temporary directory, a
/// database to drop) that must outlive the test.
pub trait IntoTestStore {
    /// The store, and whatever must be kept alive until the test ends.
    fn into_test_store(self) -> (Arc<dyn Store>, Box<dyn Any + Send>);
}

impl IntoTestStore for Arc<dyn Store> {
    fn into_test_store(self) -> (Arc<dyn Store>, Box<dyn Any + Send>) {
        (self, Box::new(()))
    }
}

impl<G: Send + 'static> IntoTestStore for (Arc<dyn Store>, G) {
    fn into_test_store(self) -> (Arc<dyn Store>, Box<dyn Any + Send>) {
        (self.0, Box::new(self.1))
    }
}

/// Expands to one `#[tokio::test]` per conformance test, each on a fresh store.
///
/// The argument is an expression whose `.await` yields either an `Arc<dyn Store>` or an
/// `(Arc<dyn Store>, guard)` pair, where the guard (a `TempDir`, say) is dropped only
/// after the test body ends. It is evaluated once per test. The calling crate needs
/// `tokio` (with the `macros` and `rt` features) among its dev-dependencies.
///
/// ```text
/// hookd_store::store_conformance_tests!(async {
///     let dir = tempfile::tempdir().unwrap();
///     let store = MyStore::open(dir.path()).unwrap();
///     (Arc::new(store) as Arc<dyn hookd_store::Store>, dir)
/// });
/// ```
#[macro_export]
macro_rules! store_conformance_tests {
    ($make_store:expr) => {
        $crate::store_conformance_tests!(@each $make_store;
            // records
            application_crud,
            application_uid_conflict,
            endpoint_crud_is_scoped_to_its_application,
            endpoint_uid_conflict_is_per_application,
            active_endpoints_exclude_disabled,
            event_type_crud,
            event_type_listing_hides_archived,
            settings,
            idempotent_responses,
            ping,
            // messages
            create_message_writes_one_delivery_per_endpoint,
            create_message_with_an_endpoint_listed_twice,
            publish_message_fans_out_to_matching_endpoints,
            publish_with_a_lease_hands_over_its_deliveries,
            message_payload_round_trips_byte_for_byte,
            message_lookup_by_id_and_event_id,
            message_event_id_conflict_is_per_application,
            create_message_for_missing_application_is_not_found,
            concurrent_publishes_each_get_their_own_answer,
            list_messages_filters,
            paginate_applications,
            paginate_endpoints,
            paginate_messages,
            paginate_event_types,
            delete_application_cascades,
            delete_endpoint_cascades,
            // queue
            claim_leases_due_deliveries,
            claim_again_after_lease_expiry,
            claim_skips_deliveries_not_yet_due,
            claim_oldest_due_first_up_to_limit,
            claim_returns_deliveries_of_disabled_endpoints,
            record_success,
            record_retry,
            record_failure_and_disable,
            record_with_stale_lease_keeps_attempt_only,
            record_the_same_outcome_twice,
            record_outcomes_in_one_call,
            record_outcomes_without_health_changes,
            record_after_application_deleted,
            release_delivery,
            queue_depth,
            work_notifier_wakes_after_create_message,
            // runs, stats and attempts
            resend_starts_a_manual_run,
            resend_creates_a_missing_delivery,
            recover_endpoint_only_failed_in_window,
            endpoint_stats_counts_by_status,
            list_attempts_filters,
            attempt_lookup,
            paginate_attempts,
            // deliveries from either side
            list_message_destinations_with_their_state,
            list_endpoint_messages_with_their_state,
            expunge_attempt_content_clears_that_attempt_only,
            replay_missing_sends_only_what_the_endpoint_never_got,
            // retention
            expire_payloads_only_of_finished_old_messages,
            expire_batch_takes_the_oldest_up_to_its_limit,
            expiry_and_expunge_clear_source_headers,
            expire_attempt_content,
            expire_idempotency_keys,
            expunge_message_content_stops_unfinished_deliveries,
            expunge_unknown_message_is_not_found,
            recover_skips_messages_without_payload,
            // observability
            queue_metrics_oldest_waiting,
            pool_status_is_consistent,
            // sources (receive side)
            source_crud,
            ingest_writes_message_deliveries_and_request,
            inbound_request_of_message_finds_the_request_that_became_it,
            ingest_deduplicates_by_event_id_within_the_window,
            ingest_without_event_id_always_creates,
            ingest_with_a_lease_holds_what_it_leases,
            inbound_requests_are_listed_and_filtered,
            expire_inbound_requests_and_dedup_keys,
            delete_source_and_application_cascade,
            ingest_for_a_missing_source_writes_nothing,
            concurrent_ingests_of_one_event_id_make_one_message,
            // send slots of throttled endpoints
            send_slots_space_deliveries_to_one_endpoint,
            send_slots_are_distinct_when_taken_concurrently,
            send_slots_stale_and_early_claims,
            send_slots_need_the_lease_and_are_per_endpoint,
            // live streams
            stream_reads_in_commit_order_and_resumes,
            stream_has_every_concurrent_message_once,
            message_commits_are_announced,
            stream_of_deleted_application_is_empty,
            // inspector bins
            bin_crud,
            bin_captures_round_trip_in_order,
            bin_capture_refuses_full_expired_and_unknown_bins,
            concurrent_bin_captures_get_distinct_positions,
            bin_captures_are_announced,
            expire_bins_in_batches,
        );
    };
    (@each $make_store:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test]
            async fn $name() {
                let (store, guard) =
                    $crate::conformance::IntoTestStore::into_test_store($make_store.await);
                $crate::conformance::$name(store).await;
                drop(guard);
            }
        )*
    };
}

// ---- helpers shared by the test modules ----

/// Asserts `result` is `NotFound` naming the record kind `what`.
#[track_caller]
fn expect_not_found<T: std::fmt::Debug>(result: crate::StoreResult<T>, what: &str) {
    match result {
        Err(crate::StoreError::NotFound(kind)) => assert_eq!(kind, what, "wrong record kind"),
        other => panic!("expected `{what} not found`, got {other:?}"),
    }
}

/// Asserts `result` is `Conflict` and returns its message.
#[track_caller]
fn expect_conflict<T: std::fmt::Debug>(result: crate::StoreResult<T>) -> String {
    match result {
        Err(crate::StoreError::Conflict(message)) => message,
        other => panic!("expected a conflict, got {other:?}"),
    }
}

/// Creates an application and `n_endpoints` enabled endpoints in it.
async fn app_with_endpoints(
    store: &dyn Store,
    n_endpoints: usize,
) -> (
    hookd_core::model::Application,
    Vec<hookd_core::model::Endpoint>,
) {
    let application = fixtures::application("acme");
    store
        .create_application(&application)
        .await
        .expect("create application");
    let mut endpoints = Vec::with_capacity(n_endpoints);
    for index in 0..n_endpoints {
        let endpoint = fixtures::endpoint(
            &application.id,
            &format!("https://example.com/hook/{index}"),
        );
        store
            .create_endpoint(&endpoint)
            .await
            .expect("create endpoint");
        endpoints.push(endpoint);
    }
    (application, endpoints)
}

/// Five endpoints of `app_id` that the fan-out rule must tell apart, created in `store`:
/// one without filters, one for `invoice.paid` only, one for `user.created` only, one
/// for the `eu` channel only, and a disabled one. Each comes with whether a message of
/// type `invoice.paid` without channels reaches it.
async fn filtered_endpoints(
    store: &dyn Store,
    app_id: &hookd_core::ids::ApplicationId,
) -> [(hookd_core::model::Endpoint, bool); 5] {
    let endpoint = |url: &str, event_types: Option<&[&str]>, channels: Option<&[&str]>| {
        let mut endpoint = fixtures::endpoint(app_id, url);
        let list = |names: &[&str]| names.iter().map(|name| name.to_string()).collect();
        endpoint.event_types = event_types.map(list);
        endpoint.channels = channels.map(list);
        endpoint
    };
    let mut disabled = endpoint("https://a.example/off", None, None);
    disabled.disabled = true;
    let endpoints = [
        (endpoint("https://a.example/all", None, None), true),
        (
            endpoint("https://a.example/paid", Some(&["invoice.paid"]), None),
            true,
        ),
        (
            endpoint("https://a.example/other", Some(&["user.created"]), None),
            false,
        ),
        (endpoint("https://a.example/eu", None, Some(&["eu"])), false),
        (disabled, false),
    ];
    for (endpoint, _) in &endpoints {
        store
            .create_endpoint(endpoint)
            .await
            .expect("create endpoint");
    }
    endpoints
}

/// Publishes a message created at `created_at` to every endpoint in `endpoints`.
async fn publish_at(
    store: &dyn Store,
    app_id: &hookd_core::ids::ApplicationId,
    endpoints: &[hookd_core::model::Endpoint],
    created_at: hookd_core::Timestamp,
) -> hookd_core::model::Message {
    let message = fixtures::message_at(app_id, "invoice.paid", r#"{"amount":100}"#, created_at);
    let endpoint_ids: Vec<_> = endpoints
        .iter()
        .map(|endpoint| endpoint.id.clone())
        .collect();
    store
        .create_message(&message, &endpoint_ids)
        .await
        .expect("create message");
    message
}
