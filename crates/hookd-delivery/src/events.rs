//! Operational events the worker sends after an attempt: `message.attempt.failing`,
//! `message.attempt.exhausted` and `endpoint.disabled`, decided by
//! `hookd_core::operational::events_after_attempt` and published through
//! [`OperationalWebhooks`] (durably, as messages of the internal application).
//!
//! **Invariants:** called only after the outcome was recorded under a held lease, so an
//! event follows exactly the outcome that caused it; nothing is sent about the internal
//! application's own deliveries (no loops); a failure to publish is logged, never
//! turned into a failed delivery. A crash between the outcome's commit and the event's
//! commit loses that event (the two are separate transactions).

use hookd_core::model::Attempt;
use hookd_core::operational::{
    events_after_attempt, AttemptEvent, AttemptRef, AttemptResult, DisableTrigger, EndpointRef,
    OperationalEvent,
};
use hookd_store::{
    ClaimedDelivery, DeliveryOutcome, EndpointHealth, OperationalWebhooks, OutcomeRecord,
};
use tracing::warn;

/// Publishes the events due after `record`, whose attempt was number `n_attempts`.
pub(crate) async fn after_attempt(
    hooks: &OperationalWebhooks,
    claimed: &ClaimedDelivery,
    record: &OutcomeRecord,
    n_attempts: u32,
) {
    let Some(attempt) = &record.attempt else {
        return;
    };
    if hooks.is_internal(&claimed.message.app_id) {
        return;
    }
    let due = events_after_attempt(AttemptResult {
        n_attempts,
        retrying: matches!(record.delivery, DeliveryOutcome::RetryAt(_)),
        failed_for_good: matches!(record.delivery, DeliveryOutcome::Failed),
        disabled_endpoint: matches!(record.endpoint_health, EndpointHealth::Disable),
    });
    if due.is_empty() {
        return;
    }
    // The payloads name the application's uid: one read, only when an event is due.
    let app_uid = hooks
        .store()
        .application(claimed.message.app_id.as_str())
        .await
        .ok()
        .and_then(|application| application.uid);
    for kind in due {
        let event = event(kind, claimed, attempt, app_uid.clone(), record);
        if let Err(error) = hooks
            .publish(&event, &claimed.message.app_id, record.now)
            .await
        {
            warn!(%error, event_type = event.event_type(), "could not publish an operational webhook");
        }
    }
}

fn event(
    kind: AttemptEvent,
    claimed: &ClaimedDelivery,
    attempt: &Attempt,
    app_uid: Option<String>,
    record: &OutcomeRecord,
) -> OperationalEvent {
    match kind {
        AttemptEvent::Failing => OperationalEvent::MessageAttemptFailing(AttemptRef::new(
            app_uid,
            &claimed.message,
            attempt,
        )),
        AttemptEvent::Exhausted => OperationalEvent::MessageAttemptExhausted(AttemptRef::new(
            app_uid,
            &claimed.message,
            attempt,
        )),
        AttemptEvent::EndpointDisabled => OperationalEvent::EndpointDisabled {
            endpoint: EndpointRef {
                app_id: claimed.endpoint.app_id.to_string(),
                app_uid,
                endpoint_id: claimed.endpoint.id.to_string(),
                endpoint_uid: claimed.endpoint.uid.clone(),
            },
            fail_since: claimed.endpoint.failing_since.unwrap_or(record.now),
            trigger: DisableTrigger::Automatic,
        },
    }
}
