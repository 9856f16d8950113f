//! [`StreamHubs`]: one reader per streamed application on this node, fanning each
//! committed message out to every subscriber of that application.
//!
//! A hub exists while its application has subscribers. It reads the store after its
//! cursor whenever the store announces a commit for the application (on any node), when
//! a read said messages are held back, and every `POLL_INTERVAL` in case an announcement
//! was lost; it renders each message once and broadcasts it. Subscribers hold a
//! `broadcast::Receiver`, so a message costs one allocation however many subscribers
//! read it, and one that falls `buffer` messages behind hears `Lagged`.
//!
//! **Invariants:** a hub broadcasts its application's messages in cursor order, each
//! once, with no gap after the cursor it started from. `subscribe` returns the receiver
//! together with the cursor of the last message broadcast before it was created (both
//! under one lock), so a subscriber gets every message after that cursor and nothing at
//! or before it from the hub.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use hookd_core::ids::ApplicationId;
use hookd_store::{Store, StoreResult, StreamCursor};
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

type Registry = Arc<Mutex<HashMap<ApplicationId, Weak<AppHub>>>>;

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

    /// Subscribes to the application's messages committed after the returned cursor.
    ///
    /// # Errors
    /// When the store cannot tell where the stream stands (the first subscriber of an
    /// application reads its head).
    pub(crate) async fn subscribe(&self, app_id: &ApplicationId) -> StoreResult<Subscription> {
        self.dispatcher
            .get_or_init(|| start_dispatcher(&self.store, Arc::clone(&self.hubs)));
        let hub = self.hub_for(app_id);
        let shared = &hub.shared;
        shared
            .started
            .get_or_try_init(|| async {
                let head = self.store.stream_head(app_id).await?;
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

    /// The application's hub, started if it has none.
    fn hub_for(&self, app_id: &ApplicationId) -> Arc<AppHub> {
        let mut hubs = self
            .hubs
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(hub) = hubs.get(app_id).and_then(Weak::upgrade) {
            return hub;
        }
        // Forget hubs that ended, so the map does not grow with every application ever
        // streamed.
        hubs.retain(|_, hub| hub.strong_count() > 0);
        let shared = Arc::new(HubShared {
            app_id: app_id.clone(),
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
        hubs.insert(app_id.clone(), Arc::downgrade(&hub));
        hub
    }
}

/// One application's hub; its reading task ends when the last subscriber drops it.
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
    app_id: ApplicationId,
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
                tracing::warn!(app_id = %shared.app_id, %error, "live stream cannot read messages; retrying");
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
        let batch = store.stream_messages(&shared.app_id, after, PAGE).await?;
        let full = batch.messages.len() == PAGE;
        let items: Vec<_> = batch
            .messages
            .into_iter()
            .map(|streamed| Arc::new(StreamItem::render(streamed)))
            .collect();
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

/// Wakes the hub of each application the store announces a commit for (every hub when
/// announcements were missed).
fn start_dispatcher(store: &Arc<dyn Store>, hubs: Registry) -> AbortOnDrop {
    let mut commits = store.message_commits();
    let task = tokio::spawn(async move {
        loop {
            let woken: Vec<Arc<AppHub>> = match commits.recv().await {
                Ok(app_id) => {
                    let hubs = hubs.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
                    hubs.get(&app_id)
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
