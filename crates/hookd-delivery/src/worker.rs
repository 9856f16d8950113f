//! The worker loop: claim due deliveries, attempt each one, record the outcome.
//!
//! `process_next` is one step (claim a batch, attempt it, record it) and is public so tests
//! can drive the engine deterministically; `run` is a loop around the same pieces with
//! bounded concurrency, wake-ups from the store, a polling fallback, and a graceful drain.
//!
//! **Invariants:** a delivery is only attempted under a lease; its outcome is recorded
//! before the task finishes; on shutdown every in-flight delivery either finishes or has
//! its lease released so another worker (or the next start) retries it at once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use chrono::Utc;
use hookd_core::command::command_target;
use hookd_core::ids::{ApplicationId, AttemptId, DeliveryId};
use hookd_core::model::{Attempt, MessageStatus};
use hookd_core::retry::{self, NextStep, Outcome, RetryPolicy};
use hookd_core::throttle;
use hookd_core::Timestamp;
use hookd_core::{signature, source};
use hookd_store::{
    ClaimedDelivery, DeliveryOutcome, EndpointHealth, Lease, OperationalWebhooks, OutcomeRecord,
    PublishLease, Published, SendSlot, Store, StoreError,
};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{debug, info, warn, Instrument};

use crate::command::CommandRunner;
use crate::command_gate::Ticket;
use crate::fanout::FanoutHints;
use crate::recorder::Recorder;
use crate::sender::{HttpSender, SendResult};
use crate::slots::EndpointSlots;
use crate::{events, metrics};

/// How the worker behaves.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub retry: RetryPolicy,
    /// How long a claim is held. Must exceed the request timeout. Default: 60 s.
    pub lease: Duration,
    /// Requests in flight at once. Default: 128.
    pub concurrency: usize,
    /// Deliveries claimed per store round trip. Default: 64.
    pub batch_size: usize,
    /// Polling fallback when no wake-up arrives. Default: 1 s.
    pub poll_interval: Duration,
    /// An endpoint failing without a success for this long is disabled. Default: 5 days.
    pub disable_after: Duration,
    /// Requests in flight at once to one endpoint, so a receiver that hangs cannot take
    /// every slot and slow the others down. Default: 16 (the `hookd` binary passes the
    /// worker concurrency unless `endpoint_concurrency` is set).
    pub endpoint_concurrency: usize,
    /// How long shutdown waits for in-flight attempts. Default: 20 s.
    pub drain_timeout: Duration,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            retry: RetryPolicy::default(),
            lease: Duration::from_secs(60),
            concurrency: 128,
            batch_size: 64,
            poll_interval: Duration::from_secs(1),
            disable_after: Duration::from_secs(5 * 24 * 3600),
            endpoint_concurrency: 16,
            drain_timeout: Duration::from_secs(20),
        }
    }
}

/// Request slots a publish on this node has taken for the deliveries it will lease to
/// this node's worker ([`Worker::reserve`], [`Worker::dispatch`]).
#[derive(Debug)]
pub struct Reservation {
    permits: Vec<OwnedSemaphorePermit>,
    lease: Duration,
    /// The application published to, whose fan-out `dispatch` learns.
    app_id: ApplicationId,
}

impl Reservation {
    /// The lease to ask the publish for: as long as a claim's, for as many deliveries
    /// as there are slots; `None` when no slot was free (the queue takes them all).
    pub fn publish_lease(&self) -> Option<PublishLease> {
        (!self.permits.is_empty()).then_some(PublishLease {
            duration: self.lease,
            max_deliveries: self.permits.len(),
        })
    }
}

/// How long a delivery waits when its endpoint has no free slot.
const ENDPOINT_BUSY_RETRY_MS: i64 = 500;

/// Header names whose values are kept out of the attempt log.
const SENSITIVE_HEADERS: &[&str] = &[
    "authorization",
    "cookie",
    "x-api-key",
    "proxy-authorization",
];

/// The delivery worker.
pub struct Worker {
    store: Arc<dyn Store>,
    sender: HttpSender,
    config: WorkerConfig,
    in_flight: Mutex<HashMap<DeliveryId, Lease>>,
    endpoint_slots: EndpointSlots,
    /// The earliest retry this worker scheduled itself, so it wakes for it instead of
    /// waiting for the next poll.
    next_wake: Mutex<Option<Timestamp>>,
    /// One permit per request that may be in flight (`concurrency`), shared by claims
    /// and by the deliveries this node's publishes lease to it (`reserve`, `dispatch`).
    permits: Arc<Semaphore>,
    /// Every running attempt, wherever it was started, so shutdown can wait for them.
    tasks: TaskTracker,
    /// Where operational events go (`endpoint.disabled`, `message.attempt.*`), if anywhere.
    operational: Option<OperationalWebhooks>,
    /// The last fan-out of each application, which sizes a publish's reservation.
    fanout: FanoutHints,
    /// Records attempts' outcomes in groups; started on first use (inside the runtime).
    recorder: OnceLock<Recorder>,
    /// The configured commands that `command://` endpoints run.
    commands: Option<Arc<CommandRunner>>,
}

impl Worker {
    pub fn new(store: Arc<dyn Store>, sender: HttpSender, config: WorkerConfig) -> Self {
        let endpoint_slots = EndpointSlots::new(config.endpoint_concurrency);
        Self {
            store,
            sender,
            in_flight: Mutex::new(HashMap::new()),
            endpoint_slots,
            next_wake: Mutex::new(None),
            fanout: FanoutHints::default(),
            recorder: OnceLock::new(),
            permits: Arc::new(Semaphore::new(config.concurrency.max(1))),
            tasks: TaskTracker::new(),
            operational: None,
            commands: None,
            config,
        }
    }

    fn recorder(&self) -> &Recorder {
        self.recorder
            .get_or_init(|| Recorder::start(self.store.clone(), self.config.batch_size))
    }

    /// Sends operational events about attempts through `hooks`. Default: none are sent.
    pub fn with_operational_webhooks(mut self, hooks: OperationalWebhooks) -> Self {
        self.operational = Some(hooks);
        self
    }

    /// Runs `command://NAME` endpoints with `commands`. Without it, such deliveries fail
    /// (and are retried) with "not configured on this node".
    pub fn with_commands(mut self, commands: Arc<CommandRunner>) -> Self {
        self.commands = Some(commands);
        self
    }

    /// A place in line for a delivery to a command endpoint, taken when the delivery is
    /// started so that runs keep message order whichever task runs first.
    fn command_ticket(&self, delivery: &ClaimedDelivery) -> Option<Ticket> {
        let name = command_target(&delivery.endpoint.url)?;
        self.commands.as_ref()?.ticket(name, &delivery.message)
    }

    /// Starts attempting `delivery` on the task tracker, holding `permit` until done.
    fn spawn_attempt(
        self: &Arc<Self>,
        delivery: ClaimedDelivery,
        permit: Option<OwnedSemaphorePermit>,
    ) {
        let worker = self.clone();
        let ticket = self.command_ticket(&delivery);
        self.tasks.spawn(async move {
            // A store error is already logged inside the delivery's span.
            let _ = worker.attempt(delivery, ticket).await;
            drop(permit);
        });
    }

    /// Takes free request slots for a publish to `app_id` on this node to lease its
    /// deliveries into (see [`Worker::dispatch`]): as many as the last publish to that
    /// application made deliveries, at most `max` (`max` for an application not seen
    /// yet). Slots taken here are not available to claims until the reservation is
    /// dispatched or dropped, so a publish only holds them for the length of its write.
    pub fn reserve(&self, app_id: ApplicationId, max: usize) -> Reservation {
        let wanted = self.fanout.expected(&app_id, max);
        let mut permits = Vec::with_capacity(wanted);
        while permits.len() < wanted {
            match self.permits.clone().try_acquire_owned() {
                Ok(permit) => permits.push(permit),
                Err(_) => break,
            }
        }
        Reservation {
            permits,
            lease: self.config.lease,
            app_id,
        }
    }

    /// Starts attempting the deliveries a publish leased with `reservation`'s lease, each
    /// on one of its slots, and wakes the claim loop when the publish left deliveries in
    /// the queue (more than were reserved). Slots not used go back.
    pub fn dispatch(self: &Arc<Self>, published: Published, reservation: Reservation) {
        self.fanout.learn(&reservation.app_id, published.deliveries);
        let unleased = published.deliveries.saturating_sub(published.leased.len());
        let mut permits = reservation.permits.into_iter();
        for delivery in published.leased {
            // A store never leases more than it was asked to, so there is always a slot;
            // were there none, the attempt still runs (it is leased to this node).
            self.spawn_attempt(delivery, permits.next());
        }
        if unleased > 0 {
            let notifier = self.store.work_notifier();
            notifier.notify_waiters();
            notifier.notify_one();
        }
    }

    /// Claims one batch of due deliveries and attempts them all, concurrently. Returns how
    /// many were claimed (0 when nothing was due).
    ///
    /// # Errors
    /// When the store fails (not when an endpoint fails).
    pub async fn process_next(self: &Arc<Self>) -> Result<usize, StoreError> {
        let claimed = self
            .store
            .claim_due_deliveries(Utc::now(), self.config.lease, self.config.batch_size)
            .await?;
        let count = claimed.len();
        let mut tasks = JoinSet::new();
        for delivery in claimed {
            let worker = self.clone();
            let ticket = self.command_ticket(&delivery);
            tasks.spawn(async move { worker.attempt(delivery, ticket).await });
        }
        while let Some(joined) = tasks.join_next().await {
            if let Ok(Err(error)) = joined {
                return Err(error);
            }
        }
        Ok(count)
    }

    /// Runs until `shutdown` is cancelled, then drains.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let notifier = self.store.work_notifier();
        let mut backoff = Duration::from_millis(100);
        info!(
            concurrency = self.config.concurrency,
            "delivery worker started"
        );
        while !shutdown.is_cancelled() {
            // Take the permits before claiming, so that claims and hand-offs together
            // never lease more deliveries than `concurrency` (what a dead node can leave
            // behind for others to take over).
            let mut permits = Vec::with_capacity(self.config.batch_size);
            while permits.len() < self.config.batch_size {
                match self.permits.clone().try_acquire_owned() {
                    Ok(permit) => permits.push(permit),
                    Err(_) => break,
                }
            }
            let available = permits.len();
            if available == 0 {
                // Wait for any attempt (claimed or handed over) to give its permit back.
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    permit = self.permits.clone().acquire_owned() => drop(permit),
                }
                continue;
            }
            // Register for the wake-up before looking, so a commit between the claim and
            // the wait is not missed.
            let notified = notifier.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let claimed = match self
                .store
                .claim_due_deliveries(Utc::now(), self.config.lease, available)
                .await
            {
                Ok(claimed) => {
                    backoff = Duration::from_millis(100);
                    claimed
                }
                Err(error) => {
                    drop(permits);
                    warn!(error = %error, retry_in_ms = backoff.as_millis() as u64, "claiming deliveries failed; backing off");
                    // A commit (a publish on this node, or the LISTEN connection coming
                    // back) means the database is back: look at once.
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = &mut notified => {}
                        _ = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                    continue;
                }
            };
            if claimed.is_empty() {
                // Idle: leave every permit to this node's publishes while waiting.
                drop(permits);
                let pause = self.pause_before_next_poll();
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = &mut notified => {}
                    _ = tokio::time::sleep(pause) => {}
                }
                continue;
            }
            // Permits left over (fewer were due) go back as `permits` drops.
            for (delivery, permit) in claimed.into_iter().zip(permits) {
                self.spawn_attempt(delivery, Some(permit));
            }
        }
        self.drain().await;
    }

    /// How long to sleep when nothing is due: until the earliest retry this worker
    /// scheduled, or the poll interval, whichever comes first.
    fn pause_before_next_poll(&self) -> Duration {
        let mut next_wake = self
            .next_wake
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let now = Utc::now();
        match *next_wake {
            Some(at) if at <= now => {
                *next_wake = None;
                Duration::ZERO
            }
            Some(at) => (at - now)
                .to_std()
                .unwrap_or(Duration::ZERO)
                .min(self.config.poll_interval),
            None => self.config.poll_interval,
        }
    }

    fn wake_at(&self, at: Timestamp) {
        let mut next_wake = self
            .next_wake
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if next_wake.is_none_or(|current| at < current) {
            *next_wake = Some(at);
        }
    }

    /// Waits for in-flight attempts up to the drain timeout, then releases the leases of
    /// those still running so they are retried at once elsewhere.
    async fn drain(&self) {
        self.tasks.close();
        let in_flight = self.tasks.len();
        if in_flight > 0 {
            info!(in_flight, "worker draining in-flight deliveries");
        }
        // Attempts still running after the timeout are abandoned with the runtime; their
        // leases are released below so they are retried at once.
        let _ = tokio::time::timeout(self.config.drain_timeout, self.tasks.wait()).await;
        let leftover: Vec<Lease> = self
            .in_flight
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .drain()
            .map(|(_, lease)| lease)
            .collect();
        for lease in leftover {
            if let Err(error) = self.store.release_delivery(&lease, Utc::now()).await {
                warn!(error = %error, delivery_id = %lease.delivery_id, "could not release a lease at shutdown; it will expire");
            }
        }
        info!("delivery worker stopped");
    }

    async fn attempt(
        &self,
        claimed: ClaimedDelivery,
        ticket: Option<Ticket>,
    ) -> Result<(), StoreError> {
        let span = tracing::info_span!(
            "delivery",
            msg_id = %claimed.message.id,
            endpoint_id = %claimed.endpoint.id,
            app_id = %claimed.message.app_id,
            attempt = claimed.delivery.n_attempts + 1,
        );
        self.track(&claimed.lease, true);
        let result = self
            .attempt_inner(&claimed, ticket)
            .instrument(span.clone())
            .await;
        self.track(&claimed.lease, false);
        if let Err(error) = &result {
            span.in_scope(|| warn!(error = %error, "recording a delivery outcome failed; its lease will expire and it will be retried"));
        }
        result
    }

    fn track(&self, lease: &Lease, starting: bool) {
        let mut in_flight = self
            .in_flight
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if starting {
            in_flight.insert(lease.delivery_id.clone(), lease.clone());
        } else {
            in_flight.remove(&lease.delivery_id);
        }
    }

    async fn attempt_inner(
        &self,
        claimed: &ClaimedDelivery,
        ticket: Option<Ticket>,
    ) -> Result<(), StoreError> {
        let ClaimedDelivery {
            lease,
            delivery,
            message,
            endpoint,
        } = claimed;
        let now = Utc::now();
        if endpoint.disabled {
            debug!("endpoint is disabled; failing the delivery without an attempt");
            let record = OutcomeRecord {
                lease: lease.clone(),
                attempt: None,
                delivery: DeliveryOutcome::Failed,
                endpoint_health: EndpointHealth::Unchanged,
                now,
            };
            if self.store.record_outcome(&record).await? {
                metrics::record_outcome(&record.delivery, &record.endpoint_health);
            }
            return Ok(());
        }
        if message.payload_expired() {
            // Retention never expires a payload with unfinished deliveries, but a resend
            // or recover racing an expunge can leave one behind: it could only send an
            // empty body, so it fails here with an attempt saying why.
            warn!("message payload is gone; failing the delivery without sending");
            let record = OutcomeRecord {
                lease: lease.clone(),
                attempt: Some(hookd_store::payload_gone_attempt(
                    delivery,
                    &endpoint.url,
                    now,
                )),
                delivery: DeliveryOutcome::Failed,
                endpoint_health: EndpointHealth::Unchanged,
                now,
            };
            self.store.record_outcome(&record).await?;
            return Ok(());
        }
        if let Some(name) = command_target(&endpoint.url) {
            // Commands have their own concurrency limit (the ticket), so they do not use
            // the per-endpoint request slots.
            return self.attempt_command(claimed, name, ticket, now).await;
        }
        let Some(_endpoint_slot) = self.endpoint_slots.try_take(&endpoint.id) else {
            // The endpoint already has its share of requests in flight (a slow or hanging
            // receiver): give the delivery back for a moment and let other endpoints go.
            let later = now + chrono::Duration::milliseconds(ENDPOINT_BUSY_RETRY_MS);
            self.store.release_delivery(lease, later).await?;
            self.wake_at(later);
            return Ok(());
        };
        // The throttle comes after the concurrency bound, so a slot is never taken by a
        // delivery that then cannot go. The slots live in the store, so the rate holds
        // across every node; unthrottled endpoints skip this round trip.
        if let Some(rate) = endpoint.throttle_rate.filter(|rate| *rate > 0) {
            match self
                .store
                .take_send_slot(lease, &endpoint.id, throttle::spacing(rate), now)
                .await?
            {
                SendSlot::Now => {}
                SendSlot::Later(slot) => {
                    // The store gave the delivery back, due at its slot.
                    self.wake_at(slot);
                    return Ok(());
                }
                SendSlot::LeaseLost => {
                    debug!("lease lost before the send slot was taken; another worker owns the delivery");
                    return Ok(());
                }
            }
        }

        let body = message.payload.as_bytes().to_vec();
        let mut headers: Vec<(String, String)> =
            vec![("content-type".into(), "application/json".into())];
        for (name, value) in &endpoint.headers {
            headers.push((name.to_ascii_lowercase(), value.clone()));
        }
        let secrets = endpoint.signing_secrets(now);
        match signature::sign(
            endpoint.signature_scheme,
            endpoint.signature_header.as_deref(),
            &secrets,
            message.id.as_str(),
            now.timestamp(),
            &body,
        ) {
            Ok(signed) => {
                headers.extend(signed);
                if endpoint.forward_source_headers {
                    headers = source::with_source_headers(headers, &message.source_headers);
                }
            }
            Err(error) => {
                // A secret the API accepted can no longer sign: fail loudly in the attempt
                // log instead of sending an unsigned request.
                warn!(error = %error, "endpoint secret cannot sign");
                metrics::record_signing_error();
                let attempt = self.attempt_record(
                    claimed,
                    now,
                    0,
                    format!("endpoint secret cannot sign: {error}"),
                    0,
                    &headers,
                    MessageStatus::Fail,
                );
                let record = OutcomeRecord {
                    lease: lease.clone(),
                    attempt: Some(attempt),
                    delivery: DeliveryOutcome::Failed,
                    endpoint_health: EndpointHealth::Failing(now),
                    now,
                };
                if self.store.record_outcome(&record).await? {
                    metrics::record_outcome(&record.delivery, &record.endpoint_health);
                    if let Some(hooks) = &self.operational {
                        events::after_attempt(hooks, claimed, &record, delivery.n_attempts + 1)
                            .await;
                    }
                }
                return Ok(());
            }
        }

        let sent = self.sender.send(&endpoint.url, &headers, body).await;
        metrics::record_attempt(&sent);
        self.record_sent(claimed, now, sent, &headers).await
    }

    /// Runs a `command://` endpoint's command once its ticket gets a slot, and records
    /// the run as the attempt.
    async fn attempt_command(
        &self,
        claimed: &ClaimedDelivery,
        name: &str,
        ticket: Option<Ticket>,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let sent = match (self.commands.as_ref(), ticket) {
            (Some(commands), Some(mut ticket)) => {
                let timeout = commands.timeout_of(name).unwrap_or(Duration::ZERO);
                // Wait in line only while the lease can still cover the run itself; past
                // that, give the delivery back for a moment rather than let the lease
                // expire under a running command (another worker would run it again).
                let budget = self
                    .config
                    .lease
                    .saturating_sub(timeout)
                    .saturating_sub(Duration::from_secs(5));
                if tokio::time::timeout(budget, ticket.wait()).await.is_err() {
                    let later = Utc::now() + chrono::Duration::seconds(1);
                    debug!("command busy past the lease budget; delivery given back");
                    self.store.release_delivery(&claimed.lease, later).await?;
                    self.wake_at(later);
                    return Ok(());
                }
                let sent = commands.run(name, &claimed.message).await;
                drop(ticket);
                sent
            }
            _ => SendResult {
                outcome: Outcome::NoResponse,
                status_code: 0,
                response: format!(
                    "command {name:?} is not configured on this node (declare it under [commands.{name}] on every node that runs a worker)"
                ),
                duration: Duration::ZERO,
                no_response: Some(crate::sender::NoResponseReason::Other),
            },
        };
        metrics::record_attempt(&sent);
        self.record_sent(claimed, now, sent, &[]).await
    }

    /// Judges what an attempt produced, records it with the next step, and schedules a
    /// wake-up for a retry.
    async fn record_sent(
        &self,
        claimed: &ClaimedDelivery,
        now: Timestamp,
        sent: SendResult,
        headers: &[(String, String)],
    ) -> Result<(), StoreError> {
        let ClaimedDelivery {
            lease,
            delivery,
            endpoint,
            ..
        } = claimed;
        let finished = Utc::now();
        let n_attempts = delivery.n_attempts + 1;
        let step = retry::next_step(
            &self.config.retry,
            n_attempts,
            &sent.outcome,
            finished,
            rand::random::<f64>(),
        );
        let (delivery_outcome, endpoint_health) =
            self.decide(step, endpoint.failing_since, finished);
        let status = if matches!(sent.outcome, Outcome::Delivered { .. }) {
            MessageStatus::Success
        } else {
            MessageStatus::Fail
        };
        if status == MessageStatus::Success {
            debug!(
                status_code = sent.status_code,
                duration_ms = sent.duration.as_millis() as u64,
                "attempt succeeded"
            );
        } else {
            info!(status_code = sent.status_code, duration_ms = sent.duration.as_millis() as u64, outcome = metrics::attempt_outcome(&sent), next = ?delivery_outcome, response = %sent.response.chars().take(200).collect::<String>(), "attempt failed");
        }
        if matches!(endpoint_health, EndpointHealth::Disable) {
            warn!(url = %endpoint.url, "disabling endpoint");
        }
        let attempt = self.attempt_record(
            claimed,
            now,
            sent.status_code,
            sent.response,
            sent.duration.as_millis() as u64,
            headers,
            status,
        );
        let record = OutcomeRecord {
            lease: lease.clone(),
            attempt: Some(attempt),
            delivery: delivery_outcome,
            endpoint_health,
            now: finished,
        };
        if let DeliveryOutcome::RetryAt(at) = &record.delivery {
            self.wake_at(*at);
        }
        let held = self.record_while_leased(&record, now).await?;
        if !held {
            warn!("lease expired before the outcome was recorded; another worker owns the delivery now");
            return Ok(());
        }
        metrics::record_outcome(&record.delivery, &record.endpoint_health);
        if let Some(hooks) = &self.operational {
            events::after_attempt(hooks, claimed, &record, n_attempts).await;
        }
        Ok(())
    }

    /// Records an outcome; while the database is unavailable, tries again with backoff
    /// for as long as the lease (taken before `started`) may still be held, so a short
    /// outage does not make another worker send the attempt again.
    async fn record_while_leased(
        &self,
        record: &OutcomeRecord,
        started: Timestamp,
    ) -> Result<bool, StoreError> {
        let give_up = started
            + chrono::Duration::from_std(self.config.lease).unwrap_or(chrono::Duration::zero());
        let mut backoff = Duration::from_millis(100);
        loop {
            match self.recorder().record(record.clone()).await {
                Err(StoreError::Unavailable { .. })
                    if Utc::now()
                        + chrono::Duration::from_std(backoff)
                            .unwrap_or(chrono::Duration::zero())
                        < give_up =>
                {
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                }
                other => return other,
            }
        }
    }

    fn decide(
        &self,
        step: NextStep,
        failing_since: Option<Timestamp>,
        now: Timestamp,
    ) -> (DeliveryOutcome, EndpointHealth) {
        let failing_too_long =
            retry::should_disable_endpoint(failing_since, now, self.config.disable_after);
        match step {
            // A healthy endpoint stays as it is: no write to clear what is already clear.
            NextStep::Succeeded if failing_since.is_none() => {
                (DeliveryOutcome::Succeeded, EndpointHealth::Unchanged)
            }
            NextStep::Succeeded => (DeliveryOutcome::Succeeded, EndpointHealth::Healthy),
            NextStep::DisableEndpoint => (DeliveryOutcome::Failed, EndpointHealth::Disable),
            _ if failing_too_long => (DeliveryOutcome::Failed, EndpointHealth::Disable),
            NextStep::RetryAt(at) => (DeliveryOutcome::RetryAt(at), EndpointHealth::Failing(now)),
            NextStep::Exhausted => (DeliveryOutcome::Failed, EndpointHealth::Failing(now)),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn attempt_record(
        &self,
        claimed: &ClaimedDelivery,
        started: Timestamp,
        status_code: u16,
        response: String,
        duration_ms: u64,
        headers: &[(String, String)],
        status: MessageStatus,
    ) -> Attempt {
        let request_headers = headers
            .iter()
            .map(|(name, value)| {
                let shown = if SENSITIVE_HEADERS.contains(&name.as_str()) {
                    "[redacted]".to_owned()
                } else {
                    value.clone()
                };
                (name.clone(), shown)
            })
            .collect();
        Attempt {
            id: AttemptId::new(started.timestamp_millis().max(0) as u64, rand::random()),
            app_id: claimed.message.app_id.clone(),
            msg_id: claimed.message.id.clone(),
            endpoint_id: claimed.endpoint.id.clone(),
            url: claimed.endpoint.url.clone(),
            status,
            response_status_code: status_code,
            response,
            response_duration_ms: duration_ms,
            trigger: claimed.delivery.trigger,
            request_headers,
            created_at: started,
        }
    }
}
