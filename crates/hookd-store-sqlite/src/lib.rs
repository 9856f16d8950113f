//! hookd's embedded store: [`SqliteStore`], the [`Store`] trait on one SQLite file.
//!
//! Shape: one writer thread owns the only read-write connection and commits every write
//! in batches (group commit, see `writer`); a small pool of read connections serves
//! reads on tokio's blocking threads (see `readers`). The file runs in WAL mode so
//! readers never wait for the writer.
//!
//! **Invariants:**
//! - Every write goes through the writer, and its caller is answered only after the
//!   batch holding it has committed with `synchronous=FULL`: a 2xx means the write is on
//!   disk, and a claim can never race another claim.
//! - No database error panics or stops the writer; each becomes a `StoreError` with the
//!   SQLite error kept as its source.
//! - The schema is created or upgraded when the store opens (`PRAGMA user_version`).

mod applications;
mod bins;
mod destinations;
mod error;
mod event_types;
mod messages;
mod observability;
mod pagination;
mod queue;
mod readers;
mod replay;
mod retention;
mod rows;
mod send_slots;
mod settings;
mod setup;
mod sources;
mod stream_positions;
mod streams;
mod writer;

#[cfg(test)]
mod query_plans;

use std::path::{Path, PathBuf};
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
    AttemptFilter, ClaimedDelivery, EndpointStats, ExpiryKind, InboundFilter, InboundIngest,
    IngestOutcome, Lease, MessageFilter, OutcomeRecord, Page, PageRequest, PoolStatus,
    PublishLease, Published, QueueDepth, QueueMetrics, SendSlot, Store, StoreResult,
    StoredResponse, TimeWindow,
};
use hookd_store::{CaptureOutcome, StreamBatch, StreamCursor, StreamedBinRequest};
use hookd_store::{Destination, EndpointMessage, EndpointMessageFilter, ReplayBatch};
use tokio::sync::{broadcast, Notify};

use crate::readers::Readers;
use crate::stream_positions::StreamPositions;
use crate::writer::{Wake, Writer};

/// Read connections kept open. Reads are short indexed lookups, so a few connections
/// keep up with many concurrent requests.
const READ_CONNECTIONS: usize = 4;

/// Announcements of committed messages a slow listener may fall behind by before it
/// hears `Lagged` (and then re-reads every stream it serves).
const MESSAGE_COMMITS_CAPACITY: usize = 4096;

/// Tuning of a [`SqliteStore`]. `SqliteOptions::default()` is what `open` uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SqliteOptions {
    /// Most writes the writer commits in one transaction (group commit); `1` commits every
    /// write on its own, which exists to measure what group commit buys. Values below 1
    /// count as 1. Default: 512.
    pub max_batch: usize,
    /// Largest size the database file may grow to, in bytes (SQLite's `max_page_count`).
    /// A write that would pass it fails as "database or disk is full" and is answered as
    /// unavailable, the same as a full disk, instead of filling the disk. Default: no cap.
    pub max_size_bytes: Option<u64>,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        Self {
            max_batch: writer::DEFAULT_MAX_BATCH,
            max_size_bytes: None,
        }
    }
}

/// The SQLite-backed [`Store`].
///
/// Cheap to share behind an `Arc`; dropping the last handle stops the writer thread
/// after it has answered every queued write.
#[derive(Debug)]
pub struct SqliteStore {
    path: PathBuf,
    writer: Writer,
    readers: Arc<Readers>,
    notify: Arc<Notify>,
    /// Hands out each inserted message's stream position (only on the writer thread).
    positions: Arc<StreamPositions>,
    /// Announces the application of each committed message (live streams).
    message_commits: broadcast::Sender<ApplicationId>,
    /// Announces the bin of each committed capture (bin streams).
    bin_captures: broadcast::Sender<BinId>,
}

impl SqliteStore {
    /// Opens the database file at `path`, creating it and its schema when missing and
    /// applying any pending migrations.
    ///
    /// # Errors
    /// `Unavailable` when the file cannot be opened or created (its directory is missing
    /// or read-only, the disk is full), is not a SQLite database, or has a schema newer
    /// than this build knows.
    pub fn open(path: &Path) -> StoreResult<SqliteStore> {
        Self::open_with(path, SqliteOptions::default())
    }

    /// [`SqliteStore::open`] with explicit [`SqliteOptions`].
    ///
    /// # Errors
    /// As [`SqliteStore::open`].
    pub fn open_with(path: &Path, options: SqliteOptions) -> StoreResult<SqliteStore> {
        let connection = setup::open_writer(path)?;
        if let Some(bytes) = options.max_size_bytes {
            setup::cap_size(&connection, bytes).map_err(|error| setup::at_path(path, error))?;
        }
        let positions = Arc::new(
            StreamPositions::load(&connection).map_err(|error| setup::at_path(path, error))?,
        );
        let readers = Readers::open(path.to_owned(), READ_CONNECTIONS)?;
        let notify = Arc::new(Notify::new());
        let writer = Writer::spawn(
            connection,
            Arc::clone(&notify),
            options.max_batch,
            Arc::clone(&positions),
        )?;
        Ok(SqliteStore {
            path: path.to_owned(),
            writer,
            readers,
            notify,
            positions,
            message_commits: broadcast::channel(MESSAGE_COMMITS_CAPACITY).0,
            bin_captures: broadcast::channel(MESSAGE_COMMITS_CAPACITY).0,
        })
    }

    /// Opens the database a `--database` value names: `sqlite://hookd.db` (relative to
    /// the working directory), `sqlite:///abs/path/hookd.db`, or a bare file path.
    ///
    /// # Errors
    /// `Unavailable` for a URL of another scheme (`postgres://…`) or an empty path, and
    /// everything [`SqliteStore::open`] returns.
    pub fn open_url(url: &str) -> StoreResult<SqliteStore> {
        Self::open(&setup::path_from_url(url)?)
    }

    /// The database file this store uses.
    pub fn path(&self) -> &Path {
        &self.path
    }

    async fn write<T, F>(&self, write: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnMut(&rusqlite::Connection) -> StoreResult<T> + Send + 'static,
    {
        self.writer.write(Wake::Nobody, write).await
    }

    async fn write_and_wake<T, F>(&self, write: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnMut(&rusqlite::Connection) -> StoreResult<T> + Send + 'static,
    {
        self.writer.write(Wake::Workers, write).await
    }

    async fn read<T, F>(&self, read: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&rusqlite::Connection) -> StoreResult<T> + Send + 'static,
    {
        self.readers.read(read).await
    }
}

/// When a lease taken at `now` for `lease` expires, to the millisecond as stored.
fn lease_expiry(now: Timestamp, lease: Duration) -> Timestamp {
    let expires_ms =
        rows::millis(now).saturating_add(i64::try_from(lease.as_millis()).unwrap_or(i64::MAX));
    chrono::DateTime::from_timestamp_millis(expires_ms).unwrap_or(now)
}

#[async_trait]
impl Store for SqliteStore {
    async fn create_application(&self, application: &Application) -> StoreResult<()> {
        let application = application.clone();
        self.write(move |c| applications::create_application(c, &application))
            .await
    }

    async fn application(&self, id_or_uid: &str) -> StoreResult<Application> {
        let id_or_uid = id_or_uid.to_owned();
        self.read(move |c| applications::application(c, &id_or_uid))
            .await
    }

    async fn list_applications(&self, page: &PageRequest) -> StoreResult<Page<Application>> {
        let page = page.clone();
        self.read(move |c| applications::list_applications(c, &page))
            .await
    }

    async fn update_application(&self, application: &Application) -> StoreResult<()> {
        let application = application.clone();
        self.write(move |c| applications::update_application(c, &application))
            .await
    }

    async fn delete_application(&self, app_id: &ApplicationId) -> StoreResult<()> {
        let app_id = app_id.clone();
        self.write(move |c| applications::delete_application(c, &app_id))
            .await
    }

    async fn create_endpoint(&self, endpoint: &Endpoint) -> StoreResult<()> {
        let endpoint = endpoint.clone();
        self.write(move |c| applications::create_endpoint(c, &endpoint))
            .await
    }

    async fn endpoint(&self, app_id: &ApplicationId, id_or_uid: &str) -> StoreResult<Endpoint> {
        let (app_id, id_or_uid) = (app_id.clone(), id_or_uid.to_owned());
        self.read(move |c| applications::endpoint(c, &app_id, &id_or_uid))
            .await
    }

    async fn list_endpoints(
        &self,
        app_id: &ApplicationId,
        page: &PageRequest,
    ) -> StoreResult<Page<Endpoint>> {
        let (app_id, page) = (app_id.clone(), page.clone());
        self.read(move |c| applications::list_endpoints(c, &app_id, &page))
            .await
    }

    async fn active_endpoints(&self, app_id: &ApplicationId) -> StoreResult<Vec<Endpoint>> {
        let app_id = app_id.clone();
        self.read(move |c| applications::active_endpoints(c, &app_id))
            .await
    }

    async fn update_endpoint(&self, endpoint: &Endpoint) -> StoreResult<()> {
        let endpoint = endpoint.clone();
        self.write(move |c| applications::update_endpoint(c, &endpoint))
            .await
    }

    async fn delete_endpoint(
        &self,
        app_id: &ApplicationId,
        endpoint_id: &EndpointId,
    ) -> StoreResult<()> {
        let (app_id, endpoint_id) = (app_id.clone(), endpoint_id.clone());
        self.write(move |c| applications::delete_endpoint(c, &app_id, &endpoint_id))
            .await
    }

    async fn endpoint_stats(
        &self,
        app_id: &ApplicationId,
        endpoint_id: &EndpointId,
        window: &TimeWindow,
    ) -> StoreResult<EndpointStats> {
        let (app_id, endpoint_id, window) = (app_id.clone(), endpoint_id.clone(), window.clone());
        self.read(move |c| queue::endpoint_stats(c, &app_id, &endpoint_id, &window))
            .await
    }

    async fn create_event_type(&self, event_type: &EventType) -> StoreResult<()> {
        let event_type = event_type.clone();
        self.write(move |c| event_types::create_event_type(c, &event_type))
            .await
    }

    async fn event_type(&self, name: &str) -> StoreResult<EventType> {
        let name = name.to_owned();
        self.read(move |c| event_types::event_type(c, &name)).await
    }

    async fn list_event_types(
        &self,
        page: &PageRequest,
        include_archived: bool,
    ) -> StoreResult<Page<EventType>> {
        let page = page.clone();
        self.read(move |c| event_types::list_event_types(c, &page, include_archived))
            .await
    }

    async fn update_event_type(&self, event_type: &EventType) -> StoreResult<()> {
        let event_type = event_type.clone();
        self.write(move |c| event_types::update_event_type(c, &event_type))
            .await
    }

    async fn delete_event_type(&self, name: &str) -> StoreResult<()> {
        let name = name.to_owned();
        self.write(move |c| event_types::delete_event_type(c, &name))
            .await
    }

    async fn publish_message(
        &self,
        message: &Message,
        lease: Option<PublishLease>,
    ) -> StoreResult<Published> {
        let message = message.clone();
        let app_id = message.app_id.clone();
        let positions = Arc::clone(&self.positions);
        let publish = move |c: &rusqlite::Connection| {
            messages::publish_message(c, &message, lease.as_ref(), &positions)
        };
        // A publisher that leases the deliveries wakes the workers itself if it could not
        // lease them all (`Published`), so the others are not woken to find nothing.
        let published = match lease {
            Some(lease) if lease.max_deliveries > 0 => self.write(publish).await?,
            _ => self.write_and_wake(publish).await?,
        };
        // Nobody listening is fine: streams start from the store.
        let _ = self.message_commits.send(app_id);
        Ok(published)
    }

    async fn create_message(
        &self,
        message: &Message,
        endpoint_ids: &[EndpointId],
    ) -> StoreResult<()> {
        let (message, endpoint_ids) = (message.clone(), endpoint_ids.to_vec());
        let app_id = message.app_id.clone();
        let positions = Arc::clone(&self.positions);
        self.write_and_wake(move |c| {
            messages::create_message(c, &message, &endpoint_ids, &positions)
        })
        .await?;
        // Nobody listening is fine: streams start from the store.
        let _ = self.message_commits.send(app_id);
        Ok(())
    }

    async fn message(&self, app_id: &ApplicationId, id_or_event_id: &str) -> StoreResult<Message> {
        let (app_id, id_or_event_id) = (app_id.clone(), id_or_event_id.to_owned());
        self.read(move |c| messages::message(c, &app_id, &id_or_event_id))
            .await
    }

    async fn list_messages(
        &self,
        app_id: &ApplicationId,
        filter: &MessageFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<Message>> {
        let (app_id, filter, page) = (app_id.clone(), filter.clone(), page.clone());
        self.read(move |c| messages::list_messages(c, &app_id, &filter, &page))
            .await
    }

    async fn claim_due_deliveries(
        &self,
        now: Timestamp,
        lease: Duration,
        limit: usize,
    ) -> StoreResult<Vec<ClaimedDelivery>> {
        let candidates = self
            .read(move |c| queue::claim_candidates(c, now, limit))
            .await?;
        if candidates.is_empty() {
            return Ok(Vec::new());
        }
        let ids: Vec<DeliveryId> = candidates
            .iter()
            .map(|(delivery, _, _)| delivery.id.clone())
            .collect();
        let tokens = self
            .write(move |c| queue::lease_candidates(c, &ids, now, lease))
            .await?;
        Ok(candidates
            .into_iter()
            .zip(tokens)
            .filter_map(|((mut delivery, message, endpoint), token)| {
                // Leased, it is next up for a claim when its lease expires.
                delivery.next_attempt_at = Some(lease_expiry(now, lease));
                Some(ClaimedDelivery {
                    lease: Lease {
                        delivery_id: delivery.id.clone(),
                        token: token?,
                    },
                    delivery,
                    message,
                    endpoint,
                })
            })
            .collect())
    }

    async fn record_outcome(&self, record: &OutcomeRecord) -> StoreResult<bool> {
        let record = record.clone();
        self.write(move |c| queue::record_outcome(c, &record)).await
    }

    async fn record_outcomes(&self, records: &[OutcomeRecord]) -> StoreResult<Vec<bool>> {
        let records = records.to_vec();
        self.write(move |c| {
            records
                .iter()
                .map(|record| queue::record_outcome(c, record))
                .collect()
        })
        .await
    }

    async fn release_delivery(&self, lease: &Lease, due_at: Timestamp) -> StoreResult<()> {
        let lease = lease.clone();
        self.write_and_wake(move |c| queue::release_delivery(c, &lease, due_at))
            .await
    }

    async fn resend(
        &self,
        app_id: &ApplicationId,
        msg_id: &MessageId,
        endpoint_id: &EndpointId,
        now: Timestamp,
    ) -> StoreResult<()> {
        let (app_id, msg_id, endpoint_id) = (app_id.clone(), msg_id.clone(), endpoint_id.clone());
        self.write_and_wake(move |c| queue::resend(c, &app_id, &msg_id, &endpoint_id, now))
            .await
    }

    async fn recover_endpoint(
        &self,
        app_id: &ApplicationId,
        endpoint_id: &EndpointId,
        window: &TimeWindow,
        now: Timestamp,
    ) -> StoreResult<u64> {
        let (app_id, endpoint_id, window) = (app_id.clone(), endpoint_id.clone(), window.clone());
        self.write_and_wake(move |c| {
            queue::recover_endpoint(c, &app_id, &endpoint_id, &window, now)
        })
        .await
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
        let (app_id, endpoint_id, window) = (app_id.clone(), endpoint_id.clone(), window.clone());
        let after = after.cloned();
        self.write(move |c| {
            replay::replay_missing(c, &app_id, &endpoint_id, &window, after.as_ref(), scan, now)
        })
        .await
    }

    async fn delivery(
        &self,
        app_id: &ApplicationId,
        msg_id: &MessageId,
        endpoint_id: &EndpointId,
    ) -> StoreResult<Delivery> {
        let (app_id, msg_id, endpoint_id) = (app_id.clone(), msg_id.clone(), endpoint_id.clone());
        self.read(move |c| queue::delivery(c, &app_id, &msg_id, &endpoint_id))
            .await
    }

    async fn queue_depth(&self, now: Timestamp) -> StoreResult<QueueDepth> {
        self.read(move |c| queue::queue_depth(c, now)).await
    }

    async fn list_message_destinations(
        &self,
        app_id: &ApplicationId,
        msg_id: &MessageId,
        page: &PageRequest,
    ) -> StoreResult<Page<Destination>> {
        let (app_id, msg_id, page) = (app_id.clone(), msg_id.clone(), page.clone());
        self.read(move |c| destinations::list_message_destinations(c, &app_id, &msg_id, &page))
            .await
    }

    async fn list_endpoint_messages(
        &self,
        app_id: &ApplicationId,
        endpoint_id: &EndpointId,
        filter: &EndpointMessageFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<EndpointMessage>> {
        let (app_id, endpoint_id) = (app_id.clone(), endpoint_id.clone());
        let (filter, page) = (filter.clone(), page.clone());
        self.read(move |c| {
            destinations::list_endpoint_messages(c, &app_id, &endpoint_id, &filter, &page)
        })
        .await
    }

    async fn list_attempts(
        &self,
        app_id: &ApplicationId,
        filter: &AttemptFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<Attempt>> {
        let (app_id, filter, page) = (app_id.clone(), filter.clone(), page.clone());
        self.read(move |c| messages::list_attempts(c, &app_id, &filter, &page))
            .await
    }

    async fn attempt(
        &self,
        app_id: &ApplicationId,
        msg_id: &MessageId,
        attempt_id: &str,
    ) -> StoreResult<Attempt> {
        let (app_id, msg_id, attempt_id) = (app_id.clone(), msg_id.clone(), attempt_id.to_owned());
        self.read(move |c| messages::attempt(c, &app_id, &msg_id, &attempt_id))
            .await
    }

    async fn idempotent_response(
        &self,
        key: &str,
        not_before: Timestamp,
    ) -> StoreResult<Option<StoredResponse>> {
        let key = key.to_owned();
        self.read(move |c| settings::idempotent_response(c, &key, not_before))
            .await
    }

    async fn save_idempotent_response(
        &self,
        key: &str,
        response: &StoredResponse,
        created_at: Timestamp,
    ) -> StoreResult<()> {
        let (key, response) = (key.to_owned(), response.clone());
        self.write(move |c| settings::save_idempotent_response(c, &key, &response, created_at))
            .await
    }

    async fn setting(&self, key: &str) -> StoreResult<Option<String>> {
        let key = key.to_owned();
        self.read(move |c| settings::setting(c, &key)).await
    }

    async fn set_setting_if_absent(&self, key: &str, value: &str) -> StoreResult<bool> {
        let (key, value) = (key.to_owned(), value.to_owned());
        self.write(move |c| settings::set_setting_if_absent(c, &key, &value))
            .await
    }

    async fn set_setting(&self, key: &str, value: &str) -> StoreResult<()> {
        let (key, value) = (key.to_owned(), value.to_owned());
        self.write(move |c| settings::set_setting(c, &key, &value))
            .await
    }

    fn work_notifier(&self) -> Arc<Notify> {
        Arc::clone(&self.notify)
    }

    async fn ping(&self) -> StoreResult<()> {
        // Through the writer, so a health check also proves writes are being taken.
        self.write(|c| c.query_row("SELECT 1", [], |_| Ok(())).map_err(error::map))
            .await
    }

    async fn lease_of(&self, delivery_id: &DeliveryId) -> StoreResult<Option<Timestamp>> {
        let delivery_id = delivery_id.clone();
        self.read(move |c| queue::lease_of(c, &delivery_id)).await
    }

    async fn expire_batch(
        &self,
        kind: ExpiryKind,
        cutoff: Timestamp,
        limit: usize,
    ) -> StoreResult<u64> {
        self.write(move |c| retention::expire_batch(c, kind, cutoff, limit))
            .await
    }

    async fn expunge_message_content(
        &self,
        app_id: &ApplicationId,
        msg_id: &MessageId,
        now: Timestamp,
    ) -> StoreResult<u64> {
        let (app_id, msg_id) = (app_id.clone(), msg_id.clone());
        self.write(move |c| retention::expunge_message_content(c, &app_id, &msg_id, now))
            .await
    }

    async fn expunge_attempt_content(
        &self,
        app_id: &ApplicationId,
        msg_id: &MessageId,
        attempt_id: &str,
    ) -> StoreResult<()> {
        let (app_id, msg_id) = (app_id.clone(), msg_id.clone());
        let attempt_id = attempt_id.to_owned();
        self.write(move |c| destinations::expunge_attempt_content(c, &app_id, &msg_id, &attempt_id))
            .await
    }

    async fn queue_metrics(&self, now: Timestamp) -> StoreResult<QueueMetrics> {
        self.read(move |c| observability::queue_metrics(c, now))
            .await
    }

    fn pool_status(&self) -> Vec<PoolStatus> {
        observability::pool_status(&self.readers, &self.writer)
    }

    // ---- sources (receive side) ----

    async fn create_source(&self, source: &Source) -> StoreResult<()> {
        let source = source.clone();
        self.write(move |c| sources::create_source(c, &source))
            .await
    }

    async fn source(&self, id_or_uid: &str) -> StoreResult<Source> {
        let id_or_uid = id_or_uid.to_owned();
        self.read(move |c| sources::source(c, &id_or_uid)).await
    }

    async fn list_sources(&self, page: &PageRequest) -> StoreResult<Page<Source>> {
        let page = page.clone();
        self.read(move |c| sources::list_sources(c, &page)).await
    }

    async fn update_source(&self, source: &Source) -> StoreResult<()> {
        let source = source.clone();
        self.write(move |c| sources::update_source(c, &source))
            .await
    }

    async fn delete_source(&self, source_id: &SourceId) -> StoreResult<()> {
        let source_id = source_id.clone();
        self.write(move |c| sources::delete_source(c, &source_id))
            .await
    }

    async fn record_inbound_request(&self, request: &InboundRecord) -> StoreResult<()> {
        let request = request.clone();
        self.write(move |c| sources::record_inbound_request(c, &request))
            .await
    }

    async fn ingest_inbound_leased(
        &self,
        ingest: InboundIngest,
        lease: Option<PublishLease>,
    ) -> StoreResult<(IngestOutcome, Published)> {
        let app_id = ingest.message.app_id.clone();
        let positions = Arc::clone(&self.positions);
        // Workers are woken only when deliveries were left in the queue: a source whose
        // application has no endpoint, a duplicate, or an ingest whose deliveries were
        // all leased to the caller makes no work for them.
        let ingested = self
            .writer
            .write_waking(
                |ingested: &sources::Ingested| {
                    if ingested.queued_work() {
                        Wake::Workers
                    } else {
                        Wake::Nobody
                    }
                },
                move |c| sources::ingest_inbound(c, &ingest, lease.as_ref(), &positions),
            )
            .await?;
        // A duplicate wrote no message, and an extra announcement only costs a re-read.
        let _ = self.message_commits.send(app_id);
        Ok((ingested.outcome, ingested.published))
    }

    async fn list_inbound_requests(
        &self,
        source_id: &SourceId,
        filter: &InboundFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<InboundRecord>> {
        let (source_id, filter, page) = (source_id.clone(), filter.clone(), page.clone());
        self.read(move |c| sources::list_inbound_requests(c, &source_id, &filter, &page))
            .await
    }

    async fn inbound_request(
        &self,
        source_id: &SourceId,
        request_id: &InboundRequestId,
    ) -> StoreResult<InboundRecord> {
        let (source_id, request_id) = (source_id.clone(), request_id.clone());
        self.read(move |c| sources::inbound_request(c, &source_id, &request_id))
            .await
    }

    async fn inbound_request_of_message(
        &self,
        source_id: &SourceId,
        msg_id: &MessageId,
    ) -> StoreResult<Option<InboundRecord>> {
        let (source_id, msg_id) = (source_id.clone(), msg_id.clone());
        self.read(move |c| sources::inbound_request_of_message(c, &source_id, &msg_id))
            .await
    }

    async fn expire_inbound_requests(&self, before: Timestamp, limit: usize) -> StoreResult<u64> {
        self.write(move |c| sources::expire_inbound_requests(c, before, limit))
            .await
    }

    async fn expire_dedup_keys(&self, before: Timestamp, limit: usize) -> StoreResult<u64> {
        self.write(move |c| sources::expire_dedup_keys(c, before, limit))
            .await
    }

    async fn take_send_slot(
        &self,
        lease: &Lease,
        endpoint_id: &EndpointId,
        spacing: Duration,
        now: Timestamp,
    ) -> StoreResult<SendSlot> {
        let (lease, endpoint_id) = (lease.clone(), endpoint_id.clone());
        self.write(move |c| send_slots::take_send_slot(c, &lease, &endpoint_id, spacing, now))
            .await
    }

    async fn stream_messages(
        &self,
        app_id: &ApplicationId,
        after: StreamCursor,
        limit: usize,
    ) -> StoreResult<StreamBatch> {
        let app_id = app_id.clone();
        self.read(move |c| streams::stream_messages(c, &app_id, after, limit))
            .await
    }

    async fn stream_head(&self, app_id: &ApplicationId) -> StoreResult<StreamCursor> {
        let app_id = app_id.clone();
        self.read(move |c| streams::stream_head(c, &app_id)).await
    }

    async fn stream_cursor_of(
        &self,
        app_id: &ApplicationId,
        msg_id: &MessageId,
    ) -> StoreResult<StreamCursor> {
        let (app_id, msg_id) = (app_id.clone(), msg_id.clone());
        self.read(move |c| streams::stream_cursor_of(c, &app_id, &msg_id))
            .await
    }

    fn message_commits(&self) -> broadcast::Receiver<ApplicationId> {
        self.message_commits.subscribe()
    }

    // ---- inspector bins ----

    async fn create_bin(&self, bin: &Bin) -> StoreResult<()> {
        let bin = bin.clone();
        self.write(move |c| bins::create_bin(c, &bin)).await
    }

    async fn bin(&self, bin_id: &BinId) -> StoreResult<Bin> {
        let bin_id = bin_id.clone();
        self.read(move |c| bins::bin(c, &bin_id)).await
    }

    async fn list_bins(&self, page: &PageRequest) -> StoreResult<Page<Bin>> {
        let page = page.clone();
        self.read(move |c| bins::list_bins(c, &page)).await
    }

    async fn delete_bin(&self, bin_id: &BinId) -> StoreResult<()> {
        let bin_id = bin_id.clone();
        self.write(move |c| bins::delete_bin(c, &bin_id)).await
    }

    async fn capture_bin_request(
        &self,
        request: &BinRequest,
        now: Timestamp,
    ) -> StoreResult<CaptureOutcome> {
        let request = request.clone();
        let bin_id = request.bin_id.clone();
        let outcome = self
            .write(move |c| bins::capture_bin_request(c, &request, now))
            .await?;
        if matches!(outcome, CaptureOutcome::Captured { .. }) {
            // Nobody listening is fine: streams start from the store.
            let _ = self.bin_captures.send(bin_id);
        }
        Ok(outcome)
    }

    async fn list_bin_requests(
        &self,
        bin_id: &BinId,
        page: &PageRequest,
    ) -> StoreResult<Page<BinRequest>> {
        let (bin_id, page) = (bin_id.clone(), page.clone());
        self.read(move |c| bins::list_bin_requests(c, &bin_id, &page))
            .await
    }

    async fn bin_request(
        &self,
        bin_id: &BinId,
        request_id: &BinRequestId,
    ) -> StoreResult<BinRequest> {
        let (bin_id, request_id) = (bin_id.clone(), request_id.clone());
        self.read(move |c| bins::bin_request(c, &bin_id, &request_id))
            .await
    }

    async fn stream_bin_requests(
        &self,
        bin_id: &BinId,
        after: StreamCursor,
        limit: usize,
    ) -> StoreResult<Vec<StreamedBinRequest>> {
        let bin_id = bin_id.clone();
        self.read(move |c| bins::stream_bin_requests(c, &bin_id, after, limit))
            .await
    }

    async fn bin_cursor_of(
        &self,
        bin_id: &BinId,
        request_id: &BinRequestId,
    ) -> StoreResult<StreamCursor> {
        let (bin_id, request_id) = (bin_id.clone(), request_id.clone());
        self.read(move |c| bins::bin_cursor_of(c, &bin_id, &request_id))
            .await
    }

    fn bin_captures(&self) -> broadcast::Receiver<BinId> {
        self.bin_captures.subscribe()
    }

    async fn expire_bins(&self, now: Timestamp, limit: usize) -> StoreResult<u64> {
        self.write(move |c| bins::expire_bins(c, now, limit)).await
    }
}
