//! Plain values that cross the store boundary: pages, filters, claims and outcomes.

use hookd_core::ids::{DeliveryId, EndpointId, MessageId};
use hookd_core::model::{Attempt, Delivery, Endpoint, Message, MessageStatus, TriggerType};
use hookd_core::Timestamp;

/// Direction of a listing, by id (ids sort by creation time).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Ordering {
    #[default]
    Ascending,
    Descending,
}

/// Which page of a listing: at most `limit` items after the `iterator` cursor.
///
/// An iterator is the id of the last item of the previous page. An iterator that starts
/// with `-` walks back: it yields the items just before that id (what `prevIterator`
/// points at), still returned in `order`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: usize,
    pub iterator: Option<String>,
    pub order: Ordering,
}

/// Where a page starts, as its iterator says: after a key, or (walking back) before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor<'a> {
    pub after: Option<&'a str>,
    pub backwards: bool,
}

impl PageRequest {
    /// The cursor the iterator names (`-` in front walks back).
    pub fn cursor(&self) -> Cursor<'_> {
        match self.iterator.as_deref() {
            None | Some("") => Cursor {
                after: None,
                backwards: false,
            },
            Some(iterator) => match iterator.strip_prefix('-') {
                Some(before) => Cursor {
                    after: Some(before),
                    backwards: true,
                },
                None => Cursor {
                    after: Some(iterator),
                    backwards: false,
                },
            },
        }
    }

    /// Whether the page query walks its key in ascending order: the listing's order,
    /// flipped when walking back.
    pub fn walks_ascending(&self) -> bool {
        matches!(
            (self.order, self.cursor().backwards),
            (Ordering::Ascending, false) | (Ordering::Descending, true)
        )
    }

    /// Rows a page query fetches: one more than the page holds, to learn whether
    /// another page follows.
    pub fn fetch_limit(&self) -> i64 {
        i64::try_from(self.limit)
            .unwrap_or(i64::MAX - 1)
            .saturating_add(1)
    }
}

/// One page of a listing, in the Svix shape.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Cursor for the next page (the last item's id), `None` when the page is empty.
    pub iterator: Option<String>,
    /// Cursor for the previous page (`-` + the first item's id), `None` when empty.
    pub prev_iterator: Option<String>,
    /// No items after this page. For a page fetched with a `-` (previous) iterator,
    /// no items before it: `done` always speaks of the direction walked.
    pub done: bool,
}

/// A half-open time window; `None` bounds are open.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TimeWindow {
    pub since: Option<Timestamp>,
    pub until: Option<Timestamp>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MessageFilter {
    pub event_types: Option<Vec<String>>,
    pub channel: Option<String>,
    /// Only messages carrying this tag.
    pub tag: Option<String>,
    /// Only messages created strictly before / after these times.
    pub before: Option<Timestamp>,
    pub after: Option<Timestamp>,
}

/// What `list_endpoint_messages` keeps: the messages `message` keeps whose delivery to
/// the endpoint has `status`, when given.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EndpointMessageFilter {
    pub message: MessageFilter,
    pub status: Option<MessageStatus>,
}

/// What one `replay_missing` call did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplayBatch {
    /// Deliveries created.
    pub replayed: u64,
    /// The last message looked at, where the next call starts; `None` once every
    /// message in the window was looked at.
    pub next: Option<MessageId>,
}

/// One endpoint a message was sent to, with the delivery's state.
#[derive(Debug, Clone, PartialEq)]
pub struct Destination {
    pub delivery: Delivery,
    pub endpoint: Endpoint,
}

/// One message sent to an endpoint, with the delivery's state.
#[derive(Debug, Clone, PartialEq)]
pub struct EndpointMessage {
    pub delivery: Delivery,
    pub message: Message,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AttemptFilter {
    pub endpoint_id: Option<EndpointId>,
    pub msg_id: Option<MessageId>,
    pub status: Option<MessageStatus>,
    /// Only attempts whose response status code is in this range (0 when no response
    /// came, so `0..=99` selects those).
    pub response_status_codes: Option<std::ops::RangeInclusive<u16>>,
    /// Only attempts of messages that `list_messages` would keep by these (their own
    /// `before`/`after` are not used: the attempt's time is filtered by the two below).
    pub message: MessageFilter,
    /// Only attempts made strictly before / after these times.
    pub before: Option<Timestamp>,
    pub after: Option<Timestamp>,
}

/// Counts of an endpoint's deliveries by status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EndpointStats {
    pub success: u64,
    pub pending: u64,
    pub sending: u64,
    pub fail: u64,
    pub canceled: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QueueDepth {
    /// Unfinished deliveries waiting for a claim now: due and not leased (a leased
    /// delivery is next due when its lease expires).
    pub due: u64,
    /// Every unfinished delivery.
    pub pending: u64,
}

/// Proof of a claim: the delivery and the token its lease was taken with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lease {
    pub delivery_id: DeliveryId,
    pub token: String,
}

/// A publisher's request to lease the deliveries its publish makes to itself, so that
/// the node that published attempts them at once instead of claiming them back from the
/// queue (see [`crate::Store::publish_message`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublishLease {
    /// How long the leases last, as for a claim.
    pub duration: std::time::Duration,
    /// At most this many deliveries are leased; the rest stay in the queue.
    pub max_deliveries: usize,
}

/// What a publish wrote.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Published {
    /// Deliveries written, leased or not.
    pub deliveries: usize,
    /// The deliveries leased to the publisher, ready to attempt; empty unless a
    /// [`PublishLease`] was given and the backend supports it.
    pub leased: Vec<ClaimedDelivery>,
}

/// A leased delivery with everything needed to attempt it.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimedDelivery {
    pub lease: Lease,
    pub delivery: Delivery,
    pub message: Message,
    pub endpoint: Endpoint,
}

impl ClaimedDelivery {
    /// The first delivery of `message` to `endpoint`, as a publish writes it leased with
    /// `token` until `expires_at` (and so next up for a claim then; see
    /// [`PublishLease`]).
    pub fn leased_at_publish(
        message: &Message,
        endpoint: Endpoint,
        delivery_id: DeliveryId,
        token: String,
        expires_at: Timestamp,
    ) -> Self {
        ClaimedDelivery {
            lease: Lease {
                delivery_id: delivery_id.clone(),
                token,
            },
            delivery: Delivery {
                id: delivery_id,
                app_id: message.app_id.clone(),
                msg_id: message.id.clone(),
                endpoint_id: endpoint.id.clone(),
                status: MessageStatus::Pending,
                n_attempts: 0,
                trigger: TriggerType::Scheduled,
                next_attempt_at: Some(expires_at),
                created_at: message.created_at,
                updated_at: message.created_at,
            },
            message: message.clone(),
            endpoint,
        }
    }
}

/// What becomes of a delivery after an attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum DeliveryOutcome {
    Succeeded,
    /// Failed for now; due again at the given time (status becomes Sending).
    RetryAt(Timestamp),
    /// Failed for good.
    Failed,
}

/// What becomes of the endpoint after an attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum EndpointHealth {
    /// A success: clears `failing_since`.
    Healthy,
    /// A failure at this time: sets `failing_since` unless already set.
    Failing(Timestamp),
    /// Disable the endpoint (410 Gone, or failing too long).
    Disable,
    /// Leave the endpoint as it is (no attempt was made).
    Unchanged,
}

/// Everything `record_outcome` writes for one claimed delivery.
#[derive(Debug, Clone, PartialEq)]
pub struct OutcomeRecord {
    pub lease: Lease,
    pub attempt: Option<Attempt>,
    pub delivery: DeliveryOutcome,
    pub endpoint_health: EndpointHealth,
    pub now: Timestamp,
}

/// A response kept for an idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    pub status: u16,
    pub body: Vec<u8>,
}

impl<T> Page<T> {
    /// Shapes the rows of a page query (at most `fetch_limit`, in walk order) into a page
    /// in the listing's order, with its iterators.
    pub fn from_fetched(
        mut items: Vec<T>,
        page: &PageRequest,
        key_of: impl Fn(&T) -> String,
    ) -> Self {
        let done = items.len() <= page.limit;
        items.truncate(page.limit);
        if page.cursor().backwards {
            items.reverse();
        }
        Page {
            iterator: items.last().map(&key_of),
            prev_iterator: items.first().map(|item| format!("-{}", key_of(item))),
            items,
            done,
        }
    }
}
