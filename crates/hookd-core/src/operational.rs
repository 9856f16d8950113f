//! Operational webhooks: the events hookd sends to its operator about the platform itself
//! (an endpoint was disabled, a message ran out of retries, endpoints changed), in the
//! payload shapes Svix documents for the same event types, and when each one is due.
//!
//! **Invariants:** pure: the time of the event is a parameter. Field names follow Svix
//! (`appId`, `appUid`, `endpointId`, `endpointUid`, `failSince`, `trigger`, `msgId`,
//! `msgEventId`, `lastAttempt{id,responseStatusCode,timestamp}`); absent uids are `null`.
//! No event is ever due about the operator's own application (no loops): callers check
//! [`OPERATIONAL_APP_UID`] before asking.

use chrono::SecondsFormat;
use serde_json::{json, Value};

use crate::model::{Application, Attempt, Endpoint, Message};
use crate::Timestamp;

/// The uid of the internal application that holds the operator's endpoint. It is
/// reserved: the API refuses it for any other application.
pub const OPERATIONAL_APP_UID: &str = "hookd-operational";

/// The uid of the operator's endpoint inside [`OPERATIONAL_APP_UID`].
pub const OPERATOR_ENDPOINT_UID: &str = "operator";

/// `message.attempt.failing` is sent when this attempt of a delivery fails and a retry
/// follows (as Svix does, on the fourth failure).
pub const FAILING_AFTER_ATTEMPTS: u32 = 4;

/// Why an endpoint was disabled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisableTrigger {
    /// By hookd: 410 Gone, or failing without success for too long.
    Automatic,
    /// By an API call (`disabled: true`).
    Manual,
}

impl DisableTrigger {
    fn as_str(self) -> &'static str {
        match self {
            Self::Automatic => "automatic",
            Self::Manual => "manual",
        }
    }
}

/// One operational event, with what its payload needs.
#[derive(Debug, Clone, PartialEq)]
pub enum OperationalEvent {
    EndpointCreated(EndpointRef),
    EndpointUpdated(EndpointRef),
    EndpointDeleted(EndpointRef),
    EndpointDisabled {
        endpoint: EndpointRef,
        fail_since: Timestamp,
        trigger: DisableTrigger,
    },
    MessageAttemptExhausted(AttemptRef),
    MessageAttemptFailing(AttemptRef),
}

/// An endpoint as operational events name it.
#[derive(Debug, Clone, PartialEq)]
pub struct EndpointRef {
    pub app_id: String,
    pub app_uid: Option<String>,
    pub endpoint_id: String,
    pub endpoint_uid: Option<String>,
}

impl EndpointRef {
    pub fn new(application: &Application, endpoint: &Endpoint) -> Self {
        Self {
            app_id: application.id.to_string(),
            app_uid: application.uid.clone(),
            endpoint_id: endpoint.id.to_string(),
            endpoint_uid: endpoint.uid.clone(),
        }
    }
}

/// The last attempt of a message to an endpoint, as operational events name it.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptRef {
    pub app_id: String,
    pub app_uid: Option<String>,
    pub msg_id: String,
    pub msg_event_id: Option<String>,
    pub endpoint_id: String,
    pub attempt_id: String,
    pub response_status_code: u16,
    pub attempted_at: Timestamp,
}

impl AttemptRef {
    pub fn new(app_uid: Option<String>, message: &Message, attempt: &Attempt) -> Self {
        Self {
            app_id: message.app_id.to_string(),
            app_uid,
            msg_id: message.id.to_string(),
            msg_event_id: message.event_id.clone(),
            endpoint_id: attempt.endpoint_id.to_string(),
            attempt_id: attempt.id.to_string(),
            response_status_code: attempt.response_status_code,
            attempted_at: attempt.created_at,
        }
    }
}

/// What became of a delivery after an attempt, as far as operational events care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AttemptResult {
    /// Attempts made in this run, this one included (1 for the first).
    pub n_attempts: u32,
    /// The attempt failed and another one is scheduled.
    pub retrying: bool,
    /// The delivery failed for good (retries exhausted, or its endpoint was disabled).
    pub failed_for_good: bool,
    /// This attempt disabled the endpoint.
    pub disabled_endpoint: bool,
}

/// Which events an attempt makes due, in the order to send them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptEvent {
    Failing,
    Exhausted,
    EndpointDisabled,
}

/// The events due after an attempt.
pub fn events_after_attempt(result: AttemptResult) -> Vec<AttemptEvent> {
    let mut events = Vec::new();
    if result.retrying && result.n_attempts == FAILING_AFTER_ATTEMPTS {
        events.push(AttemptEvent::Failing);
    }
    if result.failed_for_good {
        events.push(AttemptEvent::Exhausted);
    }
    if result.disabled_endpoint {
        events.push(AttemptEvent::EndpointDisabled);
    }
    events
}

impl OperationalEvent {
    /// The event type, as Svix names it.
    pub fn event_type(&self) -> &'static str {
        match self {
            Self::EndpointCreated(_) => "endpoint.created",
            Self::EndpointUpdated(_) => "endpoint.updated",
            Self::EndpointDeleted(_) => "endpoint.deleted",
            Self::EndpointDisabled { .. } => "endpoint.disabled",
            Self::MessageAttemptExhausted(_) => "message.attempt.exhausted",
            Self::MessageAttemptFailing(_) => "message.attempt.failing",
        }
    }

    /// The webhook body: `{"type", "timestamp", "data"}`. Svix's own body is `{type,
    /// data}`; `timestamp` (when the event happened) is hookd's addition, which Svix
    /// SDK models ignore.
    pub fn payload(&self, now: Timestamp) -> Value {
        let data = match self {
            Self::EndpointCreated(endpoint)
            | Self::EndpointUpdated(endpoint)
            | Self::EndpointDeleted(endpoint) => endpoint_data(endpoint),
            Self::EndpointDisabled {
                endpoint,
                fail_since,
                trigger,
            } => {
                let mut data = endpoint_data(endpoint);
                data["failSince"] = json!(rfc3339(*fail_since));
                data["trigger"] = json!(trigger.as_str());
                data
            }
            Self::MessageAttemptExhausted(attempt) | Self::MessageAttemptFailing(attempt) => {
                json!({
                    "appId": attempt.app_id,
                    "appUid": attempt.app_uid,
                    "msgId": attempt.msg_id,
                    "msgEventId": attempt.msg_event_id,
                    "endpointId": attempt.endpoint_id,
                    "lastAttempt": {
                        "id": attempt.attempt_id,
                        "responseStatusCode": attempt.response_status_code,
                        "timestamp": rfc3339(attempt.attempted_at),
                    },
                })
            }
        };
        json!({
            "type": self.event_type(),
            "timestamp": rfc3339(now),
            "data": data,
        })
    }
}

fn endpoint_data(endpoint: &EndpointRef) -> Value {
    json!({
        "appId": endpoint.app_id,
        "appUid": endpoint.app_uid,
        "endpointId": endpoint.endpoint_id,
        "endpointUid": endpoint.endpoint_uid,
    })
}

fn rfc3339(at: Timestamp) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: i64) -> Timestamp {
        chrono::DateTime::from_timestamp_millis(ms).unwrap()
    }

    fn endpoint() -> EndpointRef {
        EndpointRef {
            app_id: "app_1".into(),
            app_uid: Some("acme".into()),
            endpoint_id: "ep_1".into(),
            endpoint_uid: None,
        }
    }

    #[test]
    fn endpoint_disabled_payload() {
        let event = OperationalEvent::EndpointDisabled {
            endpoint: endpoint(),
            fail_since: at(1_700_000_000_000),
            trigger: DisableTrigger::Automatic,
        };
        let expected = json!({
            "type": "endpoint.disabled",
            "timestamp": "2023-11-14T22:13:21.000Z",
            "data": {
                "appId": "app_1", "appUid": "acme", "endpointId": "ep_1", "endpointUid": null,
                "failSince": "2023-11-14T22:13:20.000Z", "trigger": "automatic",
            },
        });
        assert_eq!(event.payload(at(1_700_000_001_000)), expected);
    }

    #[test]
    fn attempt_payloads() {
        let attempt = AttemptRef {
            app_id: "app_1".into(),
            app_uid: None,
            msg_id: "msg_1".into(),
            msg_event_id: Some("evt_1".into()),
            endpoint_id: "ep_1".into(),
            attempt_id: "atmpt_1".into(),
            response_status_code: 503,
            attempted_at: at(1_700_000_000_000),
        };
        for (event, name) in [
            (
                OperationalEvent::MessageAttemptExhausted(attempt.clone()),
                "message.attempt.exhausted",
            ),
            (
                OperationalEvent::MessageAttemptFailing(attempt),
                "message.attempt.failing",
            ),
        ] {
            let payload = event.payload(at(1_700_000_000_000));
            assert_eq!(payload["type"], name);
            assert_eq!(
                payload["data"],
                json!({
                    "appId": "app_1", "appUid": null, "msgId": "msg_1", "msgEventId": "evt_1",
                    "endpointId": "ep_1",
                    "lastAttempt": {"id": "atmpt_1", "responseStatusCode": 503,
                                    "timestamp": "2023-11-14T22:13:20.000Z"},
                })
            );
        }
        for (event, name) in [
            (
                OperationalEvent::EndpointCreated(endpoint()),
                "endpoint.created",
            ),
            (
                OperationalEvent::EndpointUpdated(endpoint()),
                "endpoint.updated",
            ),
            (
                OperationalEvent::EndpointDeleted(endpoint()),
                "endpoint.deleted",
            ),
        ] {
            let payload = event.payload(at(0));
            assert_eq!(payload["type"], name);
            assert_eq!(payload["data"], endpoint_data(&endpoint()));
        }
    }

    #[test]
    fn which_events_an_attempt_makes_due() {
        let check = |n_attempts,
                     retrying,
                     failed_for_good,
                     disabled_endpoint,
                     expected: &[AttemptEvent]| {
            let result = AttemptResult {
                n_attempts,
                retrying,
                failed_for_good,
                disabled_endpoint,
            };
            assert_eq!(events_after_attempt(result), expected, "{result:?}");
        };
        use AttemptEvent::*;
        check(1, true, false, false, &[]);
        check(3, true, false, false, &[]);
        check(4, true, false, false, &[Failing]);
        check(5, true, false, false, &[]);
        // The fourth attempt was the last: exhausted, not failing.
        check(4, false, true, false, &[Exhausted]);
        check(1, false, true, true, &[Exhausted, EndpointDisabled]);
        check(2, false, false, false, &[]);
    }
}
