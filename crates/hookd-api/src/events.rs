//! Operational events about endpoint changes made through the API: `endpoint.created`,
//! `endpoint.updated`, `endpoint.deleted`, and `endpoint.disabled` (trigger `manual`)
//! when an update disables an enabled endpoint.
//!
//! **Invariants:** an event is published only after the change it reports committed;
//! none is published about the internal operational application (no loops); a failure
//! to publish is logged and does not undo or fail the change the caller asked for.

use hookd_core::model::Endpoint;
use hookd_core::operational::{DisableTrigger, EndpointRef, OperationalEvent};

use crate::state::AppState;

/// What happened to an endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum EndpointChange {
    Created,
    /// Updated; `was_disabled` is the state before the update.
    Updated {
        was_disabled: bool,
    },
    Deleted,
}

/// Publishes the events an endpoint change makes due.
pub(crate) async fn endpoint_changed(
    state: &AppState,
    change: EndpointChange,
    endpoint: &Endpoint,
) {
    let Some(hooks) = &state.operational else {
        return;
    };
    if hooks.is_internal(&endpoint.app_id) {
        return;
    }
    let app_uid = state
        .store
        .application(endpoint.app_id.as_str())
        .await
        .ok()
        .and_then(|application| application.uid);
    let reference = EndpointRef {
        app_id: endpoint.app_id.to_string(),
        app_uid,
        endpoint_id: endpoint.id.to_string(),
        endpoint_uid: endpoint.uid.clone(),
    };
    let now = crate::wire::now();
    let mut events = Vec::with_capacity(2);
    match change {
        EndpointChange::Created => events.push(OperationalEvent::EndpointCreated(reference)),
        EndpointChange::Deleted => events.push(OperationalEvent::EndpointDeleted(reference)),
        EndpointChange::Updated { was_disabled } => {
            events.push(OperationalEvent::EndpointUpdated(reference.clone()));
            if endpoint.disabled && !was_disabled {
                events.push(OperationalEvent::EndpointDisabled {
                    endpoint: reference,
                    fail_since: endpoint.failing_since.unwrap_or(now),
                    trigger: DisableTrigger::Manual,
                });
            }
        }
    }
    for event in events {
        if let Err(error) = hooks.publish(&event, &endpoint.app_id, now).await {
            tracing::warn!(%error, event_type = event.event_type(), endpoint_id = %endpoint.id, "could not publish an operational webhook");
        }
    }
}
