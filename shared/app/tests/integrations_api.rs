//! The integrations API through the real router, on the embedded store.

mod support;

use affnet_app::router;
use affnet_app::{AppState, Config};
use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{Value, json};
use support::{call, send, sqlite_state};

const TUNE_KEY: &str = "NETtopsecretnetworktoken0001";
const LEADBIT_KEY: &str = "leadbit-secret-api-token-42";

fn app() -> (Router, AppState) {
    let state = sqlite_state(Config::for_tests());
    (router::local(state.clone()), state)
}

fn tune_body() -> Value {
    json!({
        "network": "tune",
        "name": "Main TUNE account",
        "credentials": {"api_key": TUNE_KEY},
        "settings": {"network_id": "demo", "offer_name_prefix": "[T1] "}
    })
}

fn assert_no_secret(reply: &support::Reply) {
    for secret in [TUNE_KEY, LEADBIT_KEY, "rotated-secret-value"] {
        assert!(
            !reply.text.contains(secret),
            "secret leaked in {}",
            reply.text
        );
    }
}

async fn count(router: &Router) -> usize {
    let reply = call(router, "GET", "/integrations?limit=100", None).await;
    assert_eq!(reply.status, StatusCode::OK);
    reply.json["items"].as_array().unwrap().len()
}

#[tokio::test]
async fn networks_lists_the_catalogue() {
    let (router, _) = app();
    let reply = call(&router, "GET", "/networks", None).await;
    assert_eq!(reply.status, StatusCode::OK);
    let networks = reply.json["networks"].as_array().unwrap();
    let tune = networks.iter().find(|n| n["slug"] == "tune").unwrap();
    assert_eq!(tune["kind"], "tune");
    assert_eq!(tune["credentials"][0]["key"], "api_key");
    let leadbit = networks.iter().find(|n| n["slug"] == "leadbit").unwrap();
    assert_eq!(
        leadbit["postbacks"][0]["tail"],
        "&oid={sub1}&status={status}"
    );
}

#[tokio::test]
async fn create_tune_and_leadbit_with_defaults_and_no_secrets() {
    let (router, state) = app();
    let tune = call(&router, "POST", "/integrations", Some(tune_body())).await;
    assert_eq!(tune.status, StatusCode::CREATED, "{}", tune.text);
    assert_no_secret(&tune);
    let j = &tune.json;
    assert_eq!(j["network"], "tune");
    assert_eq!(j["name"], "Main TUNE account");
    assert_eq!(j["active"], true);
    assert_eq!(j["timeout_ms"], 10000);
    assert_eq!(j["credentials_set"], json!(["api_key"]));
    assert_eq!(j["settings"]["api_domain"], "api.hasoffers.com");
    assert_eq!(j["settings"]["api_mode"], "network");
    assert_eq!(j["settings"]["network_id"], "demo");
    assert_eq!(j["settings"]["offer_name_prefix"], "[T1]");
    assert_eq!(
        j["settings"]["auto_sync"],
        json!({"enabled": false, "frequency": "daily"})
    );
    let token = j["postback_token"].as_str().unwrap();
    assert!(token.len() >= 32 && token.chars().all(|c| c.is_ascii_hexdigit()));
    assert!(j["created_at"].is_string() && j["updated_at"].is_string());

    let leadbit = call(
        &router,
        "POST",
        "/integrations",
        Some(json!({"network": "leadbit", "name": "LeadBit", "credentials": {"api_key": LEADBIT_KEY}, "timeout_ms": 5000, "active": false})),
    )
    .await;
    assert_eq!(leadbit.status, StatusCode::CREATED, "{}", leadbit.text);
    assert_no_secret(&leadbit);
    assert_eq!(leadbit.json["active"], false);
    assert_eq!(leadbit.json["timeout_ms"], 5000);
    assert_ne!(leadbit.json["postback_token"], j["postback_token"]);

    // The store holds the secret; the API never shows it.
    let id = j["id"].as_str().unwrap();
    let stored = state.repo.get_integration(id).await.unwrap().unwrap();
    assert_eq!(stored.credentials["api_key"], TUNE_KEY);
    let get = call(&router, "GET", &format!("/integrations/{id}"), None).await;
    assert_eq!(get.status, StatusCode::OK);
    assert_eq!(get.json["postback_token"], j["postback_token"]);
    assert_no_secret(&get);
    let list = call(&router, "GET", "/integrations", None).await;
    assert_eq!(list.json["items"].as_array().unwrap().len(), 2);
    assert_no_secret(&list);
}

#[tokio::test]
async fn invalid_bodies_are_refused_with_the_field_and_store_nothing() {
    let (router, _) = app();
    let cases: Vec<(Value, &str, &str)> = vec![
        (
            json!({"network": "nope", "name": "x", "credentials": {}}),
            "unknown_network",
            "network",
        ),
        (json!({"name": "x"}), "missing_field", "network"),
        (
            json!({"network": "tune", "credentials": {"api_key": "k"}, "settings": {"network_id": "n"}}),
            "missing_field",
            "name",
        ),
        (
            json!({"network": "tune", "name": "x", "settings": {"network_id": "n"}}),
            "missing_field",
            "credentials.api_key",
        ),
        (
            json!({"network": "tune", "name": "x", "credentials": {"api_key": "k"}}),
            "missing_field",
            "settings.network_id",
        ),
        (
            json!({"network": "tune", "name": "x", "credentials": {"api_key": "k", "password": "p"}, "settings": {"network_id": "n"}}),
            "unknown_field",
            "credentials.password",
        ),
        (
            json!({"network": "tune", "name": "x", "credentials": {"api_key": "k"}, "settings": {"network_id": "n", "colour": "red"}}),
            "unknown_field",
            "settings.colour",
        ),
        (
            json!({"network": "tune", "name": "x", "credentials": {"api_key": "k"}, "settings": {"network_id": "n"}, "extra": 1}),
            "unknown_field",
            "extra",
        ),
        (
            json!({"network": "tune", "name": "x", "credentials": {"api_key": "k"}, "settings": {"network_id": "n"}, "timeout_ms": "fast"}),
            "wrong_type",
            "timeout_ms",
        ),
        (
            json!({"network": "tune", "name": "x", "credentials": {"api_key": "k"}, "settings": {"network_id": "n"}, "timeout_ms": 999}),
            "out_of_range",
            "timeout_ms",
        ),
        (
            json!({"network": "tune", "name": "x", "credentials": {"api_key": "k"}, "settings": {"network_id": "n"}, "timeout_ms": 60001}),
            "out_of_range",
            "timeout_ms",
        ),
        (
            json!({"network": "tune", "name": "x", "credentials": {"api_key": "k"}, "settings": {"network_id": "n", "api_mode": "admin"}}),
            "invalid_value",
            "settings.api_mode",
        ),
        (
            json!({"network": "tune", "name": "x", "credentials": {"api_key": "k"}, "settings": {"network_id": "n", "auto_sync": {"frequency": "weekly"}}}),
            "invalid_value",
            "settings.auto_sync.frequency",
        ),
        (
            json!({"network": "tune", "name": "x", "credentials": {"api_key": "k"}, "settings": {"network_id": "n", "ip_allowlist": ["10.0.0.0/33"]}}),
            "invalid_value",
            "settings.ip_allowlist[0]",
        ),
        (
            json!({"network": "tune", "name": "  ", "credentials": {"api_key": "k"}, "settings": {"network_id": "n"}}),
            "out_of_range",
            "name",
        ),
        (
            json!({"network": "tune", "name": "x", "credentials": {"api_key": 5}, "settings": {"network_id": "n"}}),
            "wrong_type",
            "credentials.api_key",
        ),
        (
            json!({"network": "tune", "name": "x", "active": "yes", "credentials": {"api_key": "k"}, "settings": {"network_id": "n"}}),
            "wrong_type",
            "active",
        ),
        (json!(["not", "an", "object"]), "wrong_type", "body"),
    ];
    for (body, code, field) in cases {
        let reply = call(&router, "POST", "/integrations", Some(body.clone())).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{body}: {}",
            reply.text
        );
        assert_eq!(reply.json["error"]["code"], code, "{body}: {}", reply.text);
        assert_eq!(
            reply.json["error"]["field"], field,
            "{body}: {}",
            reply.text
        );
        assert!(reply.json["error"]["message"].as_str().unwrap().len() > 5);
    }
    assert_eq!(count(&router).await, 0);
}

#[tokio::test]
async fn malformed_and_oversized_bodies() {
    let (router, _) = app();
    let request = Request::post("/integrations")
        .header("content-type", "application/json")
        .body(Body::from("{\"network\": \"tune\","))
        .unwrap();
    let reply = send(&router, request).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.json["error"]["code"], "malformed_json");

    let huge = json!({"network": "tune", "name": "x".repeat(70_000)});
    let reply = call(&router, "POST", "/integrations", Some(huge)).await;
    assert_eq!(reply.status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(reply.json["error"]["code"], "body_too_large");
    assert_eq!(count(&router).await, 0);
}

#[tokio::test]
async fn unknown_ids_are_404() {
    let (router, _) = app();
    for (method, body) in [
        ("GET", None),
        ("PATCH", Some(json!({"name": "y"}))),
        ("DELETE", None),
    ] {
        let reply = call(&router, method, "/integrations/01NOPE", body).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{method}");
        assert_eq!(reply.json["error"]["code"], "not_found");
    }
    let reply = call(&router, "POST", "/integrations/01NOPE/rotate-token", None).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn patch_is_partial_and_validated() {
    let (router, state) = app();
    let created = call(&router, "POST", "/integrations", Some(tune_body())).await;
    let id = created.json["id"].as_str().unwrap().to_string();
    let path = format!("/integrations/{id}");

    let reply = call(
        &router,
        "PATCH",
        &path,
        Some(json!({"name": "Renamed", "settings": {"auto_sync": {"enabled": true}}, "credentials": {"api_key": "rotated-secret-value"}})),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_no_secret(&reply);
    assert_eq!(reply.json["name"], "Renamed");
    assert_eq!(
        reply.json["settings"]["auto_sync"],
        json!({"enabled": true, "frequency": "daily"})
    );
    assert_eq!(
        reply.json["settings"]["network_id"], "demo",
        "untouched settings stay"
    );
    assert_eq!(reply.json["postback_token"], created.json["postback_token"]);
    let stored = state.repo.get_integration(&id).await.unwrap().unwrap();
    assert_eq!(stored.credentials["api_key"], "rotated-secret-value");

    // null drops an optional setting; a required one cannot be dropped.
    let reply = call(
        &router,
        "PATCH",
        &path,
        Some(json!({"settings": {"offer_name_prefix": null}})),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(reply.json["settings"].get("offer_name_prefix").is_none());
    let reply = call(
        &router,
        "PATCH",
        &path,
        Some(json!({"settings": {"network_id": null}})),
    )
    .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.json["error"]["field"], "settings.network_id");
    let reply = call(
        &router,
        "PATCH",
        &path,
        Some(json!({"credentials": {"api_key": null}})),
    )
    .await;
    assert_eq!(reply.json["error"]["field"], "credentials.api_key");

    // The network is fixed; bad values change nothing.
    let reply = call(&router, "PATCH", &path, Some(json!({"network": "leadbit"}))).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.json["error"]["code"], "immutable_field");
    let reply = call(
        &router,
        "PATCH",
        &path,
        Some(json!({"name": "Bad", "timeout_ms": 5})),
    )
    .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    let after = call(&router, "GET", &path, None).await;
    assert_eq!(after.json["name"], "Renamed");
    assert_eq!(after.json["timeout_ms"], 10000);
}

#[tokio::test]
async fn rotate_token_and_delete() {
    let (router, _) = app();
    let created = call(&router, "POST", "/integrations", Some(tune_body())).await;
    let id = created.json["id"].as_str().unwrap();
    let rotated = call(
        &router,
        "POST",
        &format!("/integrations/{id}/rotate-token"),
        None,
    )
    .await;
    assert_eq!(rotated.status, StatusCode::OK);
    assert_ne!(
        rotated.json["postback_token"],
        created.json["postback_token"]
    );
    let get = call(&router, "GET", &format!("/integrations/{id}"), None).await;
    assert_eq!(get.json["postback_token"], rotated.json["postback_token"]);

    let deleted = call(&router, "DELETE", &format!("/integrations/{id}"), None).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    let gone = call(&router, "GET", &format!("/integrations/{id}"), None).await;
    assert_eq!(gone.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn list_is_paginated() {
    let (router, _) = app();
    for i in 0..3 {
        let mut body = tune_body();
        body["name"] = json!(format!("account {i}"));
        assert_eq!(
            call(&router, "POST", "/integrations", Some(body))
                .await
                .status,
            StatusCode::CREATED
        );
    }
    let mut names = Vec::new();
    let mut path = "/integrations?limit=2".to_string();
    loop {
        let page = call(&router, "GET", &path, None).await;
        assert_eq!(page.status, StatusCode::OK);
        for item in page.json["items"].as_array().unwrap() {
            names.push(item["name"].as_str().unwrap().to_string());
        }
        match page.json["next_cursor"].as_str() {
            Some(cursor) => path = format!("/integrations?limit=2&cursor={}", urlencode(cursor)),
            None => break,
        }
    }
    assert_eq!(names, ["account 0", "account 1", "account 2"]);
    let bad = call(&router, "GET", "/integrations?limit=0", None).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let bad = call(&router, "GET", "/integrations?colour=red", None).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn cursors_are_opaque_url_safe_and_checked() {
    let (router, _) = app();
    for i in 0..2 {
        let mut body = tune_body();
        body["name"] = json!(format!("account {i}"));
        call(&router, "POST", "/integrations", Some(body)).await;
    }
    let first = call(&router, "GET", "/integrations?limit=1", None).await;
    let cursor = first.json["next_cursor"].as_str().unwrap().to_string();
    assert!(
        !cursor.is_empty()
            && cursor
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "not URL-safe: {cursor}"
    );
    // Pasted as is, without URL-encoding.
    let second = call(
        &router,
        "GET",
        &format!("/integrations?limit=1&cursor={cursor}"),
        None,
    )
    .await;
    assert_eq!(second.status, StatusCode::OK, "{}", second.text);
    assert_eq!(second.json["items"][0]["name"], "account 1");
    assert_eq!(second.json["next_cursor"], Value::Null);

    for bad in ["not*base64", "%5B%22x%22%5D", "_w"] {
        let reply = call(&router, "GET", &format!("/integrations?cursor={bad}"), None).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{bad}: {}",
            reply.text
        );
        assert_eq!(reply.json["error"]["field"], "cursor", "{}", reply.text);
    }
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[tokio::test]
async fn admin_token_guards_management_routes_only() {
    let state = sqlite_state(Config {
        admin_token: Some("s3cret-admin".into()),
        ..Config::for_tests()
    });
    let router = router::local(state);
    let reply = call(&router, "GET", "/integrations", None).await;
    assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
    assert_eq!(reply.json["error"]["code"], "unauthorized");
    let wrong = Request::get("/integrations")
        .header("authorization", "Bearer s3cret-admiN")
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&router, wrong).await.status, StatusCode::UNAUTHORIZED);
    let right = Request::get("/integrations")
        .header("authorization", "Bearer s3cret-admin")
        .body(Body::empty())
        .unwrap();
    assert_eq!(send(&router, right).await.status, StatusCode::OK);
    // Public routes (networks calling postbacks) never need it.
    let public = call(&router, "GET", "/postback/01X", None).await;
    assert_ne!(public.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn unknown_routes_and_methods_answer_json() {
    let (router, _) = app();
    let reply = call(&router, "GET", "/nowhere", None).await;
    assert_eq!(reply.status, StatusCode::NOT_FOUND);
    assert_eq!(reply.json["error"]["code"], "route_not_found");
    let reply = call(&router, "PUT", "/integrations", None).await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(reply.json["error"]["code"], "method_not_allowed");
}

/// A defect a retry cannot fix (here: a stored integration whose network the catalogue no
/// longer has) is a 500 `internal_error` with no detail, not a 503 that tells callers to retry.
#[tokio::test]
async fn a_catalogue_mismatch_is_an_internal_error_not_503() {
    let (router, state) = app();
    let created = call(
        &router,
        "POST",
        "/integrations",
        Some(json!({"network": "leadbit", "name": "L", "credentials": {"api_key": "k"}})),
    )
    .await;
    let id = created.json["id"].as_str().unwrap().to_string();
    let mut integration = state.repo.get_integration(&id).await.unwrap().unwrap();
    integration.network = "vanished-network".into();
    state.repo.update_integration(&integration).await.unwrap();
    let reply = call(
        &router,
        "GET",
        &format!("/integrations/{id}/postback-url"),
        None,
    )
    .await;
    assert_eq!(
        reply.status,
        StatusCode::INTERNAL_SERVER_ERROR,
        "{}",
        reply.text
    );
    assert_eq!(reply.json["error"]["code"], "internal_error");
    assert!(!reply.text.contains("vanished-network"), "{}", reply.text);
}

/// With an admin token, a stranger's unlisted method on a management path is 401 like a listed
/// one (no route map from 405s); with the token it is 405, and public paths answer 405 as is.
#[tokio::test]
async fn the_token_is_checked_before_405_on_management_paths() {
    let state = sqlite_state(Config {
        admin_token: Some("s3cret-admin".into()),
        ..Config::for_tests()
    });
    let router = router::local(state);
    for path in ["/integrations", "/integrations/01X", "/reports"] {
        let stranger = call(&router, "PUT", path, None).await;
        assert_eq!(
            stranger.status,
            StatusCode::UNAUTHORIZED,
            "{path}: {}",
            stranger.text
        );
        let admin = Request::put(path)
            .header("authorization", "Bearer s3cret-admin")
            .body(Body::empty())
            .unwrap();
        assert_eq!(
            send(&router, admin).await.status,
            StatusCode::METHOD_NOT_ALLOWED
        );
    }
    let public = call(&router, "PUT", "/postback/01X", None).await;
    assert_eq!(public.status, StatusCode::METHOD_NOT_ALLOWED);
}

/// With the SSRF guard strict (as deployed), an `api_domain` that could never be called is
/// refused at create and at patch, naming the field; a public DNS name is accepted.
#[tokio::test]
async fn unreachable_api_domains_are_refused_at_create_and_patch() {
    let state = sqlite_state(Config {
        allow_private_network: false,
        ..Config::for_tests()
    });
    let router = router::local(state);
    let body = |domain: &str| {
        json!({"network": "tune", "name": "T", "credentials": {"api_key": "k"},
               "settings": {"network_id": "demo", "api_domain": domain}})
    };
    for bad in [
        "127.0.0.1",
        "10.0.0.8",
        "169.254.169.254",
        "[::1]",
        "user:pw@api.example.com",
        "api.example.com/path",
        "api.example.com:8443",
        "http://127.0.0.1:8080",
    ] {
        let r = call(&router, "POST", "/integrations", Some(body(bad))).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}: {}", r.text);
        assert_eq!(r.json["error"]["field"], "settings.api_domain", "{bad}");
    }
    let r = call(&router, "GET", "/integrations", None).await;
    assert_eq!(
        r.json["items"].as_array().unwrap().len(),
        0,
        "nothing stored"
    );
    let ok = call(
        &router,
        "POST",
        "/integrations",
        Some(body("api.hasoffers.com")),
    )
    .await;
    assert_eq!(ok.status, StatusCode::CREATED, "{}", ok.text);
    let id = ok.json["id"].as_str().unwrap();
    let patch = json!({"settings": {"api_domain": "192.168.1.1"}});
    let r = call(
        &router,
        "PATCH",
        &format!("/integrations/{id}"),
        Some(patch),
    )
    .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    let kept = call(&router, "GET", &format!("/integrations/{id}"), None).await;
    assert_eq!(kept.json["settings"]["api_domain"], "api.hasoffers.com");
}

/// `status_sync.every_minutes` is 5–1440, on create and on patch: 4 and 1441 are refused naming
/// the field (nothing stored, nothing changed); 5 and 1440 are kept.
#[tokio::test]
async fn status_sync_every_minutes_is_5_to_1440() {
    let (router, _) = app();
    let body = |minutes: u64| {
        json!({"network": "webvork", "name": "W", "credentials": {"api_key": "k"},
               "settings": {"status_sync": {"enabled": true, "every_minutes": minutes}}})
    };
    for minutes in [4, 1441] {
        let reply = call(&router, "POST", "/integrations", Some(body(minutes))).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{minutes}: {}",
            reply.text
        );
        assert_eq!(
            reply.json["error"]["field"], "settings.status_sync.every_minutes",
            "{}",
            reply.text
        );
        assert_eq!(
            reply.json["error"]["code"], "out_of_range",
            "{}",
            reply.text
        );
    }
    assert_eq!(count(&router).await, 0);
    let mut ids = Vec::new();
    for minutes in [5, 1440] {
        let reply = call(&router, "POST", "/integrations", Some(body(minutes))).await;
        assert_eq!(
            reply.status,
            StatusCode::CREATED,
            "{minutes}: {}",
            reply.text
        );
        assert_eq!(
            reply.json["settings"]["status_sync"]["every_minutes"], minutes,
            "{}",
            reply.text
        );
        ids.push(reply.json["id"].as_str().unwrap().to_string());
    }
    let path = format!("/integrations/{}", ids[0]);
    for minutes in [4, 1441] {
        let patch = json!({"settings": {"status_sync": {"every_minutes": minutes}}});
        let reply = call(&router, "PATCH", &path, Some(patch)).await;
        assert_eq!(
            reply.status,
            StatusCode::BAD_REQUEST,
            "{minutes}: {}",
            reply.text
        );
        assert_eq!(
            reply.json["error"]["field"], "settings.status_sync.every_minutes",
            "{}",
            reply.text
        );
    }
    let patch = json!({"settings": {"status_sync": {"every_minutes": 1440}}});
    let reply = call(&router, "PATCH", &path, Some(patch)).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.json["settings"]["status_sync"]["every_minutes"], 1440);
    assert_eq!(
        reply.json["settings"]["status_sync"]["enabled"], true,
        "kept"
    );
    let shown = call(&router, "GET", &path, None).await;
    assert_eq!(shown.json["settings"]["status_sync"]["every_minutes"], 1440);
}
