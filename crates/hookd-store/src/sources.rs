//! Plain values of the receive side that cross the store boundary: the ingest of one
//! verified request, what came of it, and the inbound request listing's filter.

use hookd_core::ids::MessageId;
use hookd_core::model::Message;
use hookd_core::source::{InboundRecord, InboundStatus};
use hookd_core::Timestamp;

/// Everything `ingest_inbound` commits for one verified request.
#[derive(Debug, Clone, PartialEq)]
pub struct InboundIngest {
    /// The request as received. Its `status` and `msg_id` are set by the store: `Verified`
    /// with the new message, or `Duplicate` with the first message of the event id.
    pub request: InboundRecord,
    /// The message the request becomes unless it is a duplicate. The store chooses its
    /// endpoints inside the ingest's own transaction, as [`crate::Store::publish_message`]
    /// does.
    pub message: Message,
    /// The provider's event id to deduplicate on; `None` skips deduplication.
    pub dedup_event_id: Option<String>,
    /// An event id seen at or after this time is a duplicate; one seen before it (outside
    /// the window) counts as new again.
    pub dedup_not_before: Timestamp,
}

/// What `ingest_inbound` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IngestOutcome {
    /// A new message was committed with its deliveries.
    Created { msg_id: MessageId },
    /// The event id was seen inside the window: the request was stored as a duplicate
    /// and no message was made. `msg_id` is the message of the first sighting.
    Duplicate { msg_id: Option<MessageId> },
}

/// Which stored inbound requests a listing returns.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InboundFilter {
    pub status: Option<InboundStatus>,
}
