//! [`OperationalWebhooks`]: publishes operational events as ordinary messages of the
//! internal operator application, through [`Store::create_message`], so they are signed,
//! retried and logged like every other webhook.
//!
//! **Invariants:** an event is committed (durable) when `publish` returns `Ok`; events are
//! never published about the internal application itself (`is_internal` lets callers
//! check, and `publish` refuses such an event).

use std::sync::Arc;

use chrono::DateTime;
use hookd_core::ids::{ApplicationId, EndpointId, MessageId};
use hookd_core::model::Message;
use hookd_core::operational::OperationalEvent;
use hookd_core::Timestamp;

use crate::{Store, StoreError, StoreResult};

/// Where operational events go: the internal application and its one operator endpoint.
#[derive(Clone)]
pub struct OperationalWebhooks {
    store: Arc<dyn Store>,
    app_id: ApplicationId,
    endpoint_id: EndpointId,
}

impl OperationalWebhooks {
    /// Events for `endpoint_id` of the internal application `app_id` (both must exist).
    pub fn new(store: Arc<dyn Store>, app_id: ApplicationId, endpoint_id: EndpointId) -> Self {
        Self {
            store,
            app_id,
            endpoint_id,
        }
    }

    /// Whether `app_id` is the internal application (no events are sent about it).
    pub fn is_internal(&self, app_id: &ApplicationId) -> bool {
        *app_id == self.app_id
    }

    /// The store events are published to.
    pub fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }

    /// The internal application's id.
    pub fn app_id(&self) -> &ApplicationId {
        &self.app_id
    }

    /// Commits `event` as a message of the internal application, due to the operator's
    /// endpoint at once. Returns the message id.
    ///
    /// # Errors
    /// What `create_message` returns; `Conflict` for an event about the internal
    /// application itself.
    pub async fn publish(
        &self,
        event: &OperationalEvent,
        about_app: &ApplicationId,
        now: Timestamp,
    ) -> StoreResult<MessageId> {
        if self.is_internal(about_app) {
            return Err(StoreError::Conflict(
                "no operational events about the operational application itself".to_owned(),
            ));
        }
        // The store keeps milliseconds; a message reads back as it was written.
        let now = DateTime::from_timestamp_millis(now.timestamp_millis()).unwrap_or(now);
        let payload = serde_json::to_string(&event.payload(now)).map_err(StoreError::internal)?;
        let message = Message {
            id: MessageId::new(now.timestamp_millis().max(0) as u64, rand::random()),
            app_id: self.app_id.clone(),
            event_id: None,
            event_type: event.event_type().to_owned(),
            payload,
            channels: Vec::new(),
            tags: Vec::new(),
            source_headers: Vec::new(),
            created_at: now,
        };
        self.store
            .create_message(&message, std::slice::from_ref(&self.endpoint_id))
            .await?;
        Ok(message.id)
    }
}

impl std::fmt::Debug for OperationalWebhooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OperationalWebhooks")
            .field("app_id", &self.app_id)
            .field("endpoint_id", &self.endpoint_id)
            .finish_non_exhaustive()
    }
}
