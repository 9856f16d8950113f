//! The retention job: expires message payloads, attempts' content and idempotency keys
//! once they are older than their retention periods, and deletes inspector bins past
//! their expiry with their requests, in small batches, on every node that runs a worker.
//!
//! `run_once` is one pass (every kind, batch after batch until a short batch) and is
//! public so tests can drive it with any `now`; `run` repeats it every `interval` until
//! shutdown.
//!
//! **Invariants:** a batch touches at most `batch_size` rows in one short transaction,
//! and the job pauses `batch_pause` between full batches, so it never holds the SQLite
//! writer or PostgreSQL row locks long enough to hold up publishing or delivery. Several
//! nodes may run it at once (their batches skip each other's rows). A store failure is
//! logged and the job tries again at the next pass; it never stops the node.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use hookd_core::Timestamp;
use hookd_store::{ExpiryKind, Store, StoreError};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};

/// What the retention job expires, and how fast.
#[derive(Debug, Clone)]
pub struct RetentionConfig {
    /// How long each kind of record is kept. A kind that is not listed is kept forever.
    /// Default: none (nothing expires).
    pub periods: Vec<(ExpiryKind, Duration)>,
    /// Pause between two passes. Default: 60 s.
    pub interval: Duration,
    /// Most rows one batch (one statement, one transaction) expires. Default: 500.
    pub batch_size: usize,
    /// Pause between two full batches of a pass, so that other writers get the
    /// database in between. Default: 20 ms.
    pub batch_pause: Duration,
    /// How long stored inbound requests (`/in/{source}`) are kept. Default: forever.
    pub inbound_requests: Option<Duration>,
    /// How long providers' event ids are remembered for deduplication. Default: forever.
    pub inbound_dedup_keys: Option<Duration>,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            periods: Vec::new(),
            interval: Duration::from_secs(60),
            batch_size: 500,
            batch_pause: Duration::from_millis(20),
            inbound_requests: None,
            inbound_dedup_keys: None,
        }
    }
}

/// The background job that applies the retention periods.
pub struct RetentionJob {
    store: Arc<dyn Store>,
    config: RetentionConfig,
}

impl RetentionJob {
    pub fn new(store: Arc<dyn Store>, config: RetentionConfig) -> Self {
        Self { store, config }
    }

    /// One pass at `now`: for each kind with a period, expires what was created before
    /// `now - period`, batch after batch, until a batch comes back short (or `shutdown`
    /// is cancelled). Returns how many records of each kind it expired.
    ///
    /// # Errors
    /// The first store failure; what was expired before it stays expired.
    pub async fn run_once(
        &self,
        now: Timestamp,
        shutdown: &CancellationToken,
    ) -> Result<Vec<(ExpiryKind, u64)>, StoreError> {
        let mut expired = Vec::with_capacity(self.config.periods.len());
        for &(kind, period) in &self.config.periods {
            let Some(cutoff) = cutoff(now, period) else {
                continue;
            };
            let total = self
                .in_batches(kind.name(), shutdown, |limit| {
                    self.store.expire_batch(kind, cutoff, limit)
                })
                .await?;
            expired.push((kind, total));
        }
        if let Some(cutoff) = self.config.inbound_requests.and_then(|p| cutoff(now, p)) {
            self.in_batches("inbound_requests", shutdown, |limit| {
                self.store.expire_inbound_requests(cutoff, limit)
            })
            .await?;
        }
        if let Some(cutoff) = self.config.inbound_dedup_keys.and_then(|p| cutoff(now, p)) {
            self.in_batches("inbound_dedup_keys", shutdown, |limit| {
                self.store.expire_dedup_keys(cutoff, limit)
            })
            .await?;
        }
        // A bin carries its own expiry; past it the bin already answers 404.
        self.in_batches("bins", shutdown, |limit| self.store.expire_bins(now, limit))
            .await?;
        Ok(expired)
    }

    /// Calls `batch` with the batch size until a batch comes back short (or `shutdown`
    /// is cancelled), pausing between full batches; returns how many it expired.
    async fn in_batches<'a, F, Fut>(
        &'a self,
        name: &str,
        shutdown: &CancellationToken,
        batch: F,
    ) -> Result<u64, StoreError>
    where
        F: Fn(usize) -> Fut,
        Fut: std::future::Future<Output = Result<u64, StoreError>> + 'a,
    {
        let limit = self.config.batch_size.max(1);
        let mut total = 0;
        loop {
            let count = batch(limit).await?;
            total += count;
            if count < limit as u64 || shutdown.is_cancelled() {
                break;
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(self.config.batch_pause) => {}
            }
        }
        if total > 0 {
            debug!(kind = name, expired = total, "retention pass");
        }
        Ok(total)
    }

    /// Runs a pass every `interval` until `shutdown` is cancelled.
    pub async fn run(self, shutdown: CancellationToken) {
        info!(
            periods = ?self.config.periods,
            interval_ms = self.config.interval.as_millis() as u64,
            "retention job started"
        );
        while !shutdown.is_cancelled() {
            if let Err(error) = self.run_once(Utc::now(), &shutdown).await {
                warn!(error = %error, "retention pass failed; trying again at the next pass");
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(self.config.interval) => {}
            }
        }
        debug!("retention job stopped");
    }
}

/// The instant before which records kept for `period` expire; `None` when `period`
/// reaches back past the start of time (nothing can be that old).
fn cutoff(now: Timestamp, period: Duration) -> Option<Timestamp> {
    now.checked_sub_signed(chrono::Duration::from_std(period).ok()?)
}

#[cfg(test)]
mod tests {
    use hookd_store::conformance::fixtures;
    use hookd_store::StoredResponse;
    use hookd_store_sqlite::SqliteStore;

    use super::*;

    const DAY: Duration = Duration::from_secs(24 * 3600);

    #[tokio::test]
    async fn one_pass_expires_every_kind_past_its_period_in_batches() {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("r.db")).unwrap());
        let application = fixtures::application("acme");
        store.create_application(&application).await.unwrap();
        let now = fixtures::now();
        let mut old = Vec::new();
        for days in 10..15 {
            let message = fixtures::message_at(
                &application.id,
                "a.b",
                r#"{"n":1}"#,
                fixtures::earlier(now, DAY * days),
            );
            store.create_message(&message, &[]).await.unwrap();
            old.push(message);
        }
        let recent = fixtures::message_at(&application.id, "a.b", r#"{"n":2}"#, now);
        store.create_message(&recent, &[]).await.unwrap();
        let response = StoredResponse {
            status: 202,
            body: b"{}".to_vec(),
        };
        store
            .save_idempotent_response("k", &response, fixtures::earlier(now, DAY * 2))
            .await
            .unwrap();

        let job = RetentionJob::new(
            Arc::clone(&store),
            RetentionConfig {
                periods: vec![
                    (ExpiryKind::MessagePayloads, DAY * 7),
                    (ExpiryKind::IdempotencyKeys, DAY),
                ],
                batch_size: 2,
                batch_pause: Duration::ZERO,
                ..RetentionConfig::default()
            },
        );
        let expired = job.run_once(now, &CancellationToken::new()).await.unwrap();
        assert_eq!(
            expired,
            [
                (ExpiryKind::MessagePayloads, 5),
                (ExpiryKind::IdempotencyKeys, 1)
            ]
        );
        for message in &old {
            let stored = store
                .message(&application.id, message.id.as_str())
                .await
                .unwrap();
            assert!(stored.payload_expired());
        }
        let kept = store
            .message(&application.id, recent.id.as_str())
            .await
            .unwrap();
        assert_eq!(kept.payload, recent.payload);
        assert_eq!(
            store
                .idempotent_response("k", fixtures::earlier(now, DAY * 30))
                .await
                .unwrap(),
            None
        );
    }

    /// A delivery that meets an empty payload (here: a resend that went straight to the
    /// store after an expunge) is failed with an attempt saying why, and nothing is sent.
    #[tokio::test]
    async fn the_worker_never_sends_an_expunged_payload() {
        use hookd_core::model::{Attempt, MessageStatus, TriggerType};
        use hookd_store::{AttemptFilter, PageRequest};

        use crate::{HttpSender, SenderConfig, Worker, WorkerConfig};

        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("w.db")).unwrap());
        let mut sink = hookd_test_support::TestSink::start(&[200]).await;
        let application = fixtures::application("acme");
        store.create_application(&application).await.unwrap();
        let endpoint = fixtures::endpoint(&application.id, &sink.url("/hook"));
        store.create_endpoint(&endpoint).await.unwrap();
        let message = fixtures::message(&application.id, "a.b", r#"{"secret":1}"#);
        store
            .create_message(&message, std::slice::from_ref(&endpoint.id))
            .await
            .unwrap();
        let now = fixtures::now();
        assert_eq!(
            store
                .expunge_message_content(&application.id, &message.id, now)
                .await
                .unwrap(),
            1
        );
        store
            .resend(&application.id, &message.id, &endpoint.id, now)
            .await
            .unwrap();

        let sender = HttpSender::new(SenderConfig {
            network: hookd_core::network::NetworkPolicy::new(
                hookd_core::network::parse_allow_list("127.0.0.0/8").unwrap(),
            ),
            ..SenderConfig::default()
        })
        .unwrap();
        let worker = Arc::new(Worker::new(
            Arc::clone(&store),
            sender,
            WorkerConfig::default(),
        ));
        assert_eq!(worker.process_next().await.unwrap(), 1);
        assert!(sink.next(Duration::from_millis(300)).await.is_none());

        let delivery = store
            .delivery(&application.id, &message.id, &endpoint.id)
            .await
            .unwrap();
        assert_eq!(delivery.status, MessageStatus::Fail);
        assert_eq!(delivery.next_attempt_at, None);
        let attempts = store
            .list_attempts(
                &application.id,
                &AttemptFilter {
                    msg_id: Some(message.id.clone()),
                    ..AttemptFilter::default()
                },
                &PageRequest {
                    limit: 10,
                    iterator: None,
                    order: hookd_store::Ordering::Ascending,
                },
            )
            .await
            .unwrap()
            .items;
        let stops: Vec<_> = attempts
            .iter()
            .filter(|attempt| attempt.response == Attempt::PAYLOAD_GONE_RESPONSE)
            .collect();
        assert_eq!(
            stops.len(),
            2,
            "the expunge's and the worker's: {attempts:#?}"
        );
        assert!(stops
            .iter()
            .any(|attempt| attempt.trigger == TriggerType::Manual));
    }

    #[test]
    fn cutoffs() {
        let now = fixtures::at_ms(1_700_000_000_000);
        assert_eq!(
            cutoff(now, Duration::from_secs(1)),
            Some(fixtures::at_ms(1_699_999_999_000))
        );
        assert_eq!(cutoff(now, Duration::MAX), None);
    }

    #[tokio::test]
    async fn stored_inbound_requests_expire_with_their_period() {
        use hookd_store::conformance::{inbound_request_at, inbound_source};
        use hookd_store::{InboundFilter, Ordering, PageRequest};

        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("r.db")).unwrap());
        let application = fixtures::application("acme");
        store.create_application(&application).await.unwrap();
        let source = inbound_source(&application.id, None);
        store.create_source(&source).await.unwrap();
        let now = fixtures::now();
        let old = inbound_request_at(&source.id, b"{}", fixtures::earlier(now, DAY * 40));
        let recent = inbound_request_at(&source.id, b"{}", fixtures::earlier(now, DAY));
        store.record_inbound_request(&old).await.unwrap();
        store.record_inbound_request(&recent).await.unwrap();

        let job = RetentionJob::new(
            store.clone(),
            RetentionConfig {
                inbound_requests: Some(DAY * 30),
                inbound_dedup_keys: Some(DAY * 7),
                ..RetentionConfig::default()
            },
        );
        job.run_once(now, &CancellationToken::new()).await.unwrap();

        let page = PageRequest {
            limit: 10,
            iterator: None,
            order: Ordering::Descending,
        };
        let kept = store
            .list_inbound_requests(&source.id, &InboundFilter::default(), &page)
            .await
            .unwrap();
        let ids: Vec<_> = kept
            .items
            .iter()
            .map(|request| request.id.clone())
            .collect();
        assert_eq!(
            ids,
            vec![recent.id],
            "only the request older than 30 days expired"
        );
    }

    #[tokio::test]
    async fn a_pass_deletes_expired_bins_with_their_requests_in_batches() {
        use hookd_store::conformance::{bin, bin_request_at};

        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&dir.path().join("r.db")).unwrap());
        let expired = bin(Duration::from_secs(3600), 100);
        let live = bin(DAY, 100);
        store.create_bin(&expired).await.unwrap();
        store.create_bin(&live).await.unwrap();
        let now = fixtures::now();
        for _ in 0..7 {
            let request = bin_request_at(&expired.id, b"old", now);
            store.capture_bin_request(&request, now).await.unwrap();
        }
        let kept = bin_request_at(&live.id, b"kept", now);
        store.capture_bin_request(&kept, now).await.unwrap();

        let job = RetentionJob::new(
            store.clone(),
            RetentionConfig {
                batch_size: 3,
                batch_pause: Duration::ZERO,
                ..RetentionConfig::default()
            },
        );
        let two_hours_later = fixtures::later(now, Duration::from_secs(7200));
        job.run_once(two_hours_later, &CancellationToken::new())
            .await
            .unwrap();
        assert!(matches!(
            store.bin(&expired.id).await,
            Err(StoreError::NotFound("bin"))
        ));
        assert_eq!(store.bin_request(&live.id, &kept.id).await.unwrap(), kept);
    }
}
