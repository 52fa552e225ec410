//! Integration health cases, written once and run on every store: each test file calls
//! [`health_suite!`] with an async expression giving a fresh `Arc<dyn ItemStore>`. Clicks and
//! postbacks go through the real router; time moves with a manual clock, never by sleeping.

use crate::pb_support::{Pb, click};
use crate::support::{Reply, call, events};
use affnet_app::clock::Clock;
use affnet_app::health::silence;
use affnet_app::{AppState, router};
use affnet_core::Integration;
use affnet_store::ItemStore;
use axum::Router;
use axum::http::StatusCode;
use chrono::{Duration, Utc};
use serde_json::{Value, json};
use std::sync::Arc;

#[macro_export]
macro_rules! health_suite {
    ($factory:expr) => {
        $crate::health_suite!(@cases $factory;
            silence_is_emitted_once_and_recovery_after,
            health_counts_real_postbacks_by_outcome_and_reason,
            health_names_the_troubleshooting_cause,
        );
    };
    (@cases $factory:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let store: std::sync::Arc<dyn affnet_store::ItemStore> = $factory.await;
                health_cases::$case(store).await;
            }
        )*
    };
}

/// A router over `store` whose time is `clock`'s.
struct World {
    pb: Pb,
    state: AppState,
    router: Router,
    clock: Clock,
}

impl World {
    fn new(store: Arc<dyn ItemStore>) -> World {
        let clock = Clock::manual(Utc::now());
        let pb = Pb::new(store);
        let state = pb.state.clone().with_clock(clock.clone());
        World {
            router: router::local(state.clone()),
            pb,
            state,
            clock,
        }
    }

    async fn get(&self, uri: &str) -> Reply {
        call(&self.router, "GET", uri, None).await
    }

    /// A Leadbit integration with `settings` and one active offer; the offer's id.
    async fn integration(&self, settings: Value) -> (Integration, String) {
        let i = self.pb.integration("leadbit", settings).await;
        let offer = json!({
            "integration_id": i.id,
            "name": "Keto Diet",
            "tracking_url": "https://leadbit.example/a1b2?sub1={click_id}",
            "params": {"leadbit": "a1b2", "leadsite": "keto.example"},
            "payout": "12.50",
            "currency": "usd",
            "payout_type": "cpa_flat",
        });
        let created = call(&self.router, "POST", "/offers", Some(offer)).await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
        (i, created.json["id"].as_str().unwrap().to_string())
    }

    async fn click(&self, offer: &str) {
        let r = self.get(&format!("/c/{offer}")).await;
        assert_eq!(r.status, StatusCode::FOUND, "{}", r.text);
    }

    /// A postback with our click ID: accepted, a new conversion.
    async fn accepted(&self, i: &Integration) {
        let c = click(&self.state).await;
        let r = self
            .get(&format!(
                "/postback/{}?token={}&oid={c}&status=new",
                i.id, i.postback_token
            ))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    }

    async fn bad_token(&self, i: &Integration) {
        let r = self
            .get(&format!("/postback/{}?token=wrong&oid=x&status=new", i.id))
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    }

    async fn health(&self, i: &Integration) -> Value {
        let r = self.get(&format!("/integrations/{}/health", i.id)).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        r.json
    }

    async fn check(&self) -> Value {
        silence::run_checks(&self.state, self.clock.now())
            .await
            .unwrap()
    }

    async fn events(&self, kind: &str) -> Vec<Value> {
        events(&self.router, Some(kind)).await
    }
}

/// `silence_hours` 2: clicks keep coming, the last accepted postback grows old, the watch says
/// silent once (even with two checks at once), a refused postback changes nothing, an accepted
/// one recovers it once, and a new silence is a new event.
pub async fn silence_is_emitted_once_and_recovery_after(store: Arc<dyn ItemStore>) {
    let w = World::new(store);
    let settings = json!({"silence_hours": 2, "status_sync": {"enabled": false}});
    let (i, offer) = w.integration(settings).await;
    w.click(&offer).await;
    w.accepted(&i).await;
    assert_eq!(
        w.check().await["silent"],
        json!([]),
        "younger than its window"
    );
    for _ in 0..2 {
        w.clock.advance(Duration::hours(1));
        w.click(&offer).await;
        assert_eq!(w.check().await["silent"], json!([]));
    }
    w.clock.advance(Duration::minutes(70));
    w.click(&offer).await;
    let (a, b) = tokio::join!(
        silence::check(&w.state, &i, w.clock.now()),
        silence::check(&w.state, &i, w.clock.now())
    );
    let made: Vec<_> = [a.unwrap(), b.unwrap()].into_iter().flatten().collect();
    assert_eq!(
        made.len(),
        1,
        "one of two racing checks makes the transition"
    );
    assert_eq!(w.check().await["silent"], json!([]), "already silent");
    let silent = w.events("integration.silent").await;
    assert_eq!(silent.len(), 1, "{silent:?}");
    let d = &silent[0]["data"];
    assert_eq!(
        (d["integration_id"].as_str(), d["silence_hours"].as_u64()),
        (Some(i.id.as_str()), Some(2))
    );
    assert_eq!(d["cause"], "no_postbacks");
    assert!(d["offer_id"].is_null() && d["network"] == "leadbit", "{d}");
    let h = w.health(&i).await;
    assert_eq!(h["silence"]["silent"], true, "{h}");
    assert_eq!(h["silence"]["cause"], "no_postbacks");

    w.clock.advance(Duration::minutes(30));
    w.bad_token(&i).await;
    w.click(&offer).await;
    // Through the every-minute job, as the schedule runs it.
    let tick = affnet_app::leads::jobs::run_lead_jobs(&w.state).await;
    assert_eq!(tick["silence"]["recovered"], json!([]), "{tick}");
    w.accepted(&i).await;
    let tick = affnet_app::leads::jobs::run_lead_jobs(&w.state).await;
    assert_eq!(tick["silence"]["recovered"], json!([i.id]), "{tick}");
    assert_eq!(w.check().await["recovered"], json!([]));
    let recovered = w.events("integration.recovered").await;
    assert_eq!(recovered.len(), 1, "{recovered:?}");
    assert_eq!(
        recovered[0]["data"]["silent_since"],
        silent[0]["data"]["silent_since"]
    );
    assert_eq!(w.health(&i).await["silence"]["silent"], false);

    // Silent again later: a second transition, a second event.
    w.clock.advance(Duration::hours(3));
    w.click(&offer).await;
    w.bad_token(&i).await;
    assert_eq!(w.check().await["silent"], json!([i.id]));
    let silent = w.events("integration.silent").await;
    assert_eq!(silent.len(), 2);
    assert_eq!(silent[1]["data"]["cause"], "refused_for_token");
    assert_eq!(w.events("integration.recovered").await.len(), 1);
}

/// Real postbacks, accepted and refused for each reason, through the real router: the health
/// figures count each once, under its day, outcome and reason.
pub async fn health_counts_real_postbacks_by_outcome_and_reason(store: Arc<dyn ItemStore>) {
    let w = World::new(store);
    let (i, offer) = w
        .integration(json!({"ip_allowlist": ["203.0.113.0/24"]}))
        .await;
    w.click(&offer).await;
    let pb = |tail: &str, token: &str| format!("/postback/{}?token={token}&{tail}", i.id);
    let ok = Some("203.0.113.9");
    let c1 = click(&w.state).await;
    let c2 = click(&w.state).await;
    let token = i.postback_token.as_str();
    let sends = [
        (pb(&format!("oid={c1}&status=new"), token), ok, 200),
        (pb(&format!("oid={c1}&status=new"), token), ok, 200),
        (pb(&format!("oid={c2}&status=new"), token), ok, 200),
        (pb("oid=not-our-click&status=new", token), ok, 200),
        (pb(&format!("oid={c1}&status=new"), "wrong"), ok, 403),
        (
            pb(&format!("oid={c2}&status=new"), token),
            Some("198.51.100.7"),
            403,
        ),
        (pb("status=new", token), ok, 400),
    ];
    for (uri, ip, status) in &sends {
        let r = w.pb.get_from(uri, *ip).await;
        assert_eq!(r.status.as_u16(), *status, "{uri}: {}", r.text);
    }
    let wrong = w
        .get("/integrations/01J9ZQ5ZK6F3H2M8N4P7R1S0TV/health")
        .await;
    assert_eq!(wrong.status, StatusCode::NOT_FOUND);
    assert_eq!(wrong.json["error"]["code"], "not_found", "{}", wrong.text);

    let h = w.health(&i).await;
    let days = h["postbacks"]["days"].as_array().unwrap();
    assert_eq!(days.len(), 7);
    let today = &days[0];
    assert_eq!(today["day"], w.clock.now().format("%Y-%m-%d").to_string());
    assert_eq!(
        (
            &today["accepted"],
            &today["unknown_click"],
            &today["refused"]
        ),
        (&json!(4), &json!(1), &json!(3)),
        "{h}"
    );
    assert_eq!(
        today["by_outcome"],
        json!({"created": 3, "duplicate": 1, "bad_token": 1, "ip_not_allowed": 1, "missing_parameter": 1})
    );
    assert!(
        days[1..]
            .iter()
            .all(|d| d["accepted"] == 0 && d["refused"] == 0)
    );
    let rate = &h["postbacks"]["refused_rate"];
    assert_eq!(rate["received"], 7);
    for reason in ["bad_token", "ip_not_allowed", "unknown_click", "bad_input"] {
        assert_eq!(
            rate[reason],
            json!({"count": 1, "rate": "0.1429"}),
            "{reason}: {rate}"
        );
    }
    assert_eq!(rate["inactive"]["count"], 0);
    let accepted = &h["postbacks"]["last_accepted"];
    assert!(["created", "duplicate"].contains(&accepted["outcome"].as_str().unwrap()));
    let refused = &h["postbacks"]["last_refused"];
    let reason = refused["reason"].as_str().unwrap();
    assert!(
        ["bad_token", "ip_not_allowed", "missing_parameter"].contains(&reason),
        "{refused}"
    );
    assert!(refused["message"].is_string(), "{refused}");
    assert!(!h.to_string().contains(token), "the token never shows");
    assert_eq!(h["clicks"]["hours_with_clicks"], 1);
    assert_eq!(h["silence"]["silence_hours"], 24);
    assert_eq!(h["silence"]["silent"], false);
    assert_eq!(
        (
            &h["silence"]["clicks_in_window"],
            &h["silence"]["accepted_in_window"]
        ),
        (&json!(true), &json!(true))
    );
    assert_eq!(h["diagnosis"]["cause"], "healthy", "{h}");
    assert_eq!(h["diagnosis"]["received"]["accepted"], 4);
    assert!(h["offer_sync"]["last"].is_null() && h["connection_test"]["last"].is_null());
    assert!(h["leads"]["last_sent"].is_null());
}

/// Each of the seed's "conversions not tracking" causes reads as itself: no postback at all,
/// postbacks refused for the token, postbacks with unknown click IDs.
pub async fn health_names_the_troubleshooting_cause(store: Arc<dyn ItemStore>) {
    let w = World::new(store);
    let cause = |h: &Value| h["diagnosis"]["cause"].as_str().unwrap().to_string();
    let (quiet, _) = w.integration(json!({})).await;
    let h = w.health(&quiet).await;
    assert_eq!(cause(&h), "no_postbacks");
    assert!(
        h["diagnosis"]["hint"]
            .as_str()
            .unwrap()
            .contains("postback URL")
    );

    let (tokens, _) = w.integration(json!({})).await;
    w.accepted(&tokens).await;
    for _ in 0..3 {
        w.bad_token(&tokens).await;
    }
    let h = w.health(&tokens).await;
    assert_eq!(cause(&h), "refused_for_token", "{h}");

    let (clickless, _) = w.integration(json!({})).await;
    for n in 0..3 {
        let uri = format!(
            "/postback/{}?token={}&eid=LB-{n}&status=new",
            clickless.id, clickless.postback_token
        );
        assert_eq!(w.get(&uri).await.status, StatusCode::OK);
    }
    let h = w.health(&clickless).await;
    assert_eq!(cause(&h), "unknown_click_ids", "{h}");
    assert!(
        h["diagnosis"]["hint"]
            .as_str()
            .unwrap()
            .contains("click_id")
    );
    assert_eq!(h["postbacks"]["refused_rate"]["unknown_click"]["rate"], "1");
}
