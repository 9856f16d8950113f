//! Operational webhooks at start: makes sure the internal application (uid
//! `hookd-operational`) and its one `operator` endpoint exist and point at the configured
//! URL and secret, and hands back the [`OperationalWebhooks`] the API and the worker
//! publish through.
//!
//! **Invariants:** without a configured URL no event is published (an operator endpoint
//! left from an earlier configuration is disabled, so nothing goes to an old URL); the
//! secret is the configured one, else the stored one, else a new one printed once on
//! stderr (and readable later through the API); several nodes starting together end up
//! with one application and one endpoint.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::Context;
use chrono::Utc;
use hookd_core::ids::{ApplicationId, EndpointId};
use hookd_core::model::{Application, Endpoint};
use hookd_core::operational::{OPERATIONAL_APP_UID, OPERATOR_ENDPOINT_UID};
use hookd_core::signature::{self, SignatureScheme};
use hookd_store::{OperationalWebhooks, Store, StoreError};

use crate::config::Config;

/// Prepares the internal application and endpoint for `config`.
///
/// # Errors
/// When the store fails.
pub async fn setup(
    store: &Arc<dyn Store>,
    config: &Config,
) -> anyhow::Result<Option<OperationalWebhooks>> {
    let Some(url) = &config.operational_webhook_url else {
        disable_leftover(store.as_ref()).await?;
        return Ok(None);
    };
    let application = internal_application(store.as_ref())
        .await
        .context("preparing the operational webhooks application")?;
    let endpoint = operator_endpoint(
        store.as_ref(),
        &application,
        url,
        config.operational_webhook_secret.as_deref(),
    )
    .await
    .context("preparing the operational webhooks endpoint")?;
    tracing::info!(url = %endpoint.url, app_id = %application.id, endpoint_id = %endpoint.id, "operational webhooks enabled");
    Ok(Some(OperationalWebhooks::new(
        Arc::clone(store),
        application.id,
        endpoint.id,
    )))
}

async fn internal_application(store: &dyn Store) -> Result<Application, StoreError> {
    match store.application(OPERATIONAL_APP_UID).await {
        Ok(application) => return Ok(application),
        Err(StoreError::NotFound(_)) => {}
        Err(error) => return Err(error),
    }
    let now = now();
    let application = Application {
        id: ApplicationId::new(now.timestamp_millis().max(0) as u64, rand::random()),
        uid: Some(OPERATIONAL_APP_UID.to_owned()),
        name: "hookd operational webhooks".to_owned(),
        throttle_rate: None,
        metadata: BTreeMap::new(),
        created_at: now,
        updated_at: now,
    };
    match store.create_application(&application).await {
        Ok(()) => Ok(application),
        // Another node created it at the same moment.
        Err(StoreError::Conflict(_)) => store.application(OPERATIONAL_APP_UID).await,
        Err(error) => Err(error),
    }
}

async fn operator_endpoint(
    store: &dyn Store,
    application: &Application,
    url: &str,
    configured_secret: Option<&str>,
) -> Result<Endpoint, StoreError> {
    match store.endpoint(&application.id, OPERATOR_ENDPOINT_UID).await {
        Ok(mut endpoint) => {
            let secret = configured_secret.unwrap_or(&endpoint.secret).to_owned();
            if endpoint.url != url || endpoint.secret != secret || endpoint.disabled {
                endpoint.url = url.to_owned();
                endpoint.secret = secret;
                endpoint.disabled = false;
                endpoint.failing_since = None;
                endpoint.updated_at = now();
                store.update_endpoint(&endpoint).await?;
            }
            Ok(endpoint)
        }
        Err(StoreError::NotFound(_)) => {
            let now = now();
            let secret = match configured_secret {
                Some(secret) => secret.to_owned(),
                None => signature::generate_symmetric_secret(&rand::random::<[u8; 24]>()),
            };
            let endpoint = Endpoint {
                id: EndpointId::new(now.timestamp_millis().max(0) as u64, rand::random()),
                app_id: application.id.clone(),
                uid: Some(OPERATOR_ENDPOINT_UID.to_owned()),
                url: url.to_owned(),
                description: "Receives hookd's operational webhooks".to_owned(),
                disabled: false,
                event_types: None,
                channels: None,
                throttle_rate: None,
                metadata: BTreeMap::new(),
                headers: BTreeMap::new(),
                secret: secret.clone(),
                retired_secrets: Vec::new(),
                signature_scheme: SignatureScheme::Standard,
                signature_header: None,
                forward_source_headers: false,
                failing_since: None,
                created_at: now,
                updated_at: now,
            };
            match store.create_endpoint(&endpoint).await {
                Ok(()) => {
                    if configured_secret.is_none() {
                        eprintln!(
                            "hookd: operational webhooks go to {url}, signed with the secret {secret}\n\
                             hookd: it is kept in the database; read it again at GET /api/v1/app/{OPERATIONAL_APP_UID}/endpoint/{OPERATOR_ENDPOINT_UID}/secret"
                        );
                    }
                    Ok(endpoint)
                }
                Err(StoreError::Conflict(_)) => {
                    store.endpoint(&application.id, OPERATOR_ENDPOINT_UID).await
                }
                Err(error) => Err(error),
            }
        }
        Err(error) => Err(error),
    }
}

/// Without a configured URL, an operator endpoint left from before gets nothing more.
async fn disable_leftover(store: &dyn Store) -> anyhow::Result<()> {
    let application = match store.application(OPERATIONAL_APP_UID).await {
        Ok(application) => application,
        Err(StoreError::NotFound(_)) => return Ok(()),
        Err(error) => return Err(error).context("reading the operational webhooks application"),
    };
    match store.endpoint(&application.id, OPERATOR_ENDPOINT_UID).await {
        Ok(mut endpoint) if !endpoint.disabled => {
            endpoint.disabled = true;
            endpoint.updated_at = now();
            store
                .update_endpoint(&endpoint)
                .await
                .context("disabling the old operational webhooks endpoint")?;
            Ok(())
        }
        Ok(_) | Err(StoreError::NotFound(_)) => Ok(()),
        Err(error) => Err(error).context("reading the operational webhooks endpoint"),
    }
}

/// Now, in whole milliseconds (what the store keeps).
fn now() -> hookd_core::Timestamp {
    let now = Utc::now();
    chrono::DateTime::from_timestamp_millis(now.timestamp_millis()).unwrap_or(now)
}
