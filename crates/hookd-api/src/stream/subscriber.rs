//! [`Subscriber`]: one client's view of a stream (an application's messages or a bin's
//! captured requests), shared by SSE and WebSocket: replay from the store after the
//! client's cursor, then live items from the hub, with heartbeats and a reason when the
//! server ends it.
//!
//! **Invariant (no gap, no duplicate at the seam):** the subscriber replays from the
//! store until a page comes back short, subscribes to the hub, and replays once more
//! after the last cursor it passed; from then on it skips every hub message at or below
//! that cursor. The hub broadcasts everything after the cursor it handed out with the
//! receiver, and the store returns every message after any cursor, so each message after
//! the client's cursor is passed exactly once, in cursor order.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use hookd_store::{Store, StoreResult, StreamCursor};
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::time::{Instant, Interval, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use super::frame::{Closing, StreamItem};
use super::hub::{StreamHubs, Subscription, Topic, PAGE};

/// Which messages a client asked for.
#[derive(Debug, Clone, Default)]
pub(crate) struct StreamFilter {
    pub(crate) event_types: Option<Vec<String>>,
    pub(crate) channels: Option<Vec<String>>,
}

impl StreamFilter {
    pub(crate) fn accepts(&self, item: &StreamItem) -> bool {
        let type_ok = self
            .event_types
            .as_ref()
            .is_none_or(|types| types.contains(&item.event_type));
        let channel_ok = self.channels.as_ref().is_none_or(|channels| {
            channels
                .iter()
                .any(|channel| item.channels.contains(channel))
        });
        type_ok && channel_ok
    }
}

/// What to send next.
pub(crate) enum StreamEvent {
    Message(Arc<StreamItem>),
    /// The replay is over; live messages follow. The cursor is where the client stands.
    Ready(StreamCursor),
    Heartbeat,
    /// Send the reason, then end the stream.
    Closing(Closing, Option<StreamCursor>),
    End,
}

enum Phase {
    Replay,
    Live,
    Done,
}

pub(crate) struct Subscriber {
    store: Arc<dyn Store>,
    hubs: Arc<StreamHubs>,
    topic: Topic,
    filter: StreamFilter,
    /// Every message at or below this has been sent or filtered out.
    passed: Option<StreamCursor>,
    /// The last cursor the client was given (message or ready), to resume from.
    given: Option<StreamCursor>,
    pending: VecDeque<Arc<StreamItem>>,
    subscription: Option<Subscription>,
    /// The replay has read everything up to the subscription's cursor.
    caught_up: bool,
    /// The receiver lagged while polled without waiting; the next `next` cuts off.
    lagged: bool,
    phase: Phase,
    heartbeat: Interval,
    shutdown: CancellationToken,
}

impl Subscriber {
    /// A subscriber that starts after `after`, or with the next live message when
    /// `None`.
    pub(crate) fn new(
        state: &crate::AppState,
        topic: Topic,
        filter: StreamFilter,
        after: Option<StreamCursor>,
        heartbeat: Duration,
    ) -> Self {
        let mut heartbeat = tokio::time::interval_at(Instant::now() + heartbeat, heartbeat);
        heartbeat.set_missed_tick_behavior(MissedTickBehavior::Delay);
        Self {
            store: Arc::clone(&state.store),
            hubs: Arc::clone(&state.streams),
            topic,
            filter,
            passed: after,
            given: after,
            pending: VecDeque::new(),
            subscription: None,
            caught_up: false,
            lagged: false,
            phase: Phase::Replay,
            heartbeat,
            shutdown: state.shutdown.clone(),
        }
    }

    /// The next thing to send. Cancel-safe: state changes only after each await.
    pub(crate) async fn next(&mut self) -> StreamEvent {
        loop {
            if let Some(item) = self.pending.pop_front() {
                self.given = Some(item.cursor);
                return StreamEvent::Message(item);
            }
            match self.phase {
                Phase::Done => return StreamEvent::End,
                Phase::Replay => {
                    if self.shutdown.is_cancelled() {
                        return self.close(Closing::ShuttingDown);
                    }
                    match self.replay_step().await {
                        Ok(Some(cursor)) => {
                            self.phase = Phase::Live;
                            self.given = Some(cursor);
                            return StreamEvent::Ready(cursor);
                        }
                        Ok(None) => {}
                        Err(error) => {
                            tracing::warn!(topic = %self.topic, %error, "live stream replay failed");
                            return self.close(Closing::Unavailable);
                        }
                    }
                }
                Phase::Live => {
                    if self.lagged {
                        return self.close(Closing::SlowClient);
                    }
                    let Some(subscription) = self.subscription.as_mut() else {
                        return self.close(Closing::Unavailable);
                    };
                    tokio::select! {
                        biased;
                        () = self.shutdown.cancelled() => return self.close(Closing::ShuttingDown),
                        received = subscription.receiver.recv() => match received {
                            Ok(item) => {
                                if self.passed.is_some_and(|passed| item.cursor <= passed) {
                                    continue;
                                }
                                self.passed = Some(item.cursor);
                                if self.filter.accepts(&item) {
                                    self.heartbeat.reset();
                                    self.given = Some(item.cursor);
                                    return StreamEvent::Message(item);
                                }
                            }
                            Err(RecvError::Lagged(_)) => return self.close(Closing::SlowClient),
                            Err(RecvError::Closed) => return self.close(Closing::ShuttingDown),
                        },
                        _ = self.heartbeat.tick() => return StreamEvent::Heartbeat,
                    }
                }
            }
        }
    }

    /// A message that can be sent right now without waiting (replayed, or live and
    /// already received), so that a client that is behind gets several in one write.
    /// `None` when the next thing to send is not such a message.
    pub(crate) fn try_next_message(&mut self) -> Option<Arc<StreamItem>> {
        if let Some(item) = self.pending.pop_front() {
            self.given = Some(item.cursor);
            return Some(item);
        }
        if !matches!(self.phase, Phase::Live) || self.lagged {
            return None;
        }
        let subscription = self.subscription.as_mut()?;
        loop {
            match subscription.receiver.try_recv() {
                Ok(item) => {
                    if self.passed.is_some_and(|passed| item.cursor <= passed) {
                        continue;
                    }
                    self.passed = Some(item.cursor);
                    if self.filter.accepts(&item) {
                        self.given = Some(item.cursor);
                        return Some(item);
                    }
                }
                // N.B.: `try_recv` reports a lag once and then skips ahead, so it is
                // remembered here; the next `next` cuts the client off.
                Err(TryRecvError::Lagged(_)) => {
                    self.lagged = true;
                    return None;
                }
                Err(TryRecvError::Empty | TryRecvError::Closed) => return None,
            }
        }
    }

    /// One step of the replay: a page from the store, or the subscription. Returns the
    /// cursor the client stands at once the replay is over (and its messages are sent).
    async fn replay_step(&mut self) -> StoreResult<Option<StreamCursor>> {
        if let (Some(after), false) = (self.passed, self.caught_up) {
            let batch = self.topic.read(self.store.as_ref(), after, PAGE).await?;
            let full = batch.items.len() == PAGE;
            for item in batch.items {
                self.passed = Some(item.cursor);
                let item = Arc::new(item);
                if self.filter.accepts(&item) {
                    self.pending.push_back(item);
                }
            }
            if full {
                return Ok(None);
            }
            // A short page read after subscribing covers everything up to the cursor the
            // hub continues from.
            self.caught_up = self.subscription.is_some();
        }
        if self.subscription.is_none() {
            let subscription = self.hubs.subscribe(&self.topic).await?;
            if self.passed.is_none() {
                self.passed = Some(subscription.cursor);
                self.caught_up = true;
            }
            self.subscription = Some(subscription);
            if !self.caught_up {
                return Ok(None);
            }
        }
        if !self.pending.is_empty() {
            return Ok(None);
        }
        Ok(self.passed)
    }

    fn close(&mut self, closing: Closing) -> StreamEvent {
        self.phase = Phase::Done;
        self.subscription = None;
        StreamEvent::Closing(closing, self.given)
    }
}
