//! Event-type JSON Schemas: compiled once, cached, and checked against every payload
//! published with that event type. Unlike Svix, a payload that violates its schema is
//! refused with a 422 naming the failing field.
//!
//! **Invariant:** a cached validator is never older than `MAX_AGE`, so an event type
//! changed on another node takes effect within that time; local changes invalidate at once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hookd_core::model::EventType;
use hookd_store::{Store, StoreError};
use serde_json::Value;

use crate::error::ApiError;

const MAX_AGE: Duration = Duration::from_secs(2);

struct Cached {
    fetched: Instant,
    validator: Option<Arc<jsonschema::Validator>>,
}

/// Validators by event type name (`None` when the type has no schema or does not exist).
#[derive(Default)]
pub struct SchemaCache {
    entries: Mutex<HashMap<String, Cached>>,
}

impl SchemaCache {
    /// Forgets one event type after a local change.
    pub fn invalidate(&self, name: &str) {
        self.lock().remove(name);
    }

    /// Checks `payload` against the newest schema version of `event_type`, if any.
    pub async fn check(
        &self,
        store: &dyn Store,
        event_type: &str,
        payload: &Value,
    ) -> Result<(), ApiError> {
        let cached = {
            let entries = self.lock();
            entries
                .get(event_type)
                .filter(|cached| cached.fetched.elapsed() < MAX_AGE)
                .map(|cached| cached.validator.clone())
        };
        let validator = match cached {
            Some(validator) => validator,
            None => {
                let validator = match store.event_type(event_type).await {
                    Ok(found) => compile_newest(&found).ok().flatten().map(Arc::new),
                    Err(StoreError::NotFound(_)) => None,
                    Err(error) => return Err(error.into()),
                };
                self.lock().insert(
                    event_type.to_owned(),
                    Cached {
                        fetched: Instant::now(),
                        validator: validator.clone(),
                    },
                );
                validator
            }
        };
        let Some(validator) = validator else {
            return Ok(());
        };
        let problems: Vec<String> = validator
            .iter_errors(payload)
            .take(5)
            .map(|error| {
                let pointer = error.instance_path.to_string();
                let path = if pointer.is_empty() {
                    "payload".to_owned()
                } else {
                    format!("payload{}", pointer.replace('/', "."))
                };
                format!("{path}: {error}")
            })
            .collect();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(format!(
                "payload does not match the schema of event type {event_type:?}: {}",
                problems.join("; ")
            )))
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Cached>> {
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Compiles the newest version of an event type's schemas (the highest numeric key).
pub fn compile_newest(event_type: &EventType) -> Result<Option<jsonschema::Validator>, String> {
    let Some(schemas) = &event_type.schemas else {
        return Ok(None);
    };
    let newest = schemas
        .iter()
        .max_by_key(|(version, _)| version.parse::<u64>().unwrap_or(0));
    match newest {
        None => Ok(None),
        Some((version, schema)) => jsonschema::validator_for(schema)
            .map(Some)
            .map_err(|error| format!("schemas.{version}: not a valid JSON Schema: {error}")),
    }
}

/// Checks every version of a schemas object compiles (on event type create/update).
pub fn check_schemas(schemas: &serde_json::Map<String, Value>) -> Result<(), ApiError> {
    for (version, schema) in schemas {
        if version.parse::<u64>().is_err() {
            return Err(ApiError::field(
                &format!("schemas.{version}"),
                "schema versions are numbers (\"1\", \"2\", …)",
            ));
        }
        jsonschema::validator_for(schema).map_err(|error| {
            ApiError::field(
                &format!("schemas.{version}"),
                format!("not a valid JSON Schema: {error}"),
            )
        })?;
    }
    Ok(())
}
