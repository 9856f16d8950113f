//! Group commit of publishes: concurrent `create_message` calls queue up, and one
//! statement writes every queued message with its deliveries (multi-row `INSERT … SELECT
//! FROM unnest(…)`), so a burst of publishes costs one statement and one commit (one WAL
//! flush) instead of one each.
//!
//! Shape: a task takes the first queued publish, waits for one of [`WRITERS`] write
//! slots, adds whatever else has queued meanwhile (up to [`MAX_BATCH`] messages or
//! [`MAX_BATCH_BYTES`] of payload), and writes the batch on a pooled connection while it
//! gathers the next. Nothing waits to fill a batch: a lone publish is written at once.
//!
//! **Invariants:**
//! - A caller hears back only after the statement holding its message committed: "Ok"
//!   means durable, as with a statement of its own.
//! - A message and its deliveries are in one statement, so they commit together.
//! - Deliveries a publish asked to lease (`Target::lease`) are written leased or, when
//!   its batch failed and it was written alone, not at all (`Written::leases_written`):
//!   never half.
//! - A batch that a violated constraint rolls back (an eventId taken, an application
//!   deleted meanwhile) fails no one by itself: each of its publishes is then written
//!   alone, and each caller gets the answer that belongs to its own message. A batch
//!   that fails because the server is unavailable fails each caller with that error, as
//!   a statement of its own would (the commit may or may not have happened).
//! - Publishes of one caller one after the other land in separate, ordered commits (a
//!   caller waits for its answer before it publishes again), so live-stream positions
//!   keep their order.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use hookd_core::ids::{DeliveryId, EndpointId};
use hookd_core::model::{Endpoint, Message, MessageStatus, TriggerType};
use hookd_core::Timestamp;
use hookd_store::{ClaimedDelivery, PublishLease, StoreError, StoreResult};
use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio_postgres::types::Json;

use crate::db::Db;
use crate::error::copy_of;
use crate::messages::{create_message, new_delivery_id};
use crate::rows::{get, status_code, trigger_code};

/// Most messages one statement writes.
const MAX_BATCH: usize = 128;
/// Most payload bytes one statement carries (a larger lone message still goes alone).
const MAX_BATCH_BYTES: usize = 4 << 20;
/// Batches being written at once: one commits while the next one gathers.
const WRITERS: usize = 2;
/// Publishes that may wait for a writer before callers wait to enqueue.
const QUEUE_CAPACITY: usize = 4 * MAX_BATCH;

/// The statement writing a batch: `$1..$8` and `$14` are the messages' columns (the
/// provider headers of a message from a source in `$14`, NULL otherwise), `$9..$11`,
/// `$15` and `$16` their targets (message id, endpoint id, new delivery id, and the
/// lease token and expiry of a delivery written leased to its publisher, NULL
/// otherwise). Like the single publish, only endpoints of the message's application get
/// a delivery, and a missing application fails the message's foreign key. Returns the
/// message id and id of every delivery written.
const BATCH_SQL: &str = "WITH message AS ( \
        INSERT INTO messages \
            (id, app_id, event_id, event_type, payload, channels, tags, created_at, \
             source_headers) \
        SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], \
            $6::jsonb[], $7::jsonb[], $8::timestamptz[], $14::jsonb[]) \
        RETURNING id, app_id, created_at \
    ), delivery AS ( \
        INSERT INTO deliveries (id, app_id, msg_id, endpoint_id, status, n_attempts, \
            trigger_type, next_attempt_at, created_at, updated_at, lease_token, \
            lease_expires_at) \
        SELECT target.delivery_id, message.app_id, message.id, e.id, $12, 0, $13, \
            coalesce(target.lease_expires_at, message.created_at), message.created_at, \
            message.created_at, \
            target.lease_token, target.lease_expires_at \
        FROM unnest($9::text[], $10::text[], $11::text[], $15::text[], \
                $16::timestamptz[]) \
            AS target (msg_id, endpoint_id, delivery_id, lease_token, lease_expires_at) \
        JOIN message ON message.id = target.msg_id \
        JOIN endpoints e ON e.id = target.endpoint_id AND e.app_id = message.app_id \
        RETURNING msg_id, id \
    ) \
    SELECT msg_id, id FROM delivery";

/// One delivery a publish asks for.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub(crate) endpoint_id: EndpointId,
    pub(crate) delivery_id: DeliveryId,
    /// The token and expiry to write the delivery leased with, if any.
    pub(crate) lease: Option<(String, Timestamp)>,
}

impl Target {
    /// A delivery to `endpoint_id`, written unleased, with a new id.
    pub(crate) fn unleased(message: &Message, endpoint_id: &EndpointId) -> Target {
        Target {
            endpoint_id: endpoint_id.clone(),
            delivery_id: new_delivery_id(message.created_at),
            lease: None,
        }
    }

    /// One unleased delivery per endpoint of `endpoint_ids`; an endpoint listed twice
    /// gets one. The statements rely on that: they insert without `ON CONFLICT` (a
    /// speculative insert writes one more WAL record per row).
    pub(crate) fn unleased_to_each(message: &Message, endpoint_ids: &[EndpointId]) -> Vec<Target> {
        let mut seen = HashSet::with_capacity(endpoint_ids.len());
        endpoint_ids
            .iter()
            .filter(|endpoint_id| seen.insert(endpoint_id.as_str()))
            .map(|endpoint_id| Target::unleased(message, endpoint_id))
            .collect()
    }
}

/// The deliveries a publish of `message` asks for, one per endpoint of `endpoints`
/// (already filtered, and distinct, as the endpoint lookups return them), the first
/// `lease.max_deliveries` of them leased to this node under new tokens.
pub(crate) fn targets_for(
    message: &Message,
    endpoints: &[Endpoint],
    lease: Option<PublishLease>,
) -> Vec<Target> {
    let leased = lease.map_or(0, |lease| lease.max_deliveries);
    let expires_at = lease.map(|lease| {
        let duration = chrono::Duration::from_std(lease.duration).unwrap_or(chrono::Duration::MAX);
        message
            .created_at
            .checked_add_signed(duration)
            .unwrap_or(message.created_at)
    });
    endpoints
        .iter()
        .enumerate()
        .map(|(index, endpoint)| {
            let mut target = Target::unleased(message, &endpoint.id);
            if index < leased {
                target.lease = expires_at.map(|at| (new_lease_token(), at));
            }
            target
        })
        .collect()
}

/// The leased deliveries among `targets` (made by [`targets_for`] from `endpoints`, in
/// the same order) that were written (`written` holds their ids), ready for this node's
/// worker.
pub(crate) fn handed_over(
    message: &Message,
    targets: Vec<Target>,
    endpoints: Vec<Endpoint>,
    written: &HashSet<String>,
) -> Vec<ClaimedDelivery> {
    let mut leased = Vec::new();
    for (target, endpoint) in targets.into_iter().zip(endpoints) {
        let Some((token, expires_at)) = target.lease else {
            continue;
        };
        if written.contains(target.delivery_id.as_str()) {
            leased.push(ClaimedDelivery::leased_at_publish(
                message,
                endpoint,
                target.delivery_id,
                token,
                expires_at,
            ));
        }
    }
    leased
}

/// What a publish wrote.
#[derive(Debug, Default)]
pub(crate) struct Written {
    /// How many deliveries were written.
    pub(crate) deliveries: usize,
    /// The ids of the deliveries written (a target whose endpoint is gone, or listed
    /// twice, is not), when they are the targets' ids (`leases_written`).
    pub(crate) delivery_ids: HashSet<String>,
    /// Whether the targets' leases were written; a publish that had to be written alone
    /// (after its batch failed) is written without them.
    pub(crate) leases_written: bool,
}

/// The handle publishes go through; the task ends when the last handle is dropped.
pub(crate) struct Publisher {
    queue: mpsc::Sender<Pending>,
}

/// One publish waiting to be written, and where its answer goes.
struct Pending {
    message: Message,
    targets: Vec<Target>,
    reply: oneshot::Sender<StoreResult<Written>>,
}

impl Publisher {
    /// Starts the batching task on `db`. Must be called inside a tokio runtime.
    pub(crate) fn start(db: Arc<Db>) -> Publisher {
        let (queue, pending) = mpsc::channel(QUEUE_CAPACITY);
        tokio::spawn(run(db, pending));
        Publisher { queue }
    }

    /// Writes `message` and its deliveries in the next batch; returns which deliveries
    /// were written (see `messages::create_message`).
    ///
    /// # Errors
    /// The store's error for this message; `Unavailable` if the task has stopped.
    pub(crate) async fn publish(
        &self,
        message: &Message,
        targets: Vec<Target>,
    ) -> StoreResult<Written> {
        let (reply, answer) = oneshot::channel();
        let pending = Pending {
            message: message.clone(),
            targets,
            reply,
        };
        self.queue.send(pending).await.map_err(|_| stopped())?;
        answer.await.unwrap_or_else(|_| Err(stopped()))
    }
}

async fn run(db: Arc<Db>, mut queue: mpsc::Receiver<Pending>) {
    let writers = Arc::new(Semaphore::new(WRITERS));
    let mut carried: Option<Pending> = None;
    loop {
        let first = match carried.take() {
            Some(pending) => pending,
            None => match queue.recv().await {
                Some(pending) => pending,
                None => return,
            },
        };
        let Ok(slot) = Arc::clone(&writers).acquire_owned().await else {
            return;
        };
        // Whatever queued while the writers were busy joins this batch.
        let mut bytes = first.message.payload.len();
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            let Ok(next) = queue.try_recv() else { break };
            bytes += next.message.payload.len();
            if bytes > MAX_BATCH_BYTES {
                carried = Some(next);
                break;
            }
            batch.push(next);
        }
        let db = Arc::clone(&db);
        tokio::spawn(async move {
            write(&db, batch).await;
            drop(slot);
        });
    }
}

/// Writes `batch` with one statement, or, if that fails, each publish alone.
async fn write(db: &Db, batch: Vec<Pending>) {
    // A lone publish goes through the single-message statement, which names a violated
    // constraint itself, unless it asks for leases, which only the batch statement writes.
    let leases = batch
        .iter()
        .any(|pending| pending.targets.iter().any(|target| target.lease.is_some()));
    if batch.len() > 1 || leases {
        match write_batch(db, &batch).await {
            Ok(mut written) => {
                for pending in batch {
                    let delivery_ids = written
                        .remove(pending.message.id.as_str())
                        .unwrap_or_default();
                    let _ = pending.reply.send(Ok(Written {
                        deliveries: delivery_ids.len(),
                        delivery_ids,
                        leases_written: true,
                    }));
                }
                return;
            }
            // The server is gone, or the connection broke (perhaps after the commit):
            // each caller hears so, as it would for a statement of its own; writing the
            // messages again could report a committed one as taken.
            Err(error @ StoreError::Unavailable { .. }) => {
                for pending in batch {
                    let _ = pending.reply.send(Err(copy_of(&error)));
                }
                return;
            }
            // A violated constraint rolled the whole batch back: find out whose it was.
            Err(error) => {
                tracing::debug!(%error, messages = batch.len(), "a publish batch failed; writing its messages one by one");
            }
        }
    }
    let alone = batch.into_iter().map(|pending| async move {
        let result = write_alone(db, &pending.message, &pending.targets).await;
        let _ = pending.reply.send(result);
    });
    futures::future::join_all(alone).await;
}

/// Writes one publish with the single-message statement, its deliveries unleased.
async fn write_alone(db: &Db, message: &Message, targets: &[Target]) -> StoreResult<Written> {
    let endpoint_ids: Vec<EndpointId> = targets
        .iter()
        .map(|target| target.endpoint_id.clone())
        .collect();
    let deliveries = create_message(db, message, &endpoint_ids).await?;
    // That statement makes its own delivery ids and writes no lease.
    Ok(Written {
        deliveries: usize::try_from(deliveries).unwrap_or(usize::MAX),
        delivery_ids: HashSet::new(),
        leases_written: false,
    })
}

/// A new lease token for a delivery written leased to its publisher.
pub(crate) fn new_lease_token() -> String {
    format!("{:032x}", rand::random::<u128>())
}

/// The batch statement; returns the ids of the deliveries written per message id.
/// A message's provider headers, as `Message::source_headers` holds them.
type SourceHeaders = Vec<(String, String)>;

async fn write_batch(db: &Db, batch: &[Pending]) -> StoreResult<HashMap<String, HashSet<String>>> {
    let messages: Vec<&Message> = batch.iter().map(|pending| &pending.message).collect();
    let ids: Vec<&str> = messages.iter().map(|m| m.id.as_str()).collect();
    let app_ids: Vec<&str> = messages.iter().map(|m| m.app_id.as_str()).collect();
    let event_ids: Vec<Option<&str>> = messages.iter().map(|m| m.event_id.as_deref()).collect();
    let event_types: Vec<&str> = messages.iter().map(|m| m.event_type.as_str()).collect();
    let payloads: Vec<&str> = messages.iter().map(|m| m.payload.as_str()).collect();
    let channels: Vec<Json<&Vec<String>>> = messages.iter().map(|m| Json(&m.channels)).collect();
    let tags: Vec<Json<&Vec<String>>> = messages.iter().map(|m| Json(&m.tags)).collect();
    let created: Vec<Timestamp> = messages.iter().map(|m| m.created_at).collect();
    let source_headers: Vec<Option<Json<&SourceHeaders>>> = messages
        .iter()
        .map(|m| (!m.source_headers.is_empty()).then_some(Json(&m.source_headers)))
        .collect();
    let mut target_messages: Vec<&str> = Vec::new();
    let mut target_endpoints: Vec<&str> = Vec::new();
    let mut delivery_ids: Vec<&str> = Vec::new();
    let mut lease_tokens: Vec<Option<&str>> = Vec::new();
    let mut lease_expiries: Vec<Option<Timestamp>> = Vec::new();
    for pending in batch {
        for target in &pending.targets {
            target_messages.push(pending.message.id.as_str());
            target_endpoints.push(target.endpoint_id.as_str());
            delivery_ids.push(target.delivery_id.as_str());
            lease_tokens.push(target.lease.as_ref().map(|(token, _)| token.as_str()));
            lease_expiries.push(target.lease.as_ref().map(|(_, expires)| *expires));
        }
    }
    let rows = db
        .query(
            BATCH_SQL,
            &[
                &ids,
                &app_ids,
                &event_ids,
                &event_types,
                &payloads,
                &channels,
                &tags,
                &created,
                &target_messages,
                &target_endpoints,
                &delivery_ids,
                &status_code(MessageStatus::Pending),
                &trigger_code(TriggerType::Scheduled),
                &source_headers,
                &lease_tokens,
                &lease_expiries,
            ],
        )
        .await?;
    let mut written: HashMap<String, HashSet<String>> = HashMap::with_capacity(batch.len());
    for row in &rows {
        written
            .entry(get::<String>(row, 0)?)
            .or_default()
            .insert(get::<String>(row, 1)?);
    }
    Ok(written)
}

fn stopped() -> StoreError {
    StoreError::Unavailable {
        detail: "the publish writer has stopped".to_owned(),
        source: None,
    }
}
