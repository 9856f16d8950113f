//! Conformance: applications, endpoints, event types, settings and idempotency keys.
//!
//! Invariant checked throughout: a record reads back exactly as written, a unique field
//! clash is `Conflict`, and a tenant-scoped lookup never crosses applications.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use hookd_core::model::RetiredSecret;
use hookd_core::signature::SignatureScheme;

use super::{expect_conflict, expect_not_found, fixtures};
use crate::{Store, StoredResponse};

/// Applications: create, read by id and uid, update, list, delete.
pub async fn application_crud(store: Arc<dyn Store>) {
    let mut application = fixtures::application_with_uid("Acme", "acme-uid");
    application.throttle_rate = Some(50);
    application.metadata.insert("plan".into(), "gold".into());
    store.create_application(&application).await.unwrap();

    assert_eq!(
        store.application(application.id.as_str()).await.unwrap(),
        application
    );
    assert_eq!(store.application("acme-uid").await.unwrap(), application);
    expect_not_found(store.application("no-such-uid").await, "application");

    let mut updated = application.clone();
    updated.name = "Acme Corp".into();
    updated.uid = Some("acme-2".into());
    updated.throttle_rate = None;
    updated.metadata.insert("region".into(), "eu".into());
    updated.updated_at = fixtures::later(application.updated_at, Duration::from_secs(1));
    store.update_application(&updated).await.unwrap();
    assert_eq!(
        store.application(application.id.as_str()).await.unwrap(),
        updated
    );
    assert_eq!(store.application("acme-2").await.unwrap(), updated);
    expect_not_found(store.application("acme-uid").await, "application");

    let listed = store
        .list_applications(&fixtures::first_page(10))
        .await
        .unwrap();
    assert_eq!(listed.items, vec![updated.clone()]);

    let missing = fixtures::application("ghost");
    expect_not_found(store.update_application(&missing).await, "application");

    store.delete_application(&application.id).await.unwrap();
    expect_not_found(
        store.application(application.id.as_str()).await,
        "application",
    );
    expect_not_found(
        store.delete_application(&application.id).await,
        "application",
    );
}

/// A uid names one application; applications without a uid never clash.
pub async fn application_uid_conflict(store: Arc<dyn Store>) {
    let first = fixtures::application_with_uid("First", "shared");
    store.create_application(&first).await.unwrap();
    let message = expect_conflict(
        store
            .create_application(&fixtures::application_with_uid("Second", "shared"))
            .await,
    );
    assert!(
        message.contains("shared"),
        "conflict should name the uid: {message}"
    );

    let mut second = fixtures::application_with_uid("Second", "other");
    store.create_application(&second).await.unwrap();
    second.uid = Some("shared".into());
    expect_conflict(store.update_application(&second).await);
    assert_eq!(store.application("other").await.unwrap().name, "Second");

    store
        .create_application(&fixtures::application("no uid 1"))
        .await
        .unwrap();
    store
        .create_application(&fixtures::application("no uid 2"))
        .await
        .unwrap();
}

/// Endpoints: every field round-trips, and an endpoint of application A does not exist
/// when asked for through application B.
pub async fn endpoint_crud_is_scoped_to_its_application(store: Arc<dyn Store>) {
    let app_a = fixtures::application("A");
    let app_b = fixtures::application("B");
    store.create_application(&app_a).await.unwrap();
    store.create_application(&app_b).await.unwrap();

    let mut endpoint = fixtures::endpoint_with_uid(&app_a.id, "https://a.example/hook", "ep-a");
    endpoint.description = "billing".into();
    endpoint.event_types = Some(vec!["invoice.paid".into(), "invoice.failed".into()]);
    endpoint.channels = Some(vec!["eu".into()]);
    endpoint.throttle_rate = Some(10);
    endpoint.metadata.insert("team".into(), "payments".into());
    endpoint.headers.insert("x-custom".into(), "1".into());
    endpoint.retired_secrets.push(RetiredSecret {
        secret: "whsec_old".into(),
        expires_at: fixtures::later(endpoint.created_at, Duration::from_secs(86_400)),
    });
    endpoint.signature_scheme = SignatureScheme::HmacSha256Hex;
    endpoint.signature_header = Some("x-signature".into());
    endpoint.forward_source_headers = true;
    endpoint.failing_since = Some(endpoint.created_at);
    store.create_endpoint(&endpoint).await.unwrap();

    assert_eq!(
        store
            .endpoint(&app_a.id, endpoint.id.as_str())
            .await
            .unwrap(),
        endpoint
    );
    assert_eq!(store.endpoint(&app_a.id, "ep-a").await.unwrap(), endpoint);
    expect_not_found(
        store.endpoint(&app_b.id, endpoint.id.as_str()).await,
        "endpoint",
    );
    expect_not_found(store.endpoint(&app_b.id, "ep-a").await, "endpoint");

    let listed = store
        .list_endpoints(&app_a.id, &fixtures::first_page(10))
        .await
        .unwrap();
    assert_eq!(listed.items, vec![endpoint.clone()]);
    let listed = store
        .list_endpoints(&app_b.id, &fixtures::first_page(10))
        .await
        .unwrap();
    assert!(listed.items.is_empty() && listed.done);

    let mut updated = endpoint.clone();
    updated.url = "https://a.example/v2".into();
    updated.uid = None;
    updated.event_types = None;
    updated.channels = None;
    updated.headers = BTreeMap::new();
    updated.retired_secrets.clear();
    updated.signature_scheme = SignatureScheme::Stripe;
    updated.signature_header = None;
    updated.forward_source_headers = false;
    updated.failing_since = None;
    updated.disabled = true;
    updated.updated_at = fixtures::later(endpoint.updated_at, Duration::from_secs(1));
    store.update_endpoint(&updated).await.unwrap();
    assert_eq!(
        store
            .endpoint(&app_a.id, endpoint.id.as_str())
            .await
            .unwrap(),
        updated
    );
    expect_not_found(store.endpoint(&app_a.id, "ep-a").await, "endpoint");

    let mut foreign = updated.clone();
    foreign.app_id = app_b.id.clone();
    expect_not_found(store.update_endpoint(&foreign).await, "endpoint");
    expect_not_found(
        store.delete_endpoint(&app_b.id, &endpoint.id).await,
        "endpoint",
    );

    store
        .delete_endpoint(&app_a.id, &endpoint.id)
        .await
        .unwrap();
    expect_not_found(
        store.endpoint(&app_a.id, endpoint.id.as_str()).await,
        "endpoint",
    );
    expect_not_found(
        store.delete_endpoint(&app_a.id, &endpoint.id).await,
        "endpoint",
    );

    let orphan = fixtures::endpoint(&fixtures::application_id(), "https://x.example");
    expect_not_found(store.create_endpoint(&orphan).await, "application");
}

/// A uid names one endpoint inside its application; another application may reuse it.
pub async fn endpoint_uid_conflict_is_per_application(store: Arc<dyn Store>) {
    let app_a = fixtures::application("A");
    let app_b = fixtures::application("B");
    store.create_application(&app_a).await.unwrap();
    store.create_application(&app_b).await.unwrap();

    let first = fixtures::endpoint_with_uid(&app_a.id, "https://a.example/1", "orders");
    store.create_endpoint(&first).await.unwrap();
    let clash = fixtures::endpoint_with_uid(&app_a.id, "https://a.example/2", "orders");
    let message = expect_conflict(store.create_endpoint(&clash).await);
    assert!(
        message.contains("orders"),
        "conflict should name the uid: {message}"
    );

    let elsewhere = fixtures::endpoint_with_uid(&app_b.id, "https://b.example/1", "orders");
    store.create_endpoint(&elsewhere).await.unwrap();
    assert_eq!(
        store.endpoint(&app_b.id, "orders").await.unwrap(),
        elsewhere
    );
    assert_eq!(store.endpoint(&app_a.id, "orders").await.unwrap(), first);

    let mut second = fixtures::endpoint_with_uid(&app_a.id, "https://a.example/3", "other");
    store.create_endpoint(&second).await.unwrap();
    second.uid = Some("orders".into());
    expect_conflict(store.update_endpoint(&second).await);
}

/// The fan-out set is the application's endpoints that are not disabled.
pub async fn active_endpoints_exclude_disabled(store: Arc<dyn Store>) {
    let (application, endpoints) = super::app_with_endpoints(store.as_ref(), 3).await;
    let (_, others) = super::app_with_endpoints(store.as_ref(), 1).await;
    let mut disabled = endpoints[1].clone();
    disabled.disabled = true;
    store.update_endpoint(&disabled).await.unwrap();

    let mut active = store.active_endpoints(&application.id).await.unwrap();
    active.sort_by(|a, b| a.id.cmp(&b.id));
    let mut expected = vec![endpoints[0].clone(), endpoints[2].clone()];
    expected.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(active, expected);
    assert!(!active.iter().any(|endpoint| endpoint.id == others[0].id));
}

/// Event types: create, read, update, delete, and a name clash is `Conflict`.
pub async fn event_type_crud(store: Arc<dyn Store>) {
    let mut event_type = fixtures::event_type("invoice.paid");
    let mut schemas = serde_json::Map::new();
    schemas.insert(
        "1".into(),
        serde_json::json!({"type": "object", "properties": {"amount": {"type": "integer"}}}),
    );
    event_type.schemas = Some(schemas);
    event_type.group_name = Some("billing".into());
    event_type.feature_flags = Some(vec!["beta".into()]);
    store.create_event_type(&event_type).await.unwrap();
    assert_eq!(store.event_type("invoice.paid").await.unwrap(), event_type);

    let message = expect_conflict(
        store
            .create_event_type(&fixtures::event_type("invoice.paid"))
            .await,
    );
    assert!(
        message.contains("invoice.paid"),
        "conflict should name the type: {message}"
    );

    let mut updated = event_type.clone();
    updated.description = "paid in full".into();
    updated.deprecated = true;
    updated.schemas = None;
    updated.group_name = None;
    updated.feature_flags = None;
    updated.updated_at = fixtures::later(event_type.updated_at, Duration::from_secs(1));
    store.update_event_type(&updated).await.unwrap();
    assert_eq!(store.event_type("invoice.paid").await.unwrap(), updated);

    expect_not_found(store.event_type("nope").await, "event type");
    expect_not_found(
        store.update_event_type(&fixtures::event_type("nope")).await,
        "event type",
    );

    store.delete_event_type("invoice.paid").await.unwrap();
    expect_not_found(store.event_type("invoice.paid").await, "event type");
    expect_not_found(store.delete_event_type("invoice.paid").await, "event type");
}

/// Archived event types are listed only on request.
pub async fn event_type_listing_hides_archived(store: Arc<dyn Store>) {
    let live = fixtures::event_type("a.live");
    let mut archived = fixtures::event_type("b.archived");
    archived.archived = true;
    store.create_event_type(&live).await.unwrap();
    store.create_event_type(&archived).await.unwrap();

    let page = fixtures::first_page(10);
    let visible = store.list_event_types(&page, false).await.unwrap();
    assert_eq!(visible.items, vec![live.clone()]);
    assert!(visible.done);
    let everything = store.list_event_types(&page, true).await.unwrap();
    assert_eq!(everything.items, vec![live, archived]);
}

/// Settings: absent until set, set-if-absent sets once, set overwrites.
pub async fn settings(store: Arc<dyn Store>) {
    assert_eq!(store.setting("instance.id").await.unwrap(), None);
    assert!(store
        .set_setting_if_absent("instance.id", "one")
        .await
        .unwrap());
    assert!(!store
        .set_setting_if_absent("instance.id", "two")
        .await
        .unwrap());
    assert_eq!(
        store.setting("instance.id").await.unwrap().as_deref(),
        Some("one")
    );
    store.set_setting("instance.id", "three").await.unwrap();
    assert_eq!(
        store.setting("instance.id").await.unwrap().as_deref(),
        Some("three")
    );
    store.set_setting("other", "").await.unwrap();
    assert_eq!(store.setting("other").await.unwrap().as_deref(), Some(""));
}

/// Idempotency keys: the first response wins, and a response older than `not_before`
/// is not returned.
pub async fn idempotent_responses(store: Arc<dyn Store>) {
    let t0 = fixtures::now();
    let long_ago = fixtures::earlier(t0, Duration::from_secs(3600));
    assert_eq!(
        store.idempotent_response("key-1", long_ago).await.unwrap(),
        None
    );

    let first = StoredResponse {
        status: 201,
        body: br#"{"id":"msg_1"}"#.to_vec(),
    };
    let second = StoredResponse {
        status: 500,
        body: b"\x00\xffnot json".to_vec(),
    };
    store
        .save_idempotent_response("key-1", &first, t0)
        .await
        .unwrap();
    let later = fixtures::later(t0, Duration::from_secs(1));
    store
        .save_idempotent_response("key-1", &second, later)
        .await
        .unwrap();
    assert_eq!(
        store.idempotent_response("key-1", long_ago).await.unwrap(),
        Some(first)
    );

    let after_it = fixtures::later(t0, Duration::from_secs(60));
    assert_eq!(
        store.idempotent_response("key-1", after_it).await.unwrap(),
        None
    );

    store
        .save_idempotent_response("key-2", &second, t0)
        .await
        .unwrap();
    assert_eq!(
        store.idempotent_response("key-2", long_ago).await.unwrap(),
        Some(second)
    );
}

/// A healthy store answers a ping.
pub async fn ping(store: Arc<dyn Store>) {
    store.ping().await.unwrap();
}
