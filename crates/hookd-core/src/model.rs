//! The records hookd keeps: applications, endpoints, event types, messages, deliveries
//! and attempts, as the store returns them.
//!
//! These are domain records, not wire formats: the API crate maps them to Svix-shaped
//! DTOs. Every record carries its own id and timestamps; nothing here knows about SQL.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ids::{ApplicationId, AttemptId, DeliveryId, EndpointId, MessageId};
use crate::signature::SignatureScheme;
use crate::Timestamp;

/// One tenant: a customer of the hookd user, who owns endpoints and receives messages.
#[derive(Debug, Clone, PartialEq)]
pub struct Application {
    pub id: ApplicationId,
    pub uid: Option<String>,
    pub name: String,
    pub throttle_rate: Option<u16>,
    pub metadata: BTreeMap<String, String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// A secret that used to sign and still does until `expires_at` (rotation grace period).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RetiredSecret {
    pub secret: String,
    pub expires_at: Timestamp,
}

/// A URL subscribed to some of an application's messages.
#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    pub id: EndpointId,
    pub app_id: ApplicationId,
    pub uid: Option<String>,
    pub url: String,
    pub description: String,
    pub disabled: bool,
    pub event_types: Option<Vec<String>>,
    pub channels: Option<Vec<String>>,
    pub throttle_rate: Option<u16>,
    pub metadata: BTreeMap<String, String>,
    /// Extra headers sent with every delivery.
    pub headers: BTreeMap<String, String>,
    /// The current signing secret (`whsec_…`, `whsk_…`, or any string for the
    /// non-Standard schemes).
    pub secret: String,
    /// Secrets replaced by a rotation that still sign until they expire.
    pub retired_secrets: Vec<RetiredSecret>,
    pub signature_scheme: SignatureScheme,
    /// Header name for [`SignatureScheme::HmacSha256Hex`]; `None` means the default.
    pub signature_header: Option<String>,
    /// Whether deliveries of messages made at a source also carry the provider's own
    /// headers ([`Message::source_headers`]), besides hookd's. Default: false.
    pub forward_source_headers: bool,
    /// When the endpoint started failing without a success since; `None` when healthy.
    pub failing_since: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Endpoint {
    /// The secrets that sign a delivery at `now`: the current one first, then retired
    /// secrets still inside their grace period.
    pub fn signing_secrets(&self, now: Timestamp) -> Vec<&str> {
        std::iter::once(self.secret.as_str())
            .chain(
                self.retired_secrets
                    .iter()
                    .filter(|retired| retired.expires_at > now)
                    .map(|retired| retired.secret.as_str()),
            )
            .collect()
    }
}

/// A dot-named kind of event with optional versioned JSON Schemas.
#[derive(Debug, Clone, PartialEq)]
pub struct EventType {
    pub name: String,
    pub description: String,
    pub archived: bool,
    pub deprecated: bool,
    /// Schemas by version (`{"1": {...}, "2": {...}}`), as Svix stores them.
    pub schemas: Option<serde_json::Map<String, Value>>,
    pub group_name: Option<String>,
    pub feature_flags: Option<Vec<String>>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// One published event.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    pub id: MessageId,
    pub app_id: ApplicationId,
    pub event_id: Option<String>,
    pub event_type: String,
    /// The payload as compact JSON text in the key order it was published with. This is
    /// the exact body every delivery sends. Empty once the payload has expired or been
    /// expunged (see [`Message::payload_expired`]); a published payload never is, since it
    /// is always a JSON object.
    pub payload: String,
    pub channels: Vec<String>,
    pub tags: Vec<String>,
    /// For a message made from a request received at a source (`/in/{source}`): the
    /// provider's headers that may be forwarded (`Source::forwarded_headers`, lowercase
    /// names, in the order received), sent to endpoints with
    /// [`Endpoint::forward_source_headers`]. Empty for published messages, and cleared
    /// with the payload when it expires.
    pub source_headers: Vec<(String, String)>,
    pub created_at: Timestamp,
}

impl Message {
    /// Whether the payload is gone (expired by retention or expunged on request): the
    /// message can no longer be delivered, resent or shown.
    pub fn payload_expired(&self) -> bool {
        self.payload.is_empty()
    }
}

/// Where a message stands for one endpoint, numbered as Svix numbers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageStatus {
    Success = 0,
    Pending = 1,
    Fail = 2,
    Sending = 3,
    Canceled = 4,
}

impl MessageStatus {
    pub fn code(self) -> i64 {
        self as i64
    }

    pub fn from_code(code: i64) -> Option<Self> {
        Some(match code {
            0 => Self::Success,
            1 => Self::Pending,
            2 => Self::Fail,
            3 => Self::Sending,
            4 => Self::Canceled,
            _ => return None,
        })
    }

    pub fn text(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Pending => "pending",
            Self::Fail => "fail",
            Self::Sending => "sending",
            Self::Canceled => "canceled",
        }
    }
}

/// Why an attempt was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TriggerType {
    Scheduled = 0,
    Manual = 1,
}

impl TriggerType {
    pub fn code(self) -> i64 {
        self as i64
    }

    pub fn from_code(code: i64) -> Self {
        if code == 1 {
            Self::Manual
        } else {
            Self::Scheduled
        }
    }
}

/// The queue row of one message for one endpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    pub id: DeliveryId,
    pub app_id: ApplicationId,
    pub msg_id: MessageId,
    pub endpoint_id: EndpointId,
    pub status: MessageStatus,
    /// Attempts made so far in the current run (a manual resend starts a new run).
    pub n_attempts: u32,
    pub trigger: TriggerType,
    /// When the next attempt is due; `None` once the delivery is finished.
    pub next_attempt_at: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// One HTTP try of one message to one endpoint, as recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct Attempt {
    pub id: AttemptId,
    pub app_id: ApplicationId,
    pub msg_id: MessageId,
    pub endpoint_id: EndpointId,
    pub url: String,
    /// Success or Fail: the result of this one try.
    pub status: MessageStatus,
    /// The HTTP status, or 0 when no response came (refused, timeout, network error).
    pub response_status_code: u16,
    /// The response body, truncated, or a sentence saying why there was none.
    pub response: String,
    pub response_duration_ms: u64,
    pub trigger: TriggerType,
    /// The request as sent: headers (secrets are never stored here) and body.
    pub request_headers: BTreeMap<String, String>,
    pub created_at: Timestamp,
}

impl Attempt {
    /// What `response` holds once the attempt's content has expired or been expunged
    /// (the request headers are then empty). The word is the one Svix uses.
    pub const EXPUNGED_RESPONSE: &'static str = "EXPUNGED";
    /// The response of the attempt recorded for a delivery that was stopped because its
    /// message's payload is gone (no request was sent).
    pub const PAYLOAD_GONE_RESPONSE: &'static str =
        "not sent: the message payload expired or was expunged, so this delivery was stopped";
}
