//! OpenAPI links: from each answer that carries an id to the operations that take it, so
//! that a client that follows them (schemathesis's stateful phase, in
//! `crates/hookd/tests/it/peers.rs`) works on resources that exist rather than on made-up
//! ids that are all 404s.
//!
//! The links are made from two tables: [`ID_SOURCES`], the answers that carry ids, and
//! [`ID_FIELDS`], the body fields that refer to one. Nothing else names an operation.
//!
//! **Invariant:** every operation with a path parameter is the target of a link, and a
//! link gives every path parameter and id field its target takes. The tests check this,
//! and that each id a link reads is a string field of the answer's schema.

use std::collections::BTreeMap;

use serde_json::Value;
use utoipa::openapi::link::{Link, LinkBuilder};
use utoipa::openapi::path::{HttpMethod, Operation, PathItem};
use utoipa::openapi::RefOr;
use utoipa::Modify;

/// An answer that carries ids: its operation, and for each id the path parameter that
/// takes it and where it is in the answer's body (a JSON pointer).
struct IdSource {
    method: HttpMethod,
    path: &'static str,
    ids: &'static [(&'static str, &'static str)],
}

/// The creates, and for ids that no create answers (attempts, captured requests) the
/// first item of a list or the answer of `/in/{source}`. A source's answer also names its
/// application, whose id a new source or a PUT of this one needs in its body.
const ID_SOURCES: &[IdSource] = &[
    IdSource {
        method: HttpMethod::Post,
        path: "/api/v1/app",
        ids: &[("app_id", "/id")],
    },
    IdSource {
        method: HttpMethod::Post,
        path: "/api/v1/app/{app_id}/endpoint",
        ids: &[("endpoint_id", "/id")],
    },
    IdSource {
        method: HttpMethod::Post,
        path: "/api/v1/app/{app_id}/msg",
        ids: &[("msg_id", "/id")],
    },
    IdSource {
        method: HttpMethod::Get,
        path: "/api/v1/app/{app_id}/attempt/msg/{msg_id}",
        ids: &[
            ("attempt_id", "/data/0/id"),
            ("endpoint_id", "/data/0/endpointId"),
        ],
    },
    IdSource {
        method: HttpMethod::Post,
        path: "/api/v1/event-type",
        ids: &[("name", "/name")],
    },
    IdSource {
        method: HttpMethod::Post,
        path: "/api/v1/source",
        ids: &[("source_id", "/id"), ("app_id", "/appId")],
    },
    IdSource {
        method: HttpMethod::Post,
        path: "/in/{source_id}",
        ids: &[("request_id", "/requestId")],
    },
    IdSource {
        method: HttpMethod::Post,
        path: "/api/v1/bin",
        ids: &[("bin_id", "/id")],
    },
    IdSource {
        method: HttpMethod::Get,
        path: "/api/v1/bin/{bin_id}/request",
        ids: &[("request_id", "/data/0/id")],
    },
];

/// A body field that refers to an id, named by the path parameter that takes the same id.
struct IdField {
    method: HttpMethod,
    path: &'static str,
    field: &'static str,
    parameter: &'static str,
}

/// A source belongs to an application that must exist (an unknown `appId` is a 404).
const ID_FIELDS: &[IdField] = &[
    IdField {
        method: HttpMethod::Post,
        path: "/api/v1/source",
        field: "appId",
        parameter: "app_id",
    },
    IdField {
        method: HttpMethod::Put,
        path: "/api/v1/source/{source_id}",
        field: "appId",
        parameter: "app_id",
    },
];

/// Adds to each 2xx answer of an [`ID_SOURCES`] operation a link to every other operation
/// that takes one of its ids and needs nothing the link cannot give. A link gives the
/// answer's ids (`$response.body#/id`) and the source's own path parameters
/// (`$request.path.app_id`), and only reaches operations under the same path parameters:
/// an endpoint's id feeds the endpoint operations of its application, and never an
/// operation that also needs a message id.
pub(super) struct IdLinks;

impl Modify for IdLinks {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let operations: Vec<(String, HttpMethod)> = openapi
            .paths
            .paths
            .iter()
            .flat_map(|(path, item)| {
                METHODS
                    .into_iter()
                    .filter(|method| operation(item, method).is_some())
                    .map(move |method| (path.clone(), method))
            })
            .collect();
        for source in ID_SOURCES {
            let links: Vec<(String, Link)> = operations
                .iter()
                .filter(|(path, method)| !(path == source.path && *method == source.method))
                .filter_map(|(path, method)| {
                    Some((link_name(method, path), link(source, path, method)?))
                })
                .collect();
            let item = openapi
                .paths
                .paths
                .get_mut(source.path)
                .unwrap_or_else(|| panic!("{} is in the document", source.path));
            let operation = operation_mut(item, &source.method)
                .unwrap_or_else(|| panic!("{} has the method of its row", source.path));
            for (status, response) in &mut operation.responses.responses {
                if let (true, RefOr::T(response)) = (status.starts_with('2'), response) {
                    for (name, link) in &links {
                        response.links.insert(name.clone(), RefOr::T(link.clone()));
                    }
                }
            }
        }
    }
}

/// The link from `source`'s answer to the operation at `path`, if the answer and its
/// request give all that operation needs and it takes one of the answer's ids.
fn link(source: &IdSource, path: &str, method: &HttpMethod) -> Option<Link> {
    let given = path_parameters(source.path);
    let taken = path_parameters(path);
    let fields: Vec<&IdField> = ID_FIELDS
        .iter()
        .filter(|field| field.path == path && field.method == *method)
        .collect();
    let needed = || {
        taken
            .iter()
            .copied()
            .chain(fields.iter().map(|field| field.parameter))
    };
    let expression = |parameter: &str| -> Option<String> {
        match source.ids.iter().find(|(id, _)| *id == parameter) {
            Some((_, pointer)) => Some(format!("$response.body#{pointer}")),
            None if given.contains(&parameter) => Some(format!("$request.path.{parameter}")),
            None => None,
        }
    };
    let fits = given.iter().all(|parameter| taken.contains(parameter))
        && needed().any(|parameter| source.ids.iter().any(|(id, _)| *id == parameter))
        && needed().all(|parameter| expression(parameter).is_some());
    if !fits {
        return None;
    }
    let operation_ref = format!(
        "#/paths/{}/{}",
        path.replace('~', "~0").replace('/', "~1"),
        method_name(method)
    );
    let body = (!fields.is_empty()).then(|| {
        fields
            .iter()
            .filter_map(|field| Some((field.field.to_owned(), expression(field.parameter)?.into())))
            .collect::<serde_json::Map<String, Value>>()
    });
    let parameters: BTreeMap<&str, String> = taken
        .iter()
        .filter_map(|parameter| Some((*parameter, expression(parameter)?)))
        .collect();
    let description = needed()
        .map(
            |parameter| match source.ids.iter().find(|(id, _)| *id == parameter) {
                Some((_, pointer)) => format!("`{parameter}` is the answer's `{pointer}`"),
                None => format!("`{parameter}` is the request's"),
            },
        )
        .collect::<Vec<_>>()
        .join("; ");
    let mut link = LinkBuilder::new()
        .operation_ref(operation_ref)
        .request_body(body)
        .description(description);
    for (parameter, expression) in parameters {
        link = link.parameter(parameter, expression);
    }
    Some(link.build())
}

/// Renames the fields of the document's links that utoipa writes under their Rust names.
///
/// N.B.: utoipa 5.5 writes `Link`'s `operation_ref`, `operation_id` and `request_body`
/// under those names, which no reader knows: its `Link` lacks the camelCase renaming its
/// other types have. The document is serialised through this (`openapi::document_value`).
pub(super) fn rename_link_fields(document: &mut Value) {
    let operations = document
        .get_mut("paths")
        .and_then(Value::as_object_mut)
        .into_iter()
        .flat_map(|paths| paths.values_mut())
        .filter_map(Value::as_object_mut)
        .flat_map(|item| item.values_mut());
    for operation in operations {
        let responses = operation
            .get_mut("responses")
            .and_then(Value::as_object_mut)
            .into_iter()
            .flat_map(|responses| responses.values_mut());
        for response in responses {
            let links = response
                .get_mut("links")
                .and_then(Value::as_object_mut)
                .into_iter()
                .flat_map(|links| links.values_mut())
                .filter_map(Value::as_object_mut);
            for link in links {
                *link = std::mem::take(link)
                    .into_iter()
                    .map(|(key, value)| {
                        let key = match key.as_str() {
                            "operation_ref" => "operationRef".to_owned(),
                            "operation_id" => "operationId".to_owned(),
                            "request_body" => "requestBody".to_owned(),
                            _ => key,
                        };
                        (key, value)
                    })
                    .collect();
            }
        }
    }
}

const METHODS: [HttpMethod; 5] = [
    HttpMethod::Get,
    HttpMethod::Put,
    HttpMethod::Post,
    HttpMethod::Delete,
    HttpMethod::Patch,
];

fn operation<'a>(item: &'a PathItem, method: &HttpMethod) -> Option<&'a Operation> {
    match method {
        HttpMethod::Get => item.get.as_ref(),
        HttpMethod::Put => item.put.as_ref(),
        HttpMethod::Post => item.post.as_ref(),
        HttpMethod::Delete => item.delete.as_ref(),
        HttpMethod::Patch => item.patch.as_ref(),
        _ => None,
    }
}

fn operation_mut<'a>(item: &'a mut PathItem, method: &HttpMethod) -> Option<&'a mut Operation> {
    match method {
        HttpMethod::Get => item.get.as_mut(),
        HttpMethod::Put => item.put.as_mut(),
        HttpMethod::Post => item.post.as_mut(),
        HttpMethod::Delete => item.delete.as_mut(),
        HttpMethod::Patch => item.patch.as_mut(),
        _ => None,
    }
}

fn method_name(method: &HttpMethod) -> &'static str {
    match method {
        HttpMethod::Get => "get",
        HttpMethod::Put => "put",
        HttpMethod::Post => "post",
        HttpMethod::Delete => "delete",
        HttpMethod::Patch => "patch",
        _ => unreachable!("links join only the methods in METHODS"),
    }
}

/// The names in braces of a path template, in order.
fn path_parameters(path: &str) -> Vec<&str> {
    path.split('/')
        .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
        .collect()
}

/// A link's name (a component name: letters, digits, `.`, `-`, `_`) from its target:
/// `GET /api/v1/app/{app_id}/endpoint` is `get.app.app_id.endpoint`.
fn link_name(method: &HttpMethod, path: &str) -> String {
    let path = path.strip_prefix("/api/v1").unwrap_or(path);
    let segments = path
        .split('/')
        .filter(|segment| !segment.is_empty())
        .map(|segment| segment.trim_start_matches('{').trim_end_matches('}'));
    std::iter::once(method_name(method))
        .chain(segments)
        .collect::<Vec<_>>()
        .join(".")
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::Value;

    fn document() -> Value {
        super::super::document_value()
    }

    /// Follows `$ref`s within the document.
    fn resolved<'a>(document: &'a Value, mut schema: &'a Value) -> &'a Value {
        while let Some(reference) = schema["$ref"].as_str() {
            schema = document
                .pointer(reference.trim_start_matches('#'))
                .unwrap_or_else(|| panic!("{reference} resolves"));
        }
        schema
    }

    /// The schema of the field at `pointer` (`/data/0/id`) in `schema`.
    fn field<'a>(document: &'a Value, schema: &'a Value, pointer: &str) -> &'a Value {
        pointer.trim_start_matches('/').split('/').fold(
            resolved(document, schema),
            |schema, segment| {
                let next = if segment.parse::<usize>().is_ok() {
                    &schema["items"]
                } else {
                    &schema["properties"][segment]
                };
                resolved(document, next)
            },
        )
    }

    /// Whether `schema` (or a schema it refers to, or one of its `allOf`) has `field`.
    fn has_property(document: &Value, schema: &Value, field: &str) -> bool {
        let schema = resolved(document, schema);
        schema["properties"].get(field).is_some()
            || schema["allOf"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|part| has_property(document, part, field))
    }

    /// Every link of the document: (source method, source path, answer, name, link).
    fn links(document: &Value) -> Vec<(String, String, Value, String, Value)> {
        let mut found = Vec::new();
        for (path, item) in document["paths"].as_object().unwrap() {
            for (method, operation) in item.as_object().unwrap() {
                for response in operation["responses"].as_object().unwrap().values() {
                    for (name, link) in response["links"].as_object().into_iter().flatten() {
                        found.push((
                            method.clone(),
                            path.clone(),
                            response.clone(),
                            name.clone(),
                            link.clone(),
                        ));
                    }
                }
            }
        }
        found
    }

    #[test]
    fn links_reach_every_operation_that_takes_an_id_and_give_all_it_takes() {
        let document = document();
        let mut targets = BTreeSet::new();
        for (method, path, _, name, link) in links(&document) {
            let context = format!("{method} {path} -> {name}");
            let reference = link["operationRef"].as_str().expect("operationRef");
            let (target_path, target_method) = reference
                .strip_prefix("#/paths/")
                .and_then(|rest| rest.rsplit_once('/'))
                .unwrap();
            let target_path = target_path.replace("~1", "/").replace("~0", "~");
            let target = &document["paths"][&target_path][target_method];
            assert!(target.is_object(), "{context}: {reference}");
            let mut given: Vec<&str> = link["parameters"]
                .as_object()
                .into_iter()
                .flat_map(|parameters| parameters.keys())
                .map(String::as_str)
                .collect();
            let mut taken = super::path_parameters(&target_path);
            given.sort_unstable();
            taken.sort_unstable();
            assert_eq!(given, taken, "{context}");
            let fields: Vec<&str> = super::ID_FIELDS
                .iter()
                .filter(|field| {
                    field.path == target_path && super::method_name(&field.method) == target_method
                })
                .map(|field| field.field)
                .collect();
            let body_fields: Vec<&str> = link["requestBody"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(field, _)| field.as_str())
                .collect();
            assert_eq!(body_fields, fields, "{context}");
            for field in fields {
                let body = &target["requestBody"]["content"]["application/json"]["schema"];
                assert!(
                    has_property(&document, body, field),
                    "{context}: the body has no {field}"
                );
            }
            targets.insert(format!("{target_method} {target_path}"));
        }
        for (path, item) in document["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                if path.contains('{') {
                    assert!(
                        targets.contains(&format!("{method} {path}")),
                        "no link leads to {method} {path}"
                    );
                }
            }
        }
    }

    #[test]
    fn each_id_a_link_reads_is_a_string_of_its_answer_or_request() {
        let document = document();
        for (method, path, response, name, link) in links(&document) {
            let context = format!("{method} {path} -> {name}");
            let expressions = link["parameters"]
                .as_object()
                .into_iter()
                .flat_map(|parameters| parameters.values())
                .chain(
                    link["requestBody"]
                        .as_object()
                        .into_iter()
                        .flatten()
                        .map(|(_, value)| value),
                );
            for expression in expressions {
                let expression = expression.as_str().unwrap();
                if let Some(parameter) = expression.strip_prefix("$request.path.") {
                    assert!(path.contains(&format!("{{{parameter}}}")), "{context}");
                    continue;
                }
                let pointer = expression
                    .strip_prefix("$response.body#")
                    .unwrap_or_else(|| panic!("{context}: {expression}"));
                let body = &response["content"]["application/json"]["schema"];
                let schema = field(&document, body, pointer);
                assert_eq!(schema["type"], "string", "{context}: {pointer} is {schema}");
            }
        }
    }
}
