//! hookd's scale-out store: [`PostgresStore`], the [`Store`] trait on one PostgreSQL
//! database that any number of hookd nodes share.
//!
//! Shape: a deadpool of tokio-postgres connections serves every call; most operations
//! are one statement (one round trip, one implicit transaction); concurrent publishes
//! share one (group commit, see `publisher`), and so do their endpoint lookups (see
//! `endpoint_lookups`). The delivery queue is
//! the `deliveries` table: claims lease rows with `FOR UPDATE SKIP LOCKED` (see `queue`),
//! and a dedicated `LISTEN hookd_work` connection wakes workers when another node
//! publishes (see `wakeups`). The schema is migrated when a store connects (see
//! `migrate`).
//!
//! **Invariants:**
//! - Every write has committed before its call returns, with `synchronous_commit` on:
//!   a 2xx means the write is durable. `create_message` writes the message and its
//!   deliveries in one statement, so they commit together.
//! - Several nodes never hold a lease on the same delivery at once; all coordination is
//!   PostgreSQL's (row locks, advisory locks, notifications), none is home-made.
//! - No database error panics; each becomes a `StoreError` with the PostgreSQL error
//!   kept as its source, and no password appears in any error, log line or `Debug`.

mod applications;
mod bins;
mod db;
mod destinations;
mod endpoint_lookups;
mod error;
mod event_types;
mod messages;
mod migrate;
mod observability;
mod pagination;
mod publisher;
#[cfg(all(test, feature = "testing"))]
mod query_plans;
mod queue;
mod replay;
mod retention;
mod rows;
mod runs;
mod send_slots;
mod settings;
mod setup;
mod sources;
mod streams;
#[cfg(feature = "testing")]
pub mod testing;
mod wakeups;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use hookd_core::bin::{Bin, BinRequest};
use hookd_core::ids::{
    ApplicationId, BinId, BinRequestId, DeliveryId, EndpointId, InboundRequestId, MessageId,
    SourceId,
};
use hookd_core::model::{Application, Attempt, Delivery, Endpoint, EventType, Message};
use hookd_core::source::{InboundRecord, Source};
use hookd_core::Timestamp;
use hookd_store::{
    endpoint_accepts_message, CaptureOutcome, StreamBatch, StreamCursor, StreamedBinRequest,
};
use hookd_store::{
    AttemptFilter, ClaimedDelivery, EndpointStats, ExpiryKind, InboundFilter, InboundIngest,
    IngestOutcome, Lease, MessageFilter, OutcomeRecord, Page, PageRequest, PoolStatus,
    PublishLease, Published, QueueDepth, QueueMetrics, SendSlot, Store, StoreResult,
    StoredResponse, TimeWindow,
};
use hookd_store::{Destination, EndpointMessage, EndpointMessageFilter, ReplayBatch};
use tokio::sync::{broadcast, Notify};

use crate::db::Db;
use crate::endpoint_lookups::EndpointLookups;
use crate::publisher::{Publisher, Target};
use crate::setup::Settings;
use crate::wakeups::Wakeups;

pub use crate::setup::redact_url;

/// Tuning of a [`PostgresStore`]. `PostgresOptions::default()` is what
/// [`PostgresStore::connect`] uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PostgresOptions {
    /// Most pooled connections this store opens (they open on demand); the LISTEN
    /// connection comes on top. Values below 1 count as 1. Default: 16.
    pub pool_size: usize,
    /// How long opening one connection may take, unless the URL sets
    /// `connect_timeout`. Default: 5 seconds.
    pub connect_timeout: Duration,
    /// How long a call waits for a free pooled connection before it fails as
    /// unavailable. Default: 10 seconds.
    pub acquire_timeout: Duration,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        Self {
            pool_size: 16,
            connect_timeout: Duration::from_secs(5),
            acquire_timeout: Duration::from_secs(10),
        }
    }
}

/// The PostgreSQL-backed [`Store`].
///
/// Share it behind an `Arc`; dropping it closes its pool and stops its LISTEN task.
/// Several stores (on several nodes, or in one process) may use one database at once.
pub struct PostgresStore {
    db: Arc<Db>,
    publisher: Publisher,
    endpoint_lookups: EndpointLookups,
    wakeups: Wakeups,
    options: PostgresOptions,
    database: Option<String>,
    user: Option<String>,
}

impl PostgresStore {
    /// Connects to the database `url` names (`postgres://user:password@host:5432/db`, or
    /// a `key=value` connection string), applies any pending migrations, and starts
    /// listening for work published by other nodes.
    ///
    /// # Errors
    /// `Unavailable` when the URL is invalid or asks for TLS, the server cannot be
    /// reached or refuses the login, or the schema is newer than this build knows;
    /// `Internal` when a migration fails.
    ///
    /// ```no_run
    /// # async fn example() -> Result<(), hookd_store::StoreError> {
    /// use hookd_store::Store;
    /// use hookd_store_postgres::PostgresStore;
    ///
    /// let store = PostgresStore::connect("postgres://hookd@127.0.0.1:5432/hookd").await?;
    /// store.ping().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn connect(url: &str) -> StoreResult<PostgresStore> {
        Self::connect_with(url, PostgresOptions::default()).await
    }

    /// [`PostgresStore::connect`] with explicit [`PostgresOptions`].
    ///
    /// # Errors
    /// As [`PostgresStore::connect`].
    pub async fn connect_with(url: &str, options: PostgresOptions) -> StoreResult<PostgresStore> {
        let mut settings = Settings::parse(url, &options)?;
        // The schema comes first, on a connection of its own, so no pooled connection
        // ever serves a request against an older schema.
        settings.prepare_database().await?;
        let pool = settings.pool(&options)?;
        let server: Arc<str> = Arc::from(settings.server.as_str());
        let wakeups = Wakeups::start(settings.listener_config(), Arc::clone(&server)).await?;
        tracing::debug!(server = %server, pool_size = options.pool_size, "connected to PostgreSQL");
        let db = Arc::new(Db::new(pool, server, options.pool_size.max(1)));
        Ok(PostgresStore {
            publisher: Publisher::start(Arc::clone(&db)),
            endpoint_lookups: EndpointLookups::start(Arc::clone(&db)),
            db,
            wakeups,
            options,
            database: settings.config.get_dbname().map(str::to_owned),
            user: settings.config.get_user().map(str::to_owned),
        })
    }

    /// The server this store talks to, as `host:port` (never with credentials).
    pub fn server(&self) -> &str {
        self.db.server()
    }
}

impl fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Deliberately not the connection config: the password stays out of logs.
        f.debug_struct("PostgresStore")
            .field("server", &self.db.server())
            .field("database", &self.database)
            .field("user", &self.user)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Store for PostgresStore {
    async fn create_application(&self, application: &Application) -> StoreResult<()> {
        applications::create_application(&self.db, application).await
    }

    async fn application(&self, id_or_uid: &str) -> StoreResult<Application> {
        applications::application(&self.db, id_or_uid).await
    }

    async fn list_applications(&self, page: &PageRequest) -> StoreResult<Page<Application>> {
        applications::list_applications(&self.db, page).await
    }

    async fn update_application(&self, application: &Application) -> StoreResult<()> {
        applications::update_application(&self.db, application).await
    }

    async fn delete_application(&self, app_id: &ApplicationId) -> StoreResult<()> {
        applications::delete_application(&self.db, app_id).await
    }

    async fn create_endpoint(&self, endpoint: &Endpoint) -> StoreResult<()> {
        applications::create_endpoint(&self.db, endpoint).await
    }

    async fn endpoint(&self, app_id: &ApplicationId, id_or_uid: &str) -> StoreResult<Endpoint> {
        applications::endpoint(&self.db, app_id, id_or_uid).await
    }

    async fn list_endpoints(
        &self,
        app_id: &ApplicationId,
        page: &PageRequest,
    ) -> StoreResult<Page<Endpoint>> {
        applications::list_endpoints(&self.db, app_id, page).await
    }

    async fn active_endpoints(&self, app_id: &ApplicationId) -> StoreResult<Vec<Endpoint>> {
        self.endpoint_lookups.active_endpoints(app_id).await
    }

    async fn update_endpoint(&self, endpoint: &Endpoint) -> StoreResult<()> {
        applications::update_endpoint(&self.db, endpoint).await
    }

    async fn delete_endpoint(
        &self,
        app_id: &ApplicationId,
        endpoint_id: &EndpointId,
    ) -> StoreResult<()> {
        applications::delete_endpoint(&self.db, app_id, endpoint_id).await
    }

    async fn endpoint_stats(
        &self,
        app_id: &ApplicationId,
        endpoint_id: &EndpointId,
        window: &TimeWindow,
    ) -> StoreResult<EndpointStats> {
        runs::endpoint_stats(&self.db, app_id, endpoint_id, window).await
    }

    async fn create_event_type(&self, event_type: &EventType) -> StoreResult<()> {
        event_types::create_event_type(&self.db, event_type).await
    }

    async fn event_type(&self, name: &str) -> StoreResult<EventType> {
        event_types::event_type(&self.db, name).await
    }

    async fn list_event_types(
        &self,
        page: &PageRequest,
        include_archived: bool,
    ) -> StoreResult<Page<EventType>> {
        event_types::list_event_types(&self.db, page, include_archived).await
    }

    async fn update_event_type(&self, event_type: &EventType) -> StoreResult<()> {
        event_types::update_event_type(&self.db, event_type).await
    }

    async fn delete_event_type(&self, name: &str) -> StoreResult<()> {
        event_types::delete_event_type(&self.db, name).await
    }

    async fn create_message(
        &self,
        message: &Message,
        endpoint_ids: &[EndpointId],
    ) -> StoreResult<()> {
        let targets = Target::unleased_to_each(message, endpoint_ids);
        let written = self.publisher.publish(message, targets).await?;
        if written.deliveries > 0 {
            self.wakeups.work_committed();
        }
        self.wakeups.message_committed(&message.app_id);
        Ok(())
    }

    async fn publish_message(
        &self,
        message: &Message,
        lease: Option<PublishLease>,
    ) -> StoreResult<Published> {
        let endpoints: Vec<Endpoint> = self
            .active_endpoints(&message.app_id)
            .await?
            .into_iter()
            .filter(|endpoint| endpoint_accepts_message(endpoint, message))
            .collect();
        let targets = publisher::targets_for(message, &endpoints, lease);
        let written = self.publisher.publish(message, targets.clone()).await?;
        let leased = if written.leases_written {
            publisher::handed_over(message, targets, endpoints, &written.delivery_ids)
        } else {
            Vec::new()
        };
        let published = Published {
            deliveries: written.deliveries,
            leased,
        };
        // Other nodes are told only about deliveries left in the queue: the leased
        // ones are this node's to attempt.
        if published.deliveries > published.leased.len() {
            self.wakeups.work_committed();
        }
        self.wakeups.message_committed(&message.app_id);
        Ok(published)
    }

    async fn message(&self, app_id: &ApplicationId, id_or_event_id: &str) -> StoreResult<Message> {
        messages::message(&self.db, app_id, id_or_event_id).await
    }

    async fn list_messages(
        &self,
        app_id: &ApplicationId,
        filter: &MessageFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<Message>> {
        messages::list_messages(&self.db, app_id, filter, page).await
    }

    async fn claim_due_deliveries(
        &self,
        now: Timestamp,
        lease: Duration,
        limit: usize,
    ) -> StoreResult<Vec<ClaimedDelivery>> {
        queue::claim_due_deliveries(&self.db, now, lease, limit).await
    }

    async fn record_outcome(&self, record: &OutcomeRecord) -> StoreResult<bool> {
        queue::record_outcome(&self.db, record).await
    }

    async fn record_outcomes(&self, records: &[OutcomeRecord]) -> StoreResult<Vec<bool>> {
        queue::record_outcomes(&self.db, records).await
    }

    async fn release_delivery(&self, lease: &Lease, due_at: Timestamp) -> StoreResult<()> {
        if queue::release_delivery(&self.db, lease, due_at).await? {
            self.wakeups.work_committed();
        }
        Ok(())
    }

    async fn resend(
        &self,
        app_id: &ApplicationId,
        msg_id: &MessageId,
        endpoint_id: &EndpointId,
        now: Timestamp,
    ) -> StoreResult<()> {
        runs::resend(&self.db, app_id, msg_id, endpoint_id, now).await?;
        self.wakeups.work_committed();
        Ok(())
    }

    async fn recover_endpoint(
        &self,
        app_id: &ApplicationId,
        endpoint_id: &EndpointId,
        window: &TimeWindow,
        now: Timestamp,
    ) -> StoreResult<u64> {
        let recovered = runs::recover_endpoint(&self.db, app_id, endpoint_id, window, now).await?;
        if recovered > 0 {
            self.wakeups.work_committed();
        }
        Ok(recovered)
    }

    async fn replay_missing(
        &self,
        app_id: &ApplicationId,
        endpoint_id: &EndpointId,
        window: &TimeWindow,
        after: Option<&MessageId>,
        scan: usize,
        now: Timestamp,
    ) -> StoreResult<ReplayBatch> {
        replay::replay_missing(&self.db, app_id, endpoint_id, window, after, scan, now).await
    }

    async fn delivery(
        &self,
        app_id: &ApplicationId,
        msg_id: &MessageId,
        endpoint_id: &EndpointId,
    ) -> StoreResult<Delivery> {
        runs::delivery(&self.db, app_id, msg_id, endpoint_id).await
    }

    async fn queue_depth(&self, now: Timestamp) -> StoreResult<QueueDepth> {
        runs::queue_depth(&self.db, now).await
    }

    async fn list_message_destinations(
        &self,
        app_id: &ApplicationId,
        msg_id: &MessageId,
        page: &PageRequest,
    ) -> StoreResult<Page<Destination>> {
        destinations::list_message_destinations(&self.db, app_id, msg_id, page).await
    }

    async fn list_endpoint_messages(
        &self,
        app_id: &ApplicationId,
        endpoint_id: &EndpointId,
        filter: &EndpointMessageFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<EndpointMessage>> {
        destinations::list_endpoint_messages(&self.db, app_id, endpoint_id, filter, page).await
    }

    async fn list_attempts(
        &self,
        app_id: &ApplicationId,
        filter: &AttemptFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<Attempt>> {
        messages::list_attempts(&self.db, app_id, filter, page).await
    }

    async fn attempt(
        &self,
        app_id: &ApplicationId,
        msg_id: &MessageId,
        attempt_id: &str,
    ) -> StoreResult<Attempt> {
        messages::attempt(&self.db, app_id, msg_id, attempt_id).await
    }

    async fn idempotent_response(
        &self,
        key: &str,
        not_before: Timestamp,
    ) -> StoreResult<Option<StoredResponse>> {
        settings::idempotent_response(&self.db, key, not_before).await
    }

    async fn save_idempotent_response(
        &self,
        key: &str,
        response: &StoredResponse,
        created_at: Timestamp,
    ) -> StoreResult<()> {
        settings::save_idempotent_response(&self.db, key, response, created_at).await
    }

    async fn setting(&self, key: &str) -> StoreResult<Option<String>> {
        settings::setting(&self.db, key).await
    }

    async fn set_setting_if_absent(&self, key: &str, value: &str) -> StoreResult<bool> {
        settings::set_setting_if_absent(&self.db, key, value).await
    }

    async fn set_setting(&self, key: &str, value: &str) -> StoreResult<()> {
        settings::set_setting(&self.db, key, value).await
    }

    fn work_notifier(&self) -> Arc<Notify> {
        self.wakeups.notifier()
    }

    async fn ping(&self) -> StoreResult<()> {
        let client = self.db.client().await?;
        client
            .simple_query("SELECT 1")
            .await
            .map_err(|error| self.db.error(error))?;
        Ok(())
    }

    async fn lease_of(&self, delivery_id: &DeliveryId) -> StoreResult<Option<Timestamp>> {
        runs::lease_of(&self.db, delivery_id).await
    }

    async fn expire_batch(
        &self,
        kind: ExpiryKind,
        cutoff: Timestamp,
        limit: usize,
    ) -> StoreResult<u64> {
        retention::expire_batch(&self.db, kind, cutoff, limit).await
    }

    async fn expunge_message_content(
        &self,
        app_id: &ApplicationId,
        msg_id: &MessageId,
        now: Timestamp,
    ) -> StoreResult<u64> {
        retention::expunge_message_content(&self.db, app_id, msg_id, now).await
    }

    async fn expunge_attempt_content(
        &self,
        app_id: &ApplicationId,
        msg_id: &MessageId,
        attempt_id: &str,
    ) -> StoreResult<()> {
        destinations::expunge_attempt_content(&self.db, app_id, msg_id, attempt_id).await
    }

    async fn queue_metrics(&self, now: Timestamp) -> StoreResult<QueueMetrics> {
        observability::queue_metrics(&self.db, now).await
    }

    fn pool_status(&self) -> Vec<PoolStatus> {
        observability::pool_status(&self.db)
    }

    // ---- sources (receive side) ----

    async fn create_source(&self, source: &Source) -> StoreResult<()> {
        sources::create_source(&self.db, source).await
    }

    async fn source(&self, id_or_uid: &str) -> StoreResult<Source> {
        sources::source(&self.db, id_or_uid).await
    }

    async fn list_sources(&self, page: &PageRequest) -> StoreResult<Page<Source>> {
        sources::list_sources(&self.db, page).await
    }

    async fn update_source(&self, source: &Source) -> StoreResult<()> {
        sources::update_source(&self.db, source).await
    }

    async fn delete_source(&self, source_id: &SourceId) -> StoreResult<()> {
        sources::delete_source(&self.db, source_id).await
    }

    async fn record_inbound_request(&self, request: &InboundRecord) -> StoreResult<()> {
        sources::record_inbound_request(&self.db, request).await
    }

    async fn ingest_inbound_leased(
        &self,
        ingest: InboundIngest,
        lease: Option<PublishLease>,
    ) -> StoreResult<(IngestOutcome, Published)> {
        let (outcome, published) = sources::ingest_inbound(&self.db, &ingest, lease).await?;
        // Other nodes hear about the message, and about the deliveries left in the queue.
        self.wakeups.message_committed(&ingest.message.app_id);
        if published.deliveries > published.leased.len() {
            self.wakeups.work_committed();
        }
        Ok((outcome, published))
    }

    async fn list_inbound_requests(
        &self,
        source_id: &SourceId,
        filter: &InboundFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<InboundRecord>> {
        sources::list_inbound_requests(&self.db, source_id, filter, page).await
    }

    async fn inbound_request(
        &self,
        source_id: &SourceId,
        request_id: &InboundRequestId,
    ) -> StoreResult<InboundRecord> {
        sources::inbound_request(&self.db, source_id, request_id).await
    }

    async fn inbound_request_of_message(
        &self,
        source_id: &SourceId,
        msg_id: &MessageId,
    ) -> StoreResult<Option<InboundRecord>> {
        sources::inbound_request_of_message(&self.db, source_id, msg_id).await
    }

    async fn expire_inbound_requests(&self, before: Timestamp, limit: usize) -> StoreResult<u64> {
        sources::expire_inbound_requests(&self.db, before, limit).await
    }

    async fn expire_dedup_keys(&self, before: Timestamp, limit: usize) -> StoreResult<u64> {
        sources::expire_dedup_keys(&self.db, before, limit).await
    }

    async fn take_send_slot(
        &self,
        lease: &Lease,
        endpoint_id: &EndpointId,
        spacing: Duration,
        now: Timestamp,
    ) -> StoreResult<SendSlot> {
        send_slots::take_send_slot(&self.db, lease, endpoint_id, spacing, now).await
    }

    async fn stream_messages(
        &self,
        app_id: &ApplicationId,
        after: StreamCursor,
        limit: usize,
    ) -> StoreResult<StreamBatch> {
        streams::stream_messages(&self.db, app_id, after, limit).await
    }

    async fn stream_head(&self, app_id: &ApplicationId) -> StoreResult<StreamCursor> {
        streams::stream_head(&self.db, app_id).await
    }

    async fn stream_cursor_of(
        &self,
        app_id: &ApplicationId,
        msg_id: &MessageId,
    ) -> StoreResult<StreamCursor> {
        streams::stream_cursor_of(&self.db, app_id, msg_id).await
    }

    fn message_commits(&self) -> broadcast::Receiver<ApplicationId> {
        self.wakeups.message_commits()
    }

    // ---- inspector bins ----

    async fn create_bin(&self, bin: &Bin) -> StoreResult<()> {
        bins::create_bin(&self.db, bin).await
    }

    async fn bin(&self, bin_id: &BinId) -> StoreResult<Bin> {
        bins::bin(&self.db, bin_id).await
    }

    async fn list_bins(&self, page: &PageRequest) -> StoreResult<Page<Bin>> {
        bins::list_bins(&self.db, page).await
    }

    async fn delete_bin(&self, bin_id: &BinId) -> StoreResult<()> {
        bins::delete_bin(&self.db, bin_id).await
    }

    async fn capture_bin_request(
        &self,
        request: &BinRequest,
        now: Timestamp,
    ) -> StoreResult<CaptureOutcome> {
        let outcome = bins::capture_bin_request(&self.db, request, now).await?;
        if matches!(outcome, CaptureOutcome::Captured { .. }) {
            self.wakeups.bin_captured(&request.bin_id);
        }
        Ok(outcome)
    }

    async fn list_bin_requests(
        &self,
        bin_id: &BinId,
        page: &PageRequest,
    ) -> StoreResult<Page<BinRequest>> {
        bins::list_bin_requests(&self.db, bin_id, page).await
    }

    async fn bin_request(
        &self,
        bin_id: &BinId,
        request_id: &BinRequestId,
    ) -> StoreResult<BinRequest> {
        bins::bin_request(&self.db, bin_id, request_id).await
    }

    async fn stream_bin_requests(
        &self,
        bin_id: &BinId,
        after: StreamCursor,
        limit: usize,
    ) -> StoreResult<Vec<StreamedBinRequest>> {
        bins::stream_bin_requests(&self.db, bin_id, after, limit).await
    }

    async fn bin_cursor_of(
        &self,
        bin_id: &BinId,
        request_id: &BinRequestId,
    ) -> StoreResult<StreamCursor> {
        bins::bin_cursor_of(&self.db, bin_id, request_id).await
    }

    fn bin_captures(&self) -> broadcast::Receiver<BinId> {
        self.wakeups.bin_captures()
    }

    async fn expire_bins(&self, now: Timestamp, limit: usize) -> StoreResult<u64> {
        bins::expire_bins(&self.db, now, limit).await
    }
}
