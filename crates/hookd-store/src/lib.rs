//! The storage boundary: one [`Store`] trait that every backend implements, the errors it
//! returns, and the conformance suite (`conformance`) that every backend must pass.
//!
//! **API boundary:** nothing above this crate knows which database it talks to. The API
//! and the delivery worker hold an `Arc<dyn Store>`; only the `hookd` binary picks the
//! backend.
//!
//! **Invariants every backend keeps:**
//! - `create_message` writes the message and all of its deliveries in one transaction,
//!   and returns only once that transaction is durable ("2xx means committed").
//! - A claimed delivery is leased: no other claim returns it until the lease expires or
//!   the holder records an outcome. While leased, its `next_attempt_at` is the lease's
//!   expiry (when it is next up for a claim), so claims never walk past leased rows. An expired lease can be claimed again, which is what
//!   makes delivery at-least-once when a worker dies.
//! - An attempt is always recorded; the delivery row changes only while the lease is
//!   still held by the claim that made the attempt.

mod bins;
pub mod conformance;
mod error;
mod observability;
mod operational;
mod retention;
mod send_slots;
mod sources;
mod stream;
mod types;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use hookd_core::bin::{Bin, BinRequest};
use hookd_core::ids::{
    ApplicationId, BinId, BinRequestId, DeliveryId, EndpointId, InboundRequestId, MessageId,
    SourceId,
};
use hookd_core::model::{Application, Attempt, Endpoint, EventType, Message};
use hookd_core::source::{InboundRecord, Source};
use hookd_core::Timestamp;
use tokio::sync::{broadcast, Notify};

pub use bins::*;
pub use error::StoreError;
pub use observability::{PoolStatus, QueueMetrics};
pub use operational::OperationalWebhooks;
pub use retention::{payload_gone_attempt, ExpiryKind};
pub use send_slots::SendSlot;
pub use sources::*;
pub use stream::*;
pub use types::*;

/// The result type of every store call.
pub type StoreResult<T> = Result<T, StoreError>;

/// Everything hookd reads and writes.
///
/// Tenant-scoped calls take the application id first, and never return a record of
/// another application.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    // ---- applications ----

    /// Inserts a new application. `Conflict` when its `uid` is taken.
    async fn create_application(&self, application: &Application) -> StoreResult<()>;
    /// An application by id or by uid.
    async fn application(&self, id_or_uid: &str) -> StoreResult<Application>;
    async fn list_applications(&self, page: &PageRequest) -> StoreResult<Page<Application>>;
    /// Replaces every field but `id` and `created_at`. `Conflict` when the new `uid` is taken.
    async fn update_application(&self, application: &Application) -> StoreResult<()>;
    /// Deletes the application and everything it owns.
    async fn delete_application(&self, app_id: &ApplicationId) -> StoreResult<()>;

    // ---- endpoints ----

    /// `Conflict` when its `uid` is taken inside the application.
    async fn create_endpoint(&self, endpoint: &Endpoint) -> StoreResult<()>;
    /// An endpoint of `app_id` by id or by uid.
    async fn endpoint(&self, app_id: &ApplicationId, id_or_uid: &str) -> StoreResult<Endpoint>;
    async fn list_endpoints(
        &self,
        app_id: &ApplicationId,
        page: &PageRequest,
    ) -> StoreResult<Page<Endpoint>>;
    /// Every endpoint of the application that is not disabled (the fan-out set).
    async fn active_endpoints(&self, app_id: &ApplicationId) -> StoreResult<Vec<Endpoint>>;
    /// Replaces every field but `id`, `app_id` and `created_at`.
    async fn update_endpoint(&self, endpoint: &Endpoint) -> StoreResult<()>;
    /// Deletes the endpoint, its deliveries and its attempts.
    async fn delete_endpoint(
        &self,
        app_id: &ApplicationId,
        endpoint_id: &EndpointId,
    ) -> StoreResult<()>;
    /// Counts of the endpoint's deliveries by status, for those created in the window.
    async fn endpoint_stats(
        &self,
        app_id: &ApplicationId,
        endpoint_id: &EndpointId,
        window: &TimeWindow,
    ) -> StoreResult<EndpointStats>;

    // ---- event types ----

    /// `Conflict` when the name exists.
    async fn create_event_type(&self, event_type: &EventType) -> StoreResult<()>;
    async fn event_type(&self, name: &str) -> StoreResult<EventType>;
    async fn list_event_types(
        &self,
        page: &PageRequest,
        include_archived: bool,
    ) -> StoreResult<Page<EventType>>;
    async fn update_event_type(&self, event_type: &EventType) -> StoreResult<()>;
    /// Removes the event type for good.
    async fn delete_event_type(&self, name: &str) -> StoreResult<()>;

    // ---- messages and the delivery queue ----

    /// Writes the message and one pending delivery per endpoint, due at `message.created_at`,
    /// in one durable transaction. `Conflict` when the application already has a message
    /// with the same `event_id`.
    async fn create_message(
        &self,
        message: &Message,
        endpoint_ids: &[EndpointId],
    ) -> StoreResult<()>;
    /// Publishes `message`: writes it with one pending delivery per endpoint of its
    /// application that is not disabled and whose `eventTypes`/`channels` filters accept
    /// it. `Conflict` and `NotFound` as for [`Store::create_message`].
    ///
    /// With `lease`, up to `lease.max_deliveries` of those deliveries are written already
    /// leased to the caller (as a claim would lease them, in the same transaction) and
    /// returned in [`Published::leased`]; the caller must attempt them or let their
    /// leases expire. Workers are woken only for deliveries left unleased.
    ///
    /// The default reads the endpoints, then writes, and leases nothing; a backend that
    /// can choose them inside the write transaction should, which saves a round trip and
    /// means an endpoint changed during the publish is either wholly before or wholly
    /// after it.
    async fn publish_message(
        &self,
        message: &Message,
        lease: Option<PublishLease>,
    ) -> StoreResult<Published> {
        let _ = lease;
        let targets: Vec<EndpointId> = self
            .active_endpoints(&message.app_id)
            .await?
            .into_iter()
            .filter(|endpoint| endpoint_accepts_message(endpoint, message))
            .map(|endpoint| endpoint.id)
            .collect();
        self.create_message(message, &targets).await?;
        Ok(Published {
            deliveries: targets.len(),
            leased: Vec::new(),
        })
    }
    /// A message of `app_id` by id or by its `eventId`.
    async fn message(&self, app_id: &ApplicationId, id_or_event_id: &str) -> StoreResult<Message>;
    async fn list_messages(
        &self,
        app_id: &ApplicationId,
        filter: &MessageFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<Message>>;

    /// Leases up to `limit` deliveries that are due at `now` and not leased (or whose lease
    /// expired), oldest due first, for `lease`. Returns each with its message and endpoint.
    async fn claim_due_deliveries(
        &self,
        now: Timestamp,
        lease: Duration,
        limit: usize,
    ) -> StoreResult<Vec<ClaimedDelivery>>;
    /// Records what happened to a claimed delivery: inserts the attempt (if one was made)
    /// and, while the lease is still held, applies `outcome` to the delivery and
    /// `endpoint_health` to the endpoint. Returns whether the lease was still held.
    async fn record_outcome(&self, record: &OutcomeRecord) -> StoreResult<bool>;
    /// Records many outcomes in one transaction; same semantics as `record_outcome`.
    async fn record_outcomes(&self, records: &[OutcomeRecord]) -> StoreResult<Vec<bool>> {
        let mut held = Vec::with_capacity(records.len());
        for record in records {
            held.push(self.record_outcome(record).await?);
        }
        Ok(held)
    }
    /// Gives a claimed delivery back without an attempt, due again at `due_at` (throttling,
    /// shutdown). Ignored when the lease is no longer held.
    async fn release_delivery(&self, lease: &Lease, due_at: Timestamp) -> StoreResult<()>;
    /// Starts a new manual run of one message to one endpoint: due at `now`, attempts
    /// counted from zero. Creates the delivery if the message never targeted the endpoint.
    async fn resend(
        &self,
        app_id: &ApplicationId,
        msg_id: &MessageId,
        endpoint_id: &EndpointId,
        now: Timestamp,
    ) -> StoreResult<()>;
    /// Makes every failed delivery of the endpoint whose message was created in `window`
    /// due again at `now` as a new manual run. Returns how many.
    async fn recover_endpoint(
        &self,
        app_id: &ApplicationId,
        endpoint_id: &EndpointId,
        window: &TimeWindow,
        now: Timestamp,
    ) -> StoreResult<u64>;
    /// Sends the endpoint what it never got: a manual run, due at `now`, of each message of
    /// the application created in `window` that still has its payload, that the endpoint
    /// accepts (its event types and channels) and that has no delivery to it. Looks at
    /// no more than `scan` such messages without a delivery, oldest first after `after`,
    /// so one call stays short; [`ReplayBatch::next`] says where the next call starts.
    /// `NotFound("endpoint")`.
    async fn replay_missing(
        &self,
        app_id: &ApplicationId,
        endpoint_id: &EndpointId,
        window: &TimeWindow,
        after: Option<&MessageId>,
        scan: usize,
        now: Timestamp,
    ) -> StoreResult<ReplayBatch>;
    /// One delivery's current state (tests and the API's status views).
    async fn delivery(
        &self,
        app_id: &ApplicationId,
        msg_id: &MessageId,
        endpoint_id: &EndpointId,
    ) -> StoreResult<hookd_core::model::Delivery>;
    /// Counts of deliveries that are not finished: (due now or leased, total pending).
    async fn queue_depth(&self, now: Timestamp) -> StoreResult<QueueDepth>;
    /// The endpoints a message was sent to, or is being sent to, each with its delivery
    /// (Svix's "attempted destinations"), paged by endpoint id. An unknown message lists
    /// nothing: whether it exists is the caller's to check.
    async fn list_message_destinations(
        &self,
        app_id: &ApplicationId,
        msg_id: &MessageId,
        page: &PageRequest,
    ) -> StoreResult<Page<Destination>>;
    /// The messages sent to one endpoint, each with its delivery to it (Svix's "attempted
    /// messages"), filtered as `list_messages` filters and by the delivery's status, paged
    /// by message id.
    async fn list_endpoint_messages(
        &self,
        app_id: &ApplicationId,
        endpoint_id: &EndpointId,
        filter: &EndpointMessageFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<EndpointMessage>>;

    // ---- attempts ----

    async fn list_attempts(
        &self,
        app_id: &ApplicationId,
        filter: &AttemptFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<Attempt>>;
    async fn attempt(
        &self,
        app_id: &ApplicationId,
        msg_id: &MessageId,
        attempt_id: &str,
    ) -> StoreResult<Attempt>;

    // ---- idempotency keys ----

    /// The response stored for this key, if any, and if stored after `not_before`.
    async fn idempotent_response(
        &self,
        key: &str,
        not_before: Timestamp,
    ) -> StoreResult<Option<StoredResponse>>;
    /// Stores the first response for a key; a later store for the same key is ignored.
    async fn save_idempotent_response(
        &self,
        key: &str,
        response: &StoredResponse,
        created_at: Timestamp,
    ) -> StoreResult<()>;

    // ---- settings ----

    async fn setting(&self, key: &str) -> StoreResult<Option<String>>;
    /// Sets the value only if the key has none. Returns whether it was set.
    async fn set_setting_if_absent(&self, key: &str, value: &str) -> StoreResult<bool>;
    async fn set_setting(&self, key: &str, value: &str) -> StoreResult<()>;

    // ---- wake-ups ----

    /// Notified (at least) whenever new work may be due: a message was committed, a
    /// delivery was resent or released. Workers wait on it, with polling as the fallback.
    fn work_notifier(&self) -> Arc<Notify>;

    /// Checks the database answers (health checks).
    async fn ping(&self) -> StoreResult<()>;

    /// Ids only used in tests and diagnostics: the lease held on a delivery.
    async fn lease_of(&self, delivery_id: &DeliveryId) -> StoreResult<Option<Timestamp>>;

    // ---- retention ----

    /// Expires up to `limit` records of `kind` created before `cutoff`, oldest first, in
    /// one short transaction, and returns how many it expired. Fewer than `limit` means
    /// nothing more of that kind is due before `cutoff`. The query walks an index (no
    /// scan of the table) and, on a shared database, skips rows another node is expiring
    /// at that moment instead of waiting for them.
    async fn expire_batch(
        &self,
        kind: ExpiryKind,
        cutoff: Timestamp,
        limit: usize,
    ) -> StoreResult<u64>;
    /// Removes one message's content at the operator's request, in one transaction: the
    /// payload becomes empty, the content of its attempts is expunged, and every
    /// unfinished delivery of it is failed, each with an attempt saying why (it could
    /// never be sent now). Returns how many deliveries were stopped. `NotFound("message")`
    /// when the application has no such message.
    async fn expunge_message_content(
        &self,
        app_id: &ApplicationId,
        msg_id: &MessageId,
        now: Timestamp,
    ) -> StoreResult<u64>;

    /// Empties one attempt's content (response body and request headers become what an
    /// expired attempt holds), as when an endpoint answered with something sensitive.
    /// `NotFound("attempt")` when the message has no such attempt in the application.
    async fn expunge_attempt_content(
        &self,
        app_id: &ApplicationId,
        msg_id: &MessageId,
        attempt_id: &str,
    ) -> StoreResult<()>;

    // ---- observability ----

    /// The queue for a metrics scrape at `now`: `queue_depth`, plus the oldest due time
    /// among deliveries waiting for a worker (due, and not under a live lease). One
    /// indexed read; call it per scrape, never per message.
    async fn queue_metrics(&self, now: Timestamp) -> StoreResult<QueueMetrics>;

    /// The backend's connection pools as they are now, read from memory (no round trip).
    fn pool_status(&self) -> Vec<PoolStatus>;

    // ---- sources (receive side) ----

    /// Inserts a source. `Conflict` when its `uid` is taken; `NotFound("application")`
    /// when its application does not exist.
    async fn create_source(&self, source: &Source) -> StoreResult<()>;
    /// A source by id or by uid.
    async fn source(&self, id_or_uid: &str) -> StoreResult<Source>;
    async fn list_sources(&self, page: &PageRequest) -> StoreResult<Page<Source>>;
    /// Replaces every field but `id` and `created_at`. `Conflict` when the new `uid` is taken.
    async fn update_source(&self, source: &Source) -> StoreResult<()>;
    /// Deletes the source with its stored requests and dedup keys.
    async fn delete_source(&self, source_id: &SourceId) -> StoreResult<()>;
    /// Stores a request that made no message (rejected, or a handshake) as given.
    async fn record_inbound_request(&self, request: &InboundRecord) -> StoreResult<()>;
    /// In one durable transaction: checks and records the provider event id, then either
    /// stores the request as a duplicate, or writes the message with one pending delivery
    /// per endpoint of its application that is not disabled and whose filters accept it
    /// (chosen inside the same transaction, as [`Store::publish_message`] chooses them)
    /// and stores the request as verified, pointing at it. `NotFound("source")` when the
    /// source is gone, `NotFound("application")` when its application is.
    async fn ingest_inbound(&self, ingest: InboundIngest) -> StoreResult<IngestOutcome> {
        Ok(self.ingest_inbound_leased(ingest, None).await?.0)
    }
    /// [`Store::ingest_inbound`], where `lease`, if given, asks as it does for
    /// [`Store::publish_message`] that up to `lease.max_deliveries` of the new message's
    /// deliveries be written leased to the caller and returned in [`Published::leased`]
    /// (the caller must attempt them or let the leases expire). `Published::deliveries`
    /// counts every delivery written (0 for a duplicate); workers are woken only for
    /// those not leased.
    async fn ingest_inbound_leased(
        &self,
        ingest: InboundIngest,
        lease: Option<PublishLease>,
    ) -> StoreResult<(IngestOutcome, Published)>;
    /// The source's stored requests matching `filter`.
    async fn list_inbound_requests(
        &self,
        source_id: &SourceId,
        filter: &InboundFilter,
        page: &PageRequest,
    ) -> StoreResult<Page<InboundRecord>>;
    /// One stored request of the source.
    async fn inbound_request(
        &self,
        source_id: &SourceId,
        request_id: &InboundRequestId,
    ) -> StoreResult<InboundRecord>;
    /// The verified request of the source whose ingest made the message `msg_id`, or
    /// `None` when that message came from elsewhere (a publish, another source, a
    /// replay) or the request has expired. Duplicates that point at the message are not
    /// it. One indexed read (migration 0007), cheap enough to call per streamed message.
    async fn inbound_request_of_message(
        &self,
        source_id: &SourceId,
        msg_id: &MessageId,
    ) -> StoreResult<Option<InboundRecord>>;
    /// Deletes up to `limit` stored requests received before `before` (oldest first).
    /// Returns how many; call again until it returns less than `limit`.
    async fn expire_inbound_requests(&self, before: Timestamp, limit: usize) -> StoreResult<u64>;
    /// Deletes up to `limit` dedup keys first seen before `before`. Returns how many.
    async fn expire_dedup_keys(&self, before: Timestamp, limit: usize) -> StoreResult<u64>;

    // ---- throttling (send slots shared by every node) ----

    /// Takes a send slot for a claimed delivery to an endpoint with a `throttleRate`
    /// (`spacing` = 1 s ÷ rate), applying `hookd_core::throttle::decide` atomically to the
    /// endpoint's next free slot and the delivery's reserved slot, so the rate holds
    /// across every node on the database. `Later(at)` means the delivery has been given
    /// back, due at `at`, holding its slot; `LeaseLost` means the lease is no longer
    /// current and nothing changed. Only called for throttled endpoints: others pay
    /// nothing.
    async fn take_send_slot(
        &self,
        lease: &Lease,
        endpoint_id: &EndpointId,
        spacing: Duration,
        now: Timestamp,
    ) -> StoreResult<SendSlot>;
    // ---- live streams ----

    /// Up to `limit` messages of the application committed after `after`, in commit
    /// order (see [`StreamCursor`]). Only messages a later call can never precede are
    /// returned; see [`StreamBatch::settled`] for the ones held back.
    async fn stream_messages(
        &self,
        app_id: &ApplicationId,
        after: StreamCursor,
        limit: usize,
    ) -> StoreResult<StreamBatch>;
    /// The cursor of the newest message of the application that `stream_messages` would
    /// return now ([`StreamCursor::START`] when there is none): where a new subscriber
    /// starts.
    async fn stream_head(&self, app_id: &ApplicationId) -> StoreResult<StreamCursor>;
    /// The cursor of one message of the application (to resume after a message id).
    /// `NotFound("message")` when the application has no such message (any more).
    async fn stream_cursor_of(
        &self,
        app_id: &ApplicationId,
        msg_id: &MessageId,
    ) -> StoreResult<StreamCursor>;
    /// Announces committed messages: the application id of each message committed
    /// through this store and, when the database is shared, by other nodes. A receiver
    /// that lags (`RecvError::Lagged`) must assume every application has news.
    fn message_commits(&self) -> broadcast::Receiver<ApplicationId>;

    // ---- inspector bins ----

    /// Inserts a bin (its `n_requests` is ignored: a new bin has recorded nothing).
    /// `Conflict` when the id exists.
    async fn create_bin(&self, bin: &Bin) -> StoreResult<()>;
    /// A bin by id, expired or not. `NotFound("bin")` when there is none.
    async fn bin(&self, bin_id: &BinId) -> StoreResult<Bin>;
    /// Every bin, expired ones included until retention deletes them.
    async fn list_bins(&self, page: &PageRequest) -> StoreResult<Page<Bin>>;
    /// Deletes the bin with its requests. `NotFound("bin")` when there is none.
    async fn delete_bin(&self, bin_id: &BinId) -> StoreResult<()>;
    /// Records a request of `request.bin_id` in one durable transaction, as the bin's
    /// next stream position, unless the bin is full (`Full`, nothing written).
    /// `NotFound("bin")` when the bin does not exist or is expired at `now`.
    async fn capture_bin_request(
        &self,
        request: &BinRequest,
        now: Timestamp,
    ) -> StoreResult<CaptureOutcome>;
    /// The bin's requests, by id (newest first with `Ordering::Descending`).
    async fn list_bin_requests(
        &self,
        bin_id: &BinId,
        page: &PageRequest,
    ) -> StoreResult<Page<BinRequest>>;
    /// One request of the bin. `NotFound("bin request")` when the bin has no such request.
    async fn bin_request(
        &self,
        bin_id: &BinId,
        request_id: &BinRequestId,
    ) -> StoreResult<BinRequest>;
    /// Up to `limit` requests of the bin captured after `after`, oldest first.
    async fn stream_bin_requests(
        &self,
        bin_id: &BinId,
        after: StreamCursor,
        limit: usize,
    ) -> StoreResult<Vec<StreamedBinRequest>>;
    /// The cursor of one request of the bin (to resume after a request id).
    /// `NotFound("bin request")` when the bin has no such request.
    async fn bin_cursor_of(
        &self,
        bin_id: &BinId,
        request_id: &BinRequestId,
    ) -> StoreResult<StreamCursor>;
    /// Announces captured requests: the bin id of each capture committed through this
    /// store and, when the database is shared, by other nodes. A receiver that lags must
    /// assume every bin has news.
    fn bin_captures(&self) -> broadcast::Receiver<BinId>;
    /// Deletes up to `limit` rows of bins expired at `now`: their requests first, then
    /// the bins left empty. Returns how many rows; fewer than `limit` means no expired
    /// bin is left.
    async fn expire_bins(&self, now: Timestamp, limit: usize) -> StoreResult<u64>;
}

/// Whether `endpoint`'s filters take `message` (the fan-out rule of
/// [`Store::publish_message`]).
pub fn endpoint_accepts_message(endpoint: &Endpoint, message: &Message) -> bool {
    hookd_core::filter::endpoint_accepts(
        endpoint.event_types.as_deref(),
        endpoint.channels.as_deref(),
        &message.event_type,
        &message.channels,
    )
}
