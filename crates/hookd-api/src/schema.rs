//! Event-type JSON Schemas: compiled once, cached, and checked against every payload
//! published with that event type. Unlike Svix, a payload that violates its schema is
//! refused with a 422 naming the failing field. [`EventTypeSchemas`] states in the
//! OpenAPI document what [`check_schemas`] takes.
//!
//! **Invariant:** a cached validator is never older than `MAX_AGE`, so an event type
//! changed on another node takes effect within that time; local changes invalidate at once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hookd_core::model::EventType;
use hookd_store::{Store, StoreError};
use serde_json::Value;

use utoipa::openapi::extensions::Extensions;
use utoipa::openapi::schema::{
    AdditionalProperties, AnyOfBuilder, ArrayBuilder, ObjectBuilder, Type,
};
use utoipa::openapi::{Ref, RefOr, Schema};

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
    match newest_schema(event_type) {
        None => Ok(None),
        Some((version, schema)) => jsonschema::validator_for(schema)
            .map(Some)
            .map_err(|error| format!("schemas.{version}: not a valid JSON Schema: {error}")),
    }
}

/// The newest version of `event_type`'s schema, with its version number, if it has one.
pub fn newest_schema(event_type: &EventType) -> Option<(&String, &Value)> {
    event_type
        .schemas
        .as_ref()?
        .iter()
        .max_by_key(|(version, _)| version.parse::<u64>().unwrap_or(0))
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
        // A boolean is a JSON Schema too, but `false` would refuse every publish and
        // `true` says what `{}` says; Svix's SDKs type each version as an object.
        if !schema.is_object() {
            return Err(ApiError::field(
                &format!("schemas.{version}"),
                "must be a JSON Schema object",
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

crate::validate::rule_schema!(
    /// An event type's `schemas`, as [`check_schemas`] takes them.
    EventTypeSchemas => ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some(
            "JSON Schemas by version number (`\"1\"`, `\"2\"`, …); publishes are checked against the highest version.",
        ))
        .property_names(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(r"^\+?[0-9]{1,19}$")),
        ))
        .additional_properties(Some(Ref::from_schema_name("JsonSchemaObject")))
        .build()
        .into()
);

crate::validate::rule_schema!(
    /// A JSON Schema object, as far as a document can say what the meta-schema asks.
    JsonSchemaObject => json_schema_object()
);

/// A JSON Schema (draft 2020-12) object, with the type the meta-schema gives each keyword
/// whose rule a schema can state: subschemas are objects or booleans, counts are
/// non-negative integers, `type` names JSON types, and so on. The keywords whose rule it
/// cannot state (a `$ref` must resolve, a `pattern` compile, `$schema` name a known
/// draft) are in the description only, and other members are annotations.
///
/// The keywords are `patternProperties`, not `properties`: the rule is "a member with this
/// name has this type", not "these members exist", and a generator that fills in every
/// listed property would have to write the unstateable ones too. utoipa 5 has no field
/// for `patternProperties`, so it goes in through the object's extensions, which are
/// written out as members of the schema.
fn json_schema_object() -> RefOr<Schema> {
    let value = |schema: RefOr<Schema>| serde_json::to_value(schema).expect("a schema serialises");
    let string = || ObjectBuilder::new().schema_type(Type::String);
    let boolean = || ObjectBuilder::new().schema_type(Type::Boolean);
    let number = || ObjectBuilder::new().schema_type(Type::Number);
    let subschema = || {
        AnyOfBuilder::new()
            .item(Ref::from_schema_name("JsonSchemaObject"))
            .item(boolean())
    };
    let unique_strings = || ArrayBuilder::new().items(string()).unique_items(true);
    let type_name = || {
        string().enum_values(Some([
            "array", "boolean", "integer", "null", "number", "object", "string",
        ]))
    };
    let map_of = |schema: RefOr<Schema>| {
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .additional_properties(Some(AdditionalProperties::RefOr(schema)))
    };
    let keywords: Vec<(&str, RefOr<Schema>)> = vec![
        (
            "^(?:if|then|else|not|items|contains|additionalProperties|propertyNames|unevaluatedItems|unevaluatedProperties|contentSchema)$",
            subschema().into(),
        ),
        (
            "^(?:allOf|anyOf|oneOf|prefixItems)$",
            ArrayBuilder::new()
                .items(subschema())
                .min_items(Some(1))
                .into(),
        ),
        (
            r"^(?:properties|dependentSchemas|\$defs|definitions)$",
            map_of(subschema().into()).into(),
        ),
        (
            "^(?:max|min)(?:Length|Items|Contains|Properties)$",
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(0))
                .into(),
        ),
        (
            "^(?:maximum|minimum|exclusiveMaximum|exclusiveMinimum)$",
            number().into(),
        ),
        ("^multipleOf$", number().exclusive_minimum(Some(0)).into()),
        (
            "^(?:uniqueItems|deprecated|readOnly|writeOnly)$",
            boolean().into(),
        ),
        (
            r"^(?:title|description|\$comment|format|contentEncoding|contentMediaType)$",
            string().into(),
        ),
        ("^(?:enum|examples)$", ArrayBuilder::new().into()),
        ("^required$", unique_strings().into()),
        ("^dependentRequired$", map_of(unique_strings().into()).into()),
        (
            "^type$",
            AnyOfBuilder::new()
                .item(type_name())
                .item(
                    ArrayBuilder::new()
                        .items(type_name())
                        .min_items(Some(1))
                        .unique_items(true),
                )
                .into(),
        ),
    ];
    let pattern_properties: serde_json::Map<String, serde_json::Value> = keywords
        .into_iter()
        .map(|(pattern, schema)| (pattern.to_owned(), value(schema)))
        .collect();
    let mut extensions = Extensions::default();
    extensions.insert(
        "patternProperties".to_owned(),
        serde_json::Value::Object(pattern_properties),
    );
    let mut object = ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some(
            "A JSON Schema (draft 2020-12) object. Each keyword's value has the type the meta-schema gives it; besides, a `pattern` (and each `patternProperties` name) must compile, a `$ref` resolve, and `$schema` name a known draft.",
        ))
        .build();
    object.extensions = Some(extensions);
    RefOr::T(Schema::Object(object))
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};
    use utoipa::PartialSchema;

    use super::*;

    /// The documented `schemas` schema, with the component it refers to.
    fn documented() -> jsonschema::Validator {
        let root = json!({
            "$ref": "#/components/schemas/EventTypeSchemas",
            "components": {"schemas": {
                "EventTypeSchemas": serde_json::to_value(EventTypeSchemas::schema()).unwrap(),
                "JsonSchemaObject": serde_json::to_value(JsonSchemaObject::schema()).unwrap(),
            }},
        });
        jsonschema::validator_for(&root).unwrap()
    }

    #[test]
    fn the_document_and_the_check_agree_on_event_type_schemas() {
        let documented = documented();
        for (schemas, taken) in [
            (json!({}), true),
            (json!({"1": {}}), true),
            (json!({"+2": {"type": "object", "required": ["a"]}}), true),
            (
                json!({"1": {"if": {"then": true}, "else": false, "not": {"x": 1}}}),
                true,
            ),
            (
                json!({"1": {"minLength": 2.0, "type": ["string", "null"]}}),
                true,
            ),
            (json!({"1": {"TRUE": [1], "": null, "if": {}}}), true),
            (json!({"one": {}}), false),
            (json!({"1": true}), false),
            (json!({"1": 5}), false),
            (json!({"1": {"if": 30191}}), false),
            (json!({"1": {"then": {"else": "x"}}}), false),
            (json!({"1": {"minLength": -1}}), false),
            (json!({"1": {"type": "strin"}}), false),
            (json!({"1": {"type": ["string", "string"]}}), false),
            (json!({"1": {"required": ["a", "a"]}}), false),
            (json!({"1": {"properties": {"a": 1}}}), false),
            (json!({"1": {"allOf": []}}), false),
            (json!({"1": {"multipleOf": 0}}), false),
        ] {
            let Value::Object(map) = &schemas else {
                unreachable!()
            };
            assert_eq!(check_schemas(map).is_ok(), taken, "check: {schemas}");
            assert_eq!(documented.is_valid(&schemas), taken, "document: {schemas}");
        }
    }
}
