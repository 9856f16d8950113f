//! `POST /api/v1/app/{app}/msg/precheck/active`: whether a message would reach any enabled
//! endpoint, by the endpoints' event type and channel filters, as they are now.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::TestServer;

#[tokio::test]
async fn precheck_says_whether_an_enabled_endpoint_would_get_the_message() {
    let server = TestServer::start().await;
    let app = server.app("Acme").await;
    let precheck = format!("/api/v1/app/{app}/msg/precheck/active");
    let active = |body: serde_json::Value| {
        let (server, path) = (&server, &precheck);
        async move {
            let (status, answer) = server.post(path, body.clone()).await;
            assert_eq!(status, StatusCode::OK, "{body}: {answer}");
            answer["active"].as_bool().expect("active is a boolean")
        }
    };
    assert!(
        !active(json!({"eventType": "invoice.paid"})).await,
        "no endpoint yet"
    );

    let endpoint = server
        .endpoint(
            &app,
            json!({"url": "http://127.0.0.1:9/hook", "filterTypes": ["invoice.paid"], "channels": ["eu"]}),
        )
        .await;
    assert!(active(json!({"eventType": "invoice.paid", "channels": ["eu", "us"]})).await);
    assert!(!active(json!({"eventType": "invoice.paid", "channels": ["us"]})).await);
    assert!(
        !active(json!({"eventType": "invoice.paid"})).await,
        "the endpoint wants eu"
    );
    assert!(!active(json!({"eventType": "user.created", "channels": ["eu"]})).await);

    let (status, _) = server
        .call(
            Method::PATCH,
            &format!("/api/v1/app/{app}/endpoint/{endpoint}"),
            Some(json!({"disabled": true})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        !active(json!({"eventType": "invoice.paid", "channels": ["eu"]})).await,
        "a disabled endpoint gets nothing"
    );

    for (body, field) in [
        (json!({}), "eventType"),
        (json!({"eventType": "bad type!"}), "eventType"),
        (
            json!({"eventType": "a.b", "channels": vec!["x"; 11]}),
            "channels",
        ),
    ] {
        let (status, answer) = server.post(&precheck, body.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {answer}");
        assert!(
            answer["detail"].as_str().unwrap().contains(field),
            "{answer}"
        );
    }
    let (status, _) = server
        .post(
            "/api/v1/app/app_nope/msg/precheck/active",
            json!({"eventType": "a.b"}),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    server.stop().await;
}
