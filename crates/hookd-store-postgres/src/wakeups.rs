//! Wake-ups across nodes: the store's work notifier, fed by PostgreSQL `LISTEN/NOTIFY`
//! on the channel `hookd_work`, and the announcements of committed messages (live
//! streams) on the channel `hookd_messages`, whose payload is the application id, and of
//! captured bin requests on `hookd_bins`, whose payload is the bin id.
//!
//! One background task owns a dedicated connection (outside the pool). It `LISTEN`s, and
//! wakes the notifier on every notification another session sends; it also sends this
//! node's own announcements (`NOTIFY hookd_work`) after commits that created due work.
//! If the connection drops it says so in the log and reconnects with backoff; polling in
//! the workers covers the gap.
//!
//! **Invariants:**
//! - A commit that creates due work wakes this node's notifier at once, and announces
//!   itself to the other nodes after the commit.
//! - Announcements are sent outside the writing transaction, and coalesced: while one
//!   `NOTIFY` is in flight, any number of commits add up to one more. A `NOTIFY` inside a
//!   transaction makes PostgreSQL serialise every notifying commit of the whole cluster
//!   (it takes a global lock until the commit is flushed), which throttles publishing to
//!   one fsync at a time; sent afterwards, it costs publishers nothing. The price: a node
//!   that dies between its commit and its announcement leaves the others to find that
//!   work by polling.
//! - A committed message is announced on this node at once, and to the others after the
//!   commit (coalesced the same way: one `NOTIFY` per application per round).
//! - A captured bin request is announced the same way as a committed message.
//! - The task ends when the store is dropped.

use std::collections::BTreeSet;
use std::future::poll_fn;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hookd_core::ids::{ApplicationId, BinId};
use hookd_store::{StoreError, StoreResult};
use tokio::sync::{broadcast, Notify};
use tokio::task::JoinHandle;
use tokio_postgres::tls::NoTlsStream;
use tokio_postgres::{AsyncMessage, Config, Connection, NoTls, Socket};

use crate::error::{self, unavailable, MachineryError};

/// The one channel hookd uses.
pub(crate) const CHANNEL: &str = "hookd_work";
/// The channel of committed messages; the payload is the application id.
pub(crate) const MESSAGES_CHANNEL: &str = "hookd_messages";
/// The channel of captured bin requests; the payload is the bin id.
pub(crate) const BINS_CHANNEL: &str = "hookd_bins";
/// Announcements of committed messages a slow listener may fall behind by before it
/// hears `Lagged`.
const MESSAGE_COMMITS_CAPACITY: usize = 4096;

/// How long connecting and subscribing may take before it counts as a failure.
const CONNECT_LIMIT: Duration = Duration::from_secs(15);
/// How often the idle connection is checked (a dead peer may otherwise go unnoticed for
/// as long as TCP keepalive takes).
const HEALTH_INTERVAL: Duration = Duration::from_secs(30);
const HEALTH_LIMIT: Duration = Duration::from_secs(10);
const FIRST_RETRY: Duration = Duration::from_millis(100);
const LAST_RETRY: Duration = Duration::from_secs(30);

/// The notifier, and the task that keeps it connected to the other nodes.
pub(crate) struct Wakeups {
    notify: Arc<Notify>,
    announce: Arc<Announcements>,
    message_commits: broadcast::Sender<ApplicationId>,
    bin_captures: broadcast::Sender<BinId>,
    task: JoinHandle<()>,
}

/// What this node still has to tell the others, and the permit that wakes the sender.
#[derive(Default)]
struct Announcements {
    wake: Notify,
    work: AtomicBool,
    applications: Mutex<BTreeSet<String>>,
    bins: Mutex<BTreeSet<String>>,
}

impl Announcements {
    fn take_applications(&self) -> Vec<String> {
        take(&self.applications)
    }

    fn take_bins(&self) -> Vec<String> {
        take(&self.bins)
    }
}

fn take(ids: &Mutex<BTreeSet<String>>) -> Vec<String> {
    let mut ids = ids.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    std::mem::take(&mut *ids).into_iter().collect()
}

impl Wakeups {
    /// Subscribes on a connection of its own (failing if it cannot), then hands the
    /// connection to a background task that keeps it.
    pub(crate) async fn start(config: Config, server: Arc<str>) -> StoreResult<Wakeups> {
        let notify = Arc::new(Notify::new());
        let announce = Arc::new(Announcements::default());
        let message_commits = broadcast::channel(MESSAGE_COMMITS_CAPACITY).0;
        let bin_captures = broadcast::channel(MESSAGE_COMMITS_CAPACITY).0;
        let receivers = Receivers {
            work: Arc::clone(&notify),
            message_commits: message_commits.clone(),
            bin_captures: bin_captures.clone(),
        };
        let listener = Listener::connect(&config, &server, &receivers).await?;
        let task = tokio::spawn(keep_listening(
            listener,
            config,
            server,
            receivers,
            Arc::clone(&announce),
        ));
        Ok(Wakeups {
            notify,
            announce,
            message_commits,
            bin_captures,
            task,
        })
    }

    /// The notifier workers wait on.
    pub(crate) fn notifier(&self) -> Arc<Notify> {
        Arc::clone(&self.notify)
    }

    /// Called after a commit that made work due: wakes this node now, the others soon.
    pub(crate) fn work_committed(&self) {
        wake(&self.notify);
        self.announce.work.store(true, Ordering::Release);
        // A stored permit, not a queue: announcements requested while one is being sent
        // collapse into one.
        self.announce.wake.notify_one();
    }

    /// Called after a message of `app_id` committed: tells this node's streams now, the
    /// other nodes' soon.
    pub(crate) fn message_committed(&self, app_id: &ApplicationId) {
        // Nobody listening is fine: streams start from the store.
        let _ = self.message_commits.send(app_id.clone());
        self.announce
            .applications
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(app_id.to_string());
        self.announce.wake.notify_one();
    }

    /// A receiver of committed messages' application ids.
    pub(crate) fn message_commits(&self) -> broadcast::Receiver<ApplicationId> {
        self.message_commits.subscribe()
    }

    /// Called after a request to `bin_id` was captured: tells this node's bin streams
    /// now, the other nodes' soon.
    pub(crate) fn bin_captured(&self, bin_id: &BinId) {
        let _ = self.bin_captures.send(bin_id.clone());
        self.announce
            .bins
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .insert(bin_id.to_string());
        self.announce.wake.notify_one();
    }

    /// A receiver of captured requests' bin ids.
    pub(crate) fn bin_captures(&self) -> broadcast::Receiver<BinId> {
        self.bin_captures.subscribe()
    }
}

impl Drop for Wakeups {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Wakes every worker parked now, and leaves a permit for one that is about to park (so
/// a wake-up between its last claim and its wait is not lost).
fn wake(notify: &Notify) {
    notify.notify_waiters();
    notify.notify_one();
}

/// Where notifications from other nodes go.
#[derive(Clone)]
struct Receivers {
    work: Arc<Notify>,
    message_commits: broadcast::Sender<ApplicationId>,
    bin_captures: broadcast::Sender<BinId>,
}

/// A subscribed connection: the client to send on, and the task polling the connection,
/// which wakes the notifier on each notification and ends with the connection.
struct Listener {
    client: tokio_postgres::Client,
    driver: JoinHandle<Option<tokio_postgres::Error>>,
}

impl Listener {
    async fn connect(
        config: &Config,
        server: &str,
        receivers: &Receivers,
    ) -> StoreResult<Listener> {
        let connecting = async {
            let (client, connection) = config
                .connect(NoTls)
                .await
                .map_err(|error| error::map(server, error))?;
            let own_pid = Arc::new(AtomicI32::new(0));
            let driver = tokio::spawn(drive(connection, receivers.clone(), Arc::clone(&own_pid)));
            let listener = Listener { client, driver };
            // Our own announcements come back to us; this node already woke for them.
            let row = listener
                .client
                .query_one("SELECT pg_backend_pid()", &[])
                .await
                .map_err(|error| error::map(server, error))?;
            let pid: i32 = row.try_get(0).map_err(StoreError::internal)?;
            own_pid.store(pid, Ordering::Relaxed);
            listener
                .client
                .batch_execute(&format!(
                    "LISTEN {CHANNEL}; LISTEN {MESSAGES_CHANNEL}; LISTEN {BINS_CHANNEL}"
                ))
                .await
                .map_err(|error| error::map(server, error))?;
            Ok(listener)
        };
        match tokio::time::timeout(CONNECT_LIMIT, connecting).await {
            Ok(result) => result,
            Err(_) => Err(unavailable(MachineryError::ListenerTimeout)),
        }
    }

    /// Serves until the connection fails; returns why.
    async fn serve(&mut self, server: &str, announce: &Announcements) -> StoreError {
        let mut health = tokio::time::interval(HEALTH_INTERVAL);
        health.tick().await;
        loop {
            tokio::select! {
                ended = &mut self.driver => {
                    return match ended {
                        Ok(Some(error)) => error::map(server, error),
                        Ok(None) => unavailable_text(server, "the server closed the connection"),
                        Err(join_error) => StoreError::internal(join_error),
                    };
                }
                () = announce.wake.notified() => {
                    if announce.work.swap(false, Ordering::AcqRel) {
                        if let Err(error) = self.client.batch_execute(&format!("NOTIFY {CHANNEL}")).await {
                            return error::map(server, error);
                        }
                    }
                    for (channel, ids) in [
                        (MESSAGES_CHANNEL, announce.take_applications()),
                        (BINS_CHANNEL, announce.take_bins()),
                    ] {
                        if ids.is_empty() {
                            continue;
                        }
                        let sent = self
                            .client
                            .execute(
                                "SELECT pg_notify($1, id) FROM unnest($2::text[]) AS id",
                                &[&channel, &ids],
                            )
                            .await;
                        if let Err(error) = sent {
                            return error::map(server, error);
                        }
                    }
                }
                _ = health.tick() => {
                    match tokio::time::timeout(HEALTH_LIMIT, self.client.simple_query("")).await {
                        Ok(Ok(_)) => {}
                        Ok(Err(error)) => return error::map(server, error),
                        Err(_) => return unavailable(MachineryError::ListenerTimeout),
                    }
                }
            }
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

/// Polls the connection: notifications from other sessions wake the notifier; returns the
/// connection's error when it fails, `None` when it closes.
async fn drive(
    mut connection: Connection<Socket, NoTlsStream>,
    receivers: Receivers,
    own_pid: Arc<AtomicI32>,
) -> Option<tokio_postgres::Error> {
    loop {
        match poll_fn(|cx| connection.poll_message(cx)).await {
            Some(Ok(AsyncMessage::Notification(notification))) => {
                if notification.process_id() == own_pid.load(Ordering::Relaxed) {
                    continue;
                }
                if notification.channel() == MESSAGES_CHANNEL {
                    if let Some(app_id) = ApplicationId::parse(notification.payload()) {
                        let _ = receivers.message_commits.send(app_id);
                    }
                } else if notification.channel() == BINS_CHANNEL {
                    if let Some(bin_id) = BinId::parse(notification.payload()) {
                        let _ = receivers.bin_captures.send(bin_id);
                    }
                } else {
                    wake(&receivers.work);
                }
            }
            Some(Ok(AsyncMessage::Notice(notice))) => {
                tracing::debug!(notice = %notice, "PostgreSQL notice on the LISTEN connection");
            }
            Some(Ok(_)) => {}
            Some(Err(error)) => return Some(error),
            None => return None,
        }
    }
}

/// Keeps a listener: serves it, and when it fails, reconnects with exponential backoff.
async fn keep_listening(
    mut listener: Listener,
    config: Config,
    server: Arc<str>,
    receivers: Receivers,
    announce: Arc<Announcements>,
) {
    loop {
        let lost = listener.serve(&server, &announce).await;
        drop(listener);
        tracing::warn!(
            server = %server,
            error = %lost,
            "lost the LISTEN connection to PostgreSQL; reconnecting (until then, work \
             published by other nodes is found by polling)"
        );
        let mut delay = FIRST_RETRY;
        listener = loop {
            // Jitter, so that nodes that lost the server together do not return in step.
            tokio::time::sleep(delay.mul_f64(1.0 + rand::random::<f64>() / 4.0)).await;
            match Listener::connect(&config, &server, &receivers).await {
                Ok(listener) => break listener,
                Err(error) => {
                    delay = (delay * 2).min(LAST_RETRY);
                    tracing::warn!(
                        server = %server,
                        error = %error,
                        retry_in_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                        "could not re-establish the LISTEN connection to PostgreSQL"
                    );
                }
            }
        };
        tracing::info!(server = %server, "LISTEN connection to PostgreSQL re-established");
        // Notifications sent while nobody listened are gone: look for work once. Streams
        // find the messages they missed by their own polling.
        wake(&receivers.work);
    }
}

fn unavailable_text(server: &str, why: &str) -> StoreError {
    StoreError::Unavailable {
        detail: format!("PostgreSQL at {server}: {why}"),
        source: None,
    }
}
