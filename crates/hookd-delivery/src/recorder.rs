//! Group recording of attempt outcomes: the worker's in-flight attempts hand their
//! outcomes to one recorder task, which writes whatever has queued up with one
//! `Store::record_outcomes` call (one transaction, pipelined statements on PostgreSQL;
//! one writer command on SQLite) instead of one round trip and one commit per attempt.
//!
//! **Invariants:**
//! - A caller hears back only after the call holding its outcome returned: "recorded"
//!   means committed, as with `record_outcome`.
//! - Nothing waits to fill a batch: the recorder writes as soon as it has one outcome,
//!   and outcomes that arrive while it writes form the next batch (group commit), so a
//!   lone attempt is recorded as fast as before.
//! - A failed batch does not fail its neighbours: each of its outcomes is then recorded
//!   on its own, and each caller gets its own answer (and error).

use std::sync::Arc;

use hookd_store::{OutcomeRecord, Store, StoreError, StoreResult};
use tokio::sync::{mpsc, oneshot};

/// One outcome waiting to be recorded, and where its answer goes.
type Pending = (OutcomeRecord, oneshot::Sender<StoreResult<bool>>);

/// The handle attempts record through; the task ends when the last handle is dropped.
pub(crate) struct Recorder {
    queue: mpsc::Sender<Pending>,
}

impl Recorder {
    /// Starts the recorder task, writing at most `max_batch` outcomes per call (at least
    /// 1). Must be called inside a tokio runtime.
    pub(crate) fn start(store: Arc<dyn Store>, max_batch: usize) -> Recorder {
        let max_batch = max_batch.max(1);
        let (queue, pending) = mpsc::channel(4 * max_batch);
        tokio::spawn(run(store, pending, max_batch));
        Recorder { queue }
    }

    /// Records `record` in the next batch; returns whether its lease was still held.
    ///
    /// # Errors
    /// The store's error for this outcome; `Unavailable` if the recorder has stopped.
    pub(crate) async fn record(&self, record: OutcomeRecord) -> StoreResult<bool> {
        let (reply, answer) = oneshot::channel();
        self.queue
            .send((record, reply))
            .await
            .map_err(|_| stopped())?;
        answer.await.unwrap_or_else(|_| Err(stopped()))
    }
}

async fn run(store: Arc<dyn Store>, mut pending: mpsc::Receiver<Pending>, max_batch: usize) {
    let mut batch: Vec<Pending> = Vec::with_capacity(max_batch);
    while pending.recv_many(&mut batch, max_batch).await > 0 {
        let records: Vec<OutcomeRecord> = batch.iter().map(|(record, _)| record.clone()).collect();
        match store.record_outcomes(&records).await {
            Ok(held) if held.len() == batch.len() => {
                for ((_, reply), held) in batch.drain(..).zip(held) {
                    let _ = reply.send(Ok(held));
                }
            }
            // The batch failed as a whole (or answered oddly): record each alone, so
            // every caller gets the answer that belongs to its own outcome.
            _ => {
                for (record, reply) in batch.drain(..) {
                    let _ = reply.send(store.record_outcome(&record).await);
                }
            }
        }
    }
}

fn stopped() -> StoreError {
    StoreError::Unavailable {
        detail: "the outcome recorder has stopped".to_owned(),
        source: None,
    }
}
