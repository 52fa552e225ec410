//! Networks whose API facts are incomplete, through the real router on the embedded store:
//! Traffury's host is not public, so its integrations must set `settings.api_url` (and its leads
//! go there); MarketCall shows no lead call in public, so `POST /leads` answers 422
//! `no_lead_api` naming it and `GET /networks` says why; OmniCPA's lead goes in its SDK's signed
//! envelope, and an optional offer parameter it lacks is not required.

mod lead_cases;
mod pb_support;
mod support;

use affnet_store::{ItemStore, SqliteStore};
use axum::http::StatusCode;
use lead_cases::Env;
use pb_support::Pb;
use serde_json::{Value, json};
use std::sync::Arc;
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, ResponseTemplate};

fn store() -> Arc<dyn ItemStore> {
    Arc::new(SqliteStore::in_memory().expect("in-memory sqlite"))
}

fn traffury(settings: Value) -> String {
    json!({"network": "traffury", "name": "T", "settings": settings,
           "credentials": {"user_id": "42", "api_key": "tf-secret-token"}})
    .to_string()
}

#[tokio::test]
async fn traffury_integrations_need_an_api_url() {
    let pb = Pb::new(store());
    for (settings, code) in [
        (json!({}), "missing_field"),
        (json!({"api_url": ""}), "missing_field"),
        (
            json!({"api_url": "ftp://lead.traffury.example"}),
            "invalid_value",
        ),
        (
            json!({"api_url": "https://lead.traffury.example/?t=1"}),
            "invalid_value",
        ),
    ] {
        let r = pb
            .post(
                "/integrations",
                "application/json",
                traffury(settings.clone()),
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{settings}: {}", r.text);
        assert_eq!(r.json["error"]["field"], "settings.api_url", "{}", r.text);
        assert_eq!(r.json["error"]["code"], code, "{}", r.text);
    }
    assert!(
        pb.get("/integrations").await.json["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let ok = json!({"api_url": "https://lead.traffury.example/api"});
    let r = pb
        .post("/integrations", "application/json", traffury(ok))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(
        r.json["settings"]["api_url"],
        "https://lead.traffury.example/api"
    );
    // Other networks keep it optional, and checked when given.
    let leadbit = |settings: Value| {
        json!({"network": "leadbit", "name": "L", "credentials": {"api_key": "k"}, "settings": settings})
            .to_string()
    };
    let r = pb
        .post("/integrations", "application/json", leadbit(json!({})))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let bad = json!({"api_url": "leadbit.example"});
    let r = pb
        .post("/integrations", "application/json", leadbit(bad))
        .await;
    assert_eq!(r.json["error"]["field"], "settings.api_url", "{}", r.text);

    let networks = pb.get("/networks").await;
    let spec = networks.json["networks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["slug"] == "traffury")
        .unwrap()["settings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["key"] == "api_url")
        .cloned()
        .unwrap();
    assert_eq!(
        (spec["required"].as_bool(), spec["type"].as_str()),
        (Some(true), Some("base_url"))
    );
}

#[tokio::test]
async fn a_traffury_lead_goes_to_its_api_url() {
    let env = Env::new(store(), "traffury", json!({"tfuo": "o1", "tfuf": "f1"})).await;
    Mock::given(method("POST"))
        .and(path("/"))
        .and(query_param("webmasterID", "77"))
        .respond_with(ResponseTemplate::new(200).set_body_string(r#"{"id":"TF-1"}"#))
        .mount(&env.network)
        .await;
    let click = env.click().await;
    let r = env.post_lead(&env.body(&click), None).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(r.json["network_order_id"], "TF-1", "{}", r.text);
    let sent = &env.network.received_requests().await.unwrap()[0];
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&sent.body)
        .into_owned()
        .collect();
    assert!(
        form.contains(&("utm_campaign".into(), click.clone())),
        "{form:?}"
    );
}

#[tokio::test]
async fn networks_without_a_public_lead_call_answer_no_lead_api() {
    for (slug, params, name, why) in [(
        "marketcall",
        json!({"mcallc": "ch1", "mcallp": "7"}),
        "MarketCall",
        "creates no lead",
    )] {
        let env = Env::new(store(), slug, params).await;
        let r = env.post_lead(&env.body(&env.click().await), None).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
        assert_eq!(r.json["error"]["code"], "no_lead_api", "{}", r.text);
        let message = r.json["error"]["message"].as_str().unwrap();
        assert!(
            message.starts_with(&format!("{name} has no lead API")),
            "{message}"
        );
        assert!(message.contains(why), "{message}");
        assert!(
            env.pb.get("/leads").await.json["items"]
                .as_array()
                .unwrap()
                .is_empty()
        );
        assert!(env.network.received_requests().await.unwrap().is_empty());

        let networks = env.pb.get("/networks").await;
        let network = networks.json["networks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["slug"] == slug)
            .cloned()
            .unwrap();
        let api = &network["api"];
        assert_eq!(
            (api["send"].as_bool(), api["grade"].as_str()),
            (Some(false), Some("C"))
        );
        assert!(api["no_send"].as_str().unwrap().contains(why), "{api}");
    }
}

/// OmniCPA through the router: the offer's `omni`/`omnilang` and the integration's flow go in
/// the signed `request`; the optional `omnisp` is not required; the signed reply's id is the
/// order.
#[tokio::test]
async fn an_omnicpa_lead_goes_in_its_signed_envelope() {
    let env = Env::new(store(), "omnicpa", json!({"omni": "5", "omnilang": "ENG"})).await;
    let data = r#"{"success":true,"result":{"id":"OM-7"}}"#;
    // The integration's `key` (its secret) is "77" (see lead_cases::Env).
    let sign = affnet_networks::omnicpa::sign("77", data);
    Mock::given(method("POST"))
        .and(path("/api/User/3.0/createOrder"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_string(format!(r#"{{"data":{data},"dataSign":"{sign}"}}"#)),
        )
        .mount(&env.network)
        .await;
    let click = env.click().await;
    let r = env.post_lead(&env.body(&click), None).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(r.json["network_order_id"], "OM-7", "{}", r.text);
    let sent = &env.network.received_requests().await.unwrap()[0];
    let form: Vec<(String, String)> = url::form_urlencoded::parse(&sent.body)
        .into_owned()
        .collect();
    let request: Value = serde_json::from_str(&form[0].1).unwrap();
    assert_eq!(request["data"]["pbid"], click.as_str(), "{request}");
    assert_eq!(request["data"]["product_id"], "5");
    assert_eq!(request["data"]["promo_language"], "ENG");
    assert_eq!(request["data"]["traffic_flow_id"], "77");
    let networks = env.pb.get("/networks").await;
    let omni = networks.json["networks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|n| n["slug"] == "omnicpa")
        .cloned()
        .unwrap();
    assert_eq!(omni["api"]["send"], true, "{omni}");
    assert_eq!(omni["api"]["test"], true, "{omni}");
    assert_eq!(omni["api"]["statuses"], false, "{omni}");
}

/// `POST /integrations/{id}/test` on a CPA integration: one read-only call (KMA's offer list),
/// answered in the TUNE test's shape; a refusal says what to fix; a failure to reach the
/// network is a connection failure; no lead is ever created, and the key is never answered.
#[tokio::test]
async fn a_cpa_connection_test_reads_like_tunes_and_sends_no_lead() {
    let env = Env::new(store(), "kma", json!({"kma": "CH1"})).await;
    let uri = format!("/integrations/{}/test", env.integration.id);
    let test = || async { env.pb.post(&uri, "application/json", "").await };
    let names = |r: &Value| -> Vec<String> {
        r["checks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap().to_string())
            .collect()
    };
    let check = |r: &Value, name: &str| -> Value {
        r["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .cloned()
            .unwrap_or_else(|| panic!("no `{name}` check in {r}"))
    };

    Mock::given(method("GET"))
        .and(path("/"))
        .and(query_param("method", "getoffers"))
        .respond_with(ResponseTemplate::new(200).set_body_string(r#"{"offers":[]}"#))
        .mount(&env.network)
        .await;
    let ok = test().await;
    assert_eq!(ok.status, StatusCode::OK, "{}", ok.text);
    assert_eq!(ok.json["ok"], true, "{}", ok.text);
    assert_eq!(
        names(&ok.json),
        ["integration", "settings", "connection", "authentication"]
    );
    assert!(ok.json["latency_ms"].is_u64(), "{}", ok.text);
    let sent = env.network.received_requests().await.unwrap();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].method.as_str(), "GET");
    assert!(
        sent[0]
            .url
            .query_pairs()
            .any(|(k, v)| k == "token" && v == lead_cases::KEY),
        "the key goes as `token`"
    );

    env.network.reset().await;
    Mock::given(method("GET"))
        .respond_with(
            ResponseTemplate::new(403)
                .set_body_string(r#"{"message":"IP 10.1.2.3 is not allowed"}"#),
        )
        .mount(&env.network)
        .await;
    let refused = test().await;
    assert_eq!(refused.json["ok"], false, "{}", refused.text);
    assert_eq!(check(&refused.json, "connection")["ok"], true);
    let auth = check(&refused.json, "authentication");
    assert_eq!(auth["code"], "authentication_failed", "{auth}");
    assert!(
        auth["detail"].as_str().unwrap().contains("not allowed"),
        "{auth}"
    );
    assert!(
        auth["fix"].as_str().unwrap().contains("IP whitelist"),
        "{auth}"
    );

    for (status, delay) in [(503, 0), (200, 1_500)] {
        env.network.reset().await;
        Mock::given(method("GET"))
            .respond_with(
                ResponseTemplate::new(status)
                    .set_body_string(r#"{"offers":[]}"#)
                    .set_delay(std::time::Duration::from_millis(delay)),
            )
            .mount(&env.network)
            .await;
        let failed = test().await;
        assert_eq!(failed.json["ok"], false, "{}", failed.text);
        let connection = check(&failed.json, "connection");
        assert_eq!(connection["code"], "connection_failed", "{connection}");
        if delay > 0 {
            // The integration's timeout_ms (1000) bounds the call.
            assert!(
                connection["detail"]
                    .as_str()
                    .unwrap()
                    .contains("timeout_ms"),
                "{connection}"
            );
        }
        assert!(!failed.text.contains(lead_cases::KEY));
    }
    assert!(!ok.text.contains(lead_cases::KEY) && !refused.text.contains(lead_cases::KEY));
    // Read-only: nothing ever reached the lead call, and no lead exists.
    assert!(
        env.network
            .received_requests()
            .await
            .unwrap()
            .iter()
            .all(|r| r.url.path() != "/lead/add")
    );
    assert!(
        env.pb.get("/leads").await.json["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

/// `GET /networks` says per CPA network what works (send, statuses, test) and how sure the
/// facts are; a network with neither sending nor statuses says "postbacks only".
#[tokio::test]
async fn networks_say_what_works_and_how_sure_it_is() {
    let env = Env::new(store(), "kma", json!({"kma": "CH1"})).await;
    let networks = env.pb.get("/networks").await;
    let list = networks.json["networks"].as_array().unwrap();
    let api = |slug: &str| {
        list.iter()
            .find(|n| n["slug"] == slug)
            .unwrap_or_else(|| panic!("{slug} listed"))["api"]
            .clone()
    };
    let flags = |slug: &str| {
        let a = api(slug);
        (
            a["send"].as_bool().unwrap(),
            a["statuses"].as_bool().unwrap(),
            a["test"].as_bool().unwrap(),
            a["grade"].as_str().unwrap().to_string(),
        )
    };
    assert_eq!(flags("webvork"), (true, true, true, "V".into()));
    assert_eq!(flags("whocpa"), (true, true, true, "D".into()));
    assert_eq!(flags("kma"), (true, false, true, "C".into()));
    assert_eq!(flags("leadbit"), (true, false, false, "C".into()));
    assert_eq!(flags("zcpa"), (false, false, false, "P".into()));
    assert_eq!(api("zcpa")["note"], "postbacks only");
    assert!(api("webvork").get("note").is_none());
    // Every CPA network says all four; TUNE networks have no `api`.
    let mut cpa = 0;
    for n in list {
        if n["kind"] == "cpa" {
            cpa += 1;
            let a = &n["api"];
            for flag in ["send", "statuses", "test"] {
                assert!(a[flag].is_boolean(), "{}: {flag}", n["slug"]);
            }
            assert!(
                ["D", "V", "C", "P", "—"].contains(&a["grade"].as_str().unwrap()),
                "{}",
                n["slug"]
            );
        } else {
            assert!(n.get("api").is_none(), "{}", n["slug"]);
        }
    }
    assert_eq!(cpa, 48);
}

/// An offer stored without a parameter its network's lead call needs (one saved before the
/// catalogue required it) answers 422 naming it, before anything is stored or sent.
#[tokio::test]
async fn a_lead_for_an_offer_missing_a_needed_parameter_is_422() {
    let env = Env::new(store(), "kma", json!({"kma": "CH1"})).await;
    let mut offer = env.offer.clone();
    offer.params.remove("kma");
    env.pb.state.repo.update_offer(&offer, None).await.unwrap();
    let r = env.post_lead(&env.body(&env.click().await), None).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
    assert_eq!(
        r.json["error"]["code"], "missing_offer_params",
        "{}",
        r.text
    );
    assert!(
        r.json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("`kma`"),
        "{}",
        r.text
    );
    assert!(env.network.received_requests().await.unwrap().is_empty());
    assert!(
        env.pb.get("/leads").await.json["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

/// With the SSRF guard strict (as deployed: `AFFNET_ALLOW_PRIVATE_NETWORK` unset), an
/// integration whose API host resolves to a loopback address never reaches it: the lead is
/// stored and queued (the network could not be reached, and the guard says why), the connection
/// test fails its `connection` check, and the mock on that address receives nothing.
#[tokio::test]
async fn the_strict_guard_keeps_every_cpa_call_off_private_addresses() {
    let pb = Pb::with_config(
        store(),
        affnet_app::Config {
            allow_private_network: false,
            ..pb_support::config()
        },
    );
    let env = Env::webvork_on(pb, json!({"api_url": "http://localhost:{port}"})).await;
    env.answer(
        "GET",
        "/v1/new-lead",
        200,
        r#"{"status":"ok","guid":"G-1"}"#,
        std::time::Duration::ZERO,
        None,
    )
    .await;
    let lead = env.post_lead(&env.body(&env.click().await), None).await;
    assert_eq!(lead.status, StatusCode::ACCEPTED, "{}", lead.text);
    assert_eq!(lead.json["status"], "queued", "{}", lead.text);
    let stored = env.lead(lead.json["lead_id"].as_str().unwrap()).await;
    let attempt = stored["attempts"][0].to_string();
    assert!(
        attempt.contains("non-public address"),
        "the attempt says why: {attempt}"
    );
    let test = env
        .pb
        .post(
            &format!("/integrations/{}/test", env.integration.id),
            "application/json",
            "",
        )
        .await;
    assert_eq!(test.json["ok"], false, "{}", test.text);
    let connection = test.json["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "connection")
        .cloned()
        .unwrap();
    assert_eq!(connection["code"], "connection_failed", "{connection}");
    assert!(
        env.network.received_requests().await.unwrap().is_empty(),
        "nothing reached the loopback address"
    );
}
