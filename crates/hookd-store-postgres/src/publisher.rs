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
//! - A batch that a violated constraint rolls back (an eventId taken, an application
//!   deleted meanwhile) fails no one by itself: each of its publishes is then written
//!   alone, and each caller gets the answer that belongs to its own message. A batch
//!   that fails because the server is unavailable fails each caller with that error, as
//!   a statement of its own would (the commit may or may not have happened).
//! - Publishes of one caller one after the other land in separate, ordered commits (a
//!   caller waits for its answer before it publishes again), so live-stream positions
//!   keep their order.

use std::collections::HashMap;
use std::sync::Arc;

use hookd_core::ids::EndpointId;
use hookd_core::model::{Message, MessageStatus, TriggerType};
use hookd_core::Timestamp;
use hookd_store::{StoreError, StoreResult};
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
/// provider headers of a message from a source in `$14`, NULL otherwise), `$9..$11` their
/// targets (message id, endpoint id, new delivery id). Like the single publish, only
/// endpoints of the message's application get a delivery, and a missing application
/// fails the message's foreign key. Returns, per message with deliveries, their number.
const BATCH_SQL: &str = "WITH message AS ( \
        INSERT INTO messages \
            (id, app_id, event_id, event_type, payload, channels, tags, created_at, \
             source_headers) \
        SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], \
            $6::jsonb[], $7::jsonb[], $8::timestamptz[], $14::jsonb[]) \
        RETURNING id, app_id, created_at \
    ), delivery AS ( \
        INSERT INTO deliveries (id, app_id, msg_id, endpoint_id, status, n_attempts, \
            trigger_type, next_attempt_at, created_at, updated_at) \
        SELECT target.delivery_id, message.app_id, message.id, e.id, $12, 0, $13, \
            message.created_at, message.created_at, message.created_at \
        FROM unnest($9::text[], $10::text[], $11::text[]) \
            AS target (msg_id, endpoint_id, delivery_id) \
        JOIN message ON message.id = target.msg_id \
        JOIN endpoints e ON e.id = target.endpoint_id AND e.app_id = message.app_id \
        ON CONFLICT (msg_id, endpoint_id) DO NOTHING \
        RETURNING msg_id \
    ) \
    SELECT msg_id, count(*) FROM delivery GROUP BY msg_id";

/// The handle publishes go through; the task ends when the last handle is dropped.
pub(crate) struct Publisher {
    queue: mpsc::Sender<Pending>,
}

/// One publish waiting to be written, and where its answer (deliveries written) goes.
struct Pending {
    message: Message,
    endpoint_ids: Vec<EndpointId>,
    reply: oneshot::Sender<StoreResult<u64>>,
}

impl Publisher {
    /// Starts the batching task on `db`. Must be called inside a tokio runtime.
    pub(crate) fn start(db: Arc<Db>) -> Publisher {
        let (queue, pending) = mpsc::channel(QUEUE_CAPACITY);
        tokio::spawn(run(db, pending));
        Publisher { queue }
    }

    /// Writes `message` and its deliveries in the next batch; returns how many
    /// deliveries were written (see `messages::create_message`).
    ///
    /// # Errors
    /// The store's error for this message; `Unavailable` if the task has stopped.
    pub(crate) async fn publish(
        &self,
        message: &Message,
        endpoint_ids: &[EndpointId],
    ) -> StoreResult<u64> {
        let (reply, answer) = oneshot::channel();
        let pending = Pending {
            message: message.clone(),
            endpoint_ids: endpoint_ids.to_vec(),
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
    if batch.len() > 1 {
        match write_batch(db, &batch).await {
            Ok(counts) => {
                for pending in batch {
                    let written = counts
                        .get(pending.message.id.as_str())
                        .copied()
                        .unwrap_or(0);
                    let _ = pending.reply.send(Ok(written));
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
        let result = create_message(db, &pending.message, &pending.endpoint_ids).await;
        let _ = pending.reply.send(result);
    });
    futures::future::join_all(alone).await;
}

/// The batch statement; returns the deliveries written per message id.
/// A message's provider headers, as `Message::source_headers` holds them.
type SourceHeaders = Vec<(String, String)>;

async fn write_batch(db: &Db, batch: &[Pending]) -> StoreResult<HashMap<String, u64>> {
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
    let mut delivery_ids: Vec<String> = Vec::new();
    for pending in batch {
        for endpoint_id in &pending.endpoint_ids {
            target_messages.push(pending.message.id.as_str());
            target_endpoints.push(endpoint_id.as_str());
            delivery_ids.push(new_delivery_id(pending.message.created_at).to_string());
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
            ],
        )
        .await?;
    let mut counts = HashMap::with_capacity(rows.len());
    for row in &rows {
        let written: i64 = get(row, 1)?;
        counts.insert(get::<String>(row, 0)?, u64::try_from(written).unwrap_or(0));
    }
    Ok(counts)
}

fn stopped() -> StoreError {
    StoreError::Unavailable {
        detail: "the publish writer has stopped".to_owned(),
        source: None,
    }
}
