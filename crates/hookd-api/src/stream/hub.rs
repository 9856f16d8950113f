//! [`StreamHubs`]: one reader per streamed topic (an application's messages, or an
//! inspector bin's captured requests) on this node, fanning each new item out to every
//! subscriber of that topic.
//!
//! A hub exists while its topic has subscribers. It reads the store after its cursor
//! whenever the store announces a commit for the topic (on any node), when
//! a read said messages are held back, and every `POLL_INTERVAL` in case an announcement
//! was lost; it renders each message once and broadcasts it. Subscribers hold a
//! `broadcast::Receiver`, so a message costs one allocation however many subscribers
//! read it, and one that falls `buffer` messages behind hears `Lagged`.
//!
//! **Invariants:** a hub broadcasts its topic's items in cursor order, each
//! once, with no gap after the cursor it started from. `subscribe` returns the receiver
//! together with the cursor of the last message broadcast before it was created (both
//! under one lock), so a subscriber gets every message after that cursor and nothing at
//! or before it from the hub.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use hookd_core::ids::{ApplicationId, BinId};
use hookd_store::{bin_cursor, Store, StoreResult, StreamCursor};
use tokio::sync::{broadcast, Notify, OnceCell};
use tokio::task::AbortHandle;

use super::frame::StreamItem;

/// Messages read per store call.
pub(crate) const PAGE: usize = 256;
/// Longest a hub goes without reading, whatever it heard.
const POLL_INTERVAL: Duration = Duration::from_secs(2);
/// Wait before reading again after the store held messages back.
const HELD_BACK_DELAY: Duration = Duration::from_millis(10);
/// Wait before reading again after a failed read.
const ERROR_DELAY: Duration = Duration::from_secs(1);

type Registry = Arc<Mutex<HashMap<Topic, Weak<AppHub>>>>;

/// What a stream follows.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum Topic {
    /// An application's committed messages.
    Application(ApplicationId),
    /// An inspector bin's captured requests.
    Bin(BinId),
}

impl std::fmt::Display for Topic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Application(app_id) => app_id.fmt(f),
            Self::Bin(bin_id) => bin_id.fmt(f),
        }
    }
}

/// Items of a topic read from the store, rendered, oldest first.
pub(crate) struct TopicBatch {
    pub(crate) items: Vec<StreamItem>,
    /// `false` when the store held committed items back (see `StreamBatch::settled`).
    pub(crate) settled: bool,
}

impl Topic {
    /// Where the topic's stream stands now: the cursor of its newest item.
    pub(crate) async fn head(&self, store: &dyn Store) -> StoreResult<StreamCursor> {
        match self {
            Self::Application(app_id) => store.stream_head(app_id).await,
            Self::Bin(bin_id) => Ok(bin_cursor(store.bin(bin_id).await?.n_requests)),
        }
    }

    /// Up to `limit` items committed after `after`, rendered.
    pub(crate) async fn read(
        &self,
        store: &dyn Store,
        after: StreamCursor,
        limit: usize,
    ) -> StoreResult<TopicBatch> {
        match self {
            Self::Application(app_id) => {
                let batch = store.stream_messages(app_id, after, limit).await?;
                Ok(TopicBatch {
                    items: batch.messages.into_iter().map(StreamItem::render).collect(),
                    settled: batch.settled,
                })
            }
            Self::Bin(bin_id) => {
                let requests = store.stream_bin_requests(bin_id, after, limit).await?;
                Ok(TopicBatch {
                    items: requests
                        .into_iter()
                        .map(StreamItem::render_bin_request)
                        .collect(),
                    settled: true,
                })
            }
        }
    }
}

/// Every hub of this node.
pub(crate) struct StreamHubs {
    store: Arc<dyn Store>,
    buffer: usize,
    hubs: Registry,
    dispatcher: OnceLock<AbortOnDrop>,
}

/// A live subscription: the receiver, the cursor it starts after, and the hub it keeps
/// alive.
pub(crate) struct Subscription {
    pub(crate) receiver: broadcast::Receiver<Arc<StreamItem>>,
    pub(crate) cursor: StreamCursor,
    _hub: Arc<AppHub>,
}

impl StreamHubs {
    pub(crate) fn new(store: Arc<dyn Store>, buffer: usize) -> Self {
        Self {
            store,
            buffer: buffer.max(1),
            hubs: Arc::default(),
            dispatcher: OnceLock::new(),
        }
    }

    /// Subscribes to the topic's items committed after the returned cursor.
    ///
    /// # Errors
    /// When the store cannot tell where the stream stands (the first subscriber of a
    /// topic reads its head).
    pub(crate) async fn subscribe(&self, topic: &Topic) -> StoreResult<Subscription> {
        self.dispatcher
            .get_or_init(|| start_dispatcher(&self.store, Arc::clone(&self.hubs)));
        let hub = self.hub_for(topic);
        let shared = &hub.shared;
        shared
            .started
            .get_or_try_init(|| async {
                let head = topic.head(self.store.as_ref()).await?;
                shared.lock().cursor = head;
                // Messages committed while the head was read were announced before the
                // hub listened: read once now.
                shared.wake.notify_one();
                StoreResult::Ok(())
            })
            .await?;
        let live = shared.lock();
        Ok(Subscription {
            receiver: live.sender.subscribe(),
            cursor: live.cursor,
            _hub: Arc::clone(&hub),
        })
    }

    /// The topic's hub, started if it has none.
    fn hub_for(&self, topic: &Topic) -> Arc<AppHub> {
        let mut hubs = self
            .hubs
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(hub) = hubs.get(topic).and_then(Weak::upgrade) {
            return hub;
        }
        // Forget hubs that ended, so the map does not grow with every application ever
        // streamed.
        hubs.retain(|_, hub| hub.strong_count() > 0);
        let shared = Arc::new(HubShared {
            topic: topic.clone(),
            started: OnceCell::new(),
            live: Mutex::new(Live {
                cursor: StreamCursor::START,
                sender: broadcast::channel(self.buffer).0,
            }),
            wake: Notify::new(),
        });
        let task = tokio::spawn(run_hub(Arc::clone(&shared), Arc::clone(&self.store)));
        let hub = Arc::new(AppHub {
            shared,
            task: task.abort_handle(),
        });
        hubs.insert(topic.clone(), Arc::downgrade(&hub));
        hub
    }
}

/// One topic's hub; its reading task ends when the last subscriber drops it.
struct AppHub {
    shared: Arc<HubShared>,
    task: AbortHandle,
}

impl Drop for AppHub {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct HubShared {
    topic: Topic,
    /// Set once the head has been read (the cursor is meaningful from then on).
    started: OnceCell<()>,
    live: Mutex<Live>,
    wake: Notify,
}

/// The last cursor broadcast and the channel, changed together under one lock.
struct Live {
    cursor: StreamCursor,
    sender: broadcast::Sender<Arc<StreamItem>>,
}

impl HubShared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Live> {
        self.live
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

async fn run_hub(shared: Arc<HubShared>, store: Arc<dyn Store>) {
    let mut delay = POLL_INTERVAL;
    loop {
        tokio::select! {
            () = shared.wake.notified() => {}
            () = tokio::time::sleep(delay) => {}
        }
        if shared.started.get().is_none() {
            delay = POLL_INTERVAL;
            continue;
        }
        delay = match read_and_broadcast(&shared, store.as_ref()).await {
            Ok(true) => POLL_INTERVAL,
            Ok(false) => HELD_BACK_DELAY,
            Err(error) => {
                tracing::warn!(topic = %shared.topic, %error, "live stream cannot read the store; retrying");
                ERROR_DELAY
            }
        };
    }
}

/// Reads everything after the hub's cursor and broadcasts it; returns whether the store
/// said nothing was held back.
async fn read_and_broadcast(shared: &HubShared, store: &dyn Store) -> StoreResult<bool> {
    loop {
        let after = shared.lock().cursor;
        let batch = shared.topic.read(store, after, PAGE).await?;
        let full = batch.items.len() == PAGE;
        let items: Vec<_> = batch.items.into_iter().map(Arc::new).collect();
        {
            let mut live = shared.lock();
            for item in items {
                live.cursor = item.cursor;
                // No receiver is fine: the last subscriber just left.
                let _ = live.sender.send(item);
            }
        }
        if !full {
            return Ok(batch.settled);
        }
    }
}

/// Aborts a task when dropped.
struct AbortOnDrop(AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Wakes the hub of each application (or bin) the store announces a commit for (every
/// hub when announcements were missed).
fn start_dispatcher(store: &Arc<dyn Store>, hubs: Registry) -> AbortOnDrop {
    let mut commits = store.message_commits();
    let mut captures = store.bin_captures();
    let task = tokio::spawn(async move {
        loop {
            let announced = tokio::select! {
                received = commits.recv() => received.map(Topic::Application),
                received = captures.recv() => received.map(Topic::Bin),
            };
            let woken: Vec<Arc<AppHub>> = match announced {
                Ok(topic) => {
                    let hubs = hubs.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                    hubs.get(&topic)
                        .and_then(Weak::upgrade)
                        .into_iter()
                        .collect()
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    let hubs = hubs.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                    hubs.values().filter_map(Weak::upgrade).collect()
                }
                Err(broadcast::error::RecvError::Closed) => return,
            };
            // N.B.: dropped outside the registry lock, because dropping the last handle
            // of a hub runs its Drop.
            for hub in woken {
                hub.shared.wake.notify_one();
            }
        }
    });
    AbortOnDrop(task.abort_handle())
}
