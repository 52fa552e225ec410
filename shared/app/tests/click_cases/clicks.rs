//! `GET /c/{offer_id}`: redirect, stored click, counters, refusals.

use super::{Env, TRACKING_PREFIX};
use affnet_core::clickid::{ClickId, Labels};
use affnet_store::ItemStore;
use affnet_store::totals::{Dimension, click_totals_key};
use axum::http::StatusCode;
use chrono::Utc;
use std::sync::Arc;
use ulid::Ulid;

const DAY_SECS: i64 = 86_400;

pub async fn redirects_with_a_signed_click_id(store: Arc<dyn ItemStore>) {
    let env = Env::new(store).await;
    let offer = env.offer("Keto").await;
    let before = Utc::now().timestamp() as u64;
    let reply = env
        .get(
            &format!("/c/{offer}?msg=spring-sale&cr=banner_300x250&sub1=fb"),
            &[],
        )
        .await;
    assert_eq!(reply.status, StatusCode::FOUND, "{}", reply.json);
    let id = reply.click_id();
    assert_eq!(
        reply.header("location").unwrap(),
        format!("{TRACKING_PREFIX}{id}")
    );
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    assert_eq!(reply.header("referrer-policy"), Some("no-referrer"));
    let claims = ClickId::verify(&env.state.config.click_key, &id).expect("verifies");
    assert_eq!(claims.offer_id.to_string(), offer);
    assert!((before..=before + 2).contains(&claims.time));
    // The ID carries a handle of message and creative, stored with the click.
    let handle = claims.unresolved().expect("a handle");
    assert_eq!(
        env.state.repo.get_labels(handle).await.unwrap(),
        Some(Labels::new("spring-sale", "banner_300x250"))
    );

    // Without msg/cr the ID carries none; two clicks never share an ID.
    let a = env.click(&offer, "").await;
    let b = env.click(&offer, "").await;
    assert_ne!(a, b);
    let claims = ClickId::verify(&env.state.config.click_key, &a).unwrap();
    assert_eq!(claims.labels(), Some(&Labels::default()));
}

/// Every click ID is 64 characters of `[A-Za-z0-9_-]`, whatever `msg` and `cr` (it must come
/// back whole from a capped sub-ID field); clicks of one pair share its handle.
pub async fn click_ids_are_64_characters_whatever_the_labels(store: Arc<dyn ItemStore>) {
    let env = Env::new(store).await;
    let offer = env.offer("Keto").await;
    let full = "x".repeat(32);
    let mut handles = Vec::new();
    for query in [
        String::new(),
        "msg=a".into(),
        "cr=-_-".into(),
        format!("msg={full}&cr={}", "Y".repeat(32)),
        format!("msg={full}&cr={full}"),
        format!("msg={full}&cr={full}"),
    ] {
        let id = env.click(&offer, &query).await;
        assert_eq!(id.len(), 64, "{query}: {id}");
        assert!(
            id.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'),
            "{id}"
        );
        let claims = ClickId::verify(&env.state.config.click_key, &id).unwrap();
        handles.push(claims.unresolved());
    }
    assert_eq!(handles[0], None);
    assert_eq!(handles[4], handles[5]);
    assert_ne!(handles[3], handles[4]);
}

/// A cached pair costs the click its usual offer read and one batch; a pair this process has
/// not seen costs one more read, and its handle is created in the click's own batch.
pub async fn a_new_pair_costs_one_read_and_no_extra_write(store: Arc<dyn ItemStore>) {
    let env = Env::new(store).await;
    let offer = env.offer("Keto").await;
    let cost = |query: &'static str| {
        let env = &env;
        let offer = &offer;
        async move {
            env.counting.reset();
            env.click(offer, query).await;
            let labels_written = env.counting.written_of("LABELS");
            (env.counting.reads(), env.counting.batches(), labels_written)
        }
    };
    // The process's first click of the hour on an integration also notes the hour for the
    // silence watch (one write after the click's batch; see affnet_app::health::activity).
    assert_eq!(
        cost("").await,
        (1, 2, 0),
        "first of the hour: offer read, click batch, click-hour note"
    );
    assert_eq!(
        cost("").await,
        (1, 1, 0),
        "no labels: offer read, click batch"
    );
    assert_eq!(
        cost("msg=m1&cr=c1").await,
        (2, 1, 1),
        "new pair: + its handle read"
    );
    assert_eq!(cost("msg=m1&cr=c1").await, (1, 1, 0), "cached pair");
    // A second process (cold cache) finds the stored handle with one read and writes no labels.
    let other = affnet_app::AppState::new(env.counting.clone(), env.state.config.as_ref().clone());
    let labels = Labels::new("m1", "c1");
    env.counting.reset();
    let first = affnet_app::click_labels::assign(&other, &labels)
        .await
        .unwrap();
    let again = affnet_app::click_labels::assign(&env.state, &labels)
        .await
        .unwrap();
    assert_eq!((first, env.counting.reads()), (again, 1));
    assert!(!first.create);
}

pub async fn stores_the_click_with_its_expiry(store: Arc<dyn ItemStore>) {
    let env = Env::new(store).await;
    let offer = env.offer("Keto").await;
    let agent = format!("Mozilla/5.0 {}", "x".repeat(600));
    let now = Utc::now().timestamp();
    let reply = env
        .get(
            &format!("/c/{offer}?msg=m1&cr=c1&sub1=a%20b&sub5=%D0%AF&sub9=no"),
            &[("user-agent", &agent)],
        )
        .await;
    assert_eq!(reply.status, StatusCode::FOUND);
    let id = reply.click_id();
    let click = env
        .state
        .repo
        .get_click(&id)
        .await
        .unwrap()
        .expect("stored");
    assert_eq!(click.id, id);
    assert_eq!(click.offer_id, offer);
    assert_eq!(click.integration_id, env.integration);
    assert_eq!(click.message_id.as_deref(), Some("m1"));
    assert_eq!(click.creative_id.as_deref(), Some("c1"));
    assert_eq!(click.subs.len(), 2);
    assert_eq!(click.subs["sub1"], "a b");
    assert_eq!(click.subs["sub5"], "Я");
    assert_eq!(click.ip.as_deref(), Some("203.0.113.7"));
    let ua = click.user_agent.unwrap();
    assert_eq!(ua.len(), 512);
    assert!(agent.starts_with(&ua));
    let claims = ClickId::verify(&env.state.config.click_key, &id).unwrap();
    assert_eq!(click.time.timestamp() as u64, claims.time);
    let ttl = click.expires_at - click.time.timestamp();
    assert_eq!(ttl, 90 * DAY_SECS);
    assert!((click.expires_at - (now + 90 * DAY_SECS)).abs() <= 2);

    // The click's own totals expire with it.
    let totals = env
        .state
        .repo
        .items()
        .get(&click_totals_key(&id))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(totals.expires_at, Some(click.expires_at));
    assert_eq!(env.counter(&click_totals_key(&id), "clicks").await, 1);
    assert!(env.state.repo.get_click("nope").await.unwrap().is_none());
}

pub async fn honours_the_configured_ttl(store: Arc<dyn ItemStore>) {
    let config = affnet_app::Config {
        click_ttl_days: 7,
        ..affnet_app::Config::for_tests()
    };
    let env = Env::with_config(store, config).await;
    let offer = env.offer("Keto").await;
    let id = env.click(&offer, "").await;
    let click = env.state.repo.get_click(&id).await.unwrap().unwrap();
    assert_eq!(click.expires_at - click.time.timestamp(), 7 * DAY_SECS);
}

pub async fn counts_clicks_per_dimension(store: Arc<dyn ItemStore>) {
    let env = Env::new(store).await;
    let offer = env.offer("Keto").await;
    let other = env.offer("Other").await;
    env.click(&offer, "msg=m1&cr=c1").await;
    env.click(&offer, "msg=m1&cr=c2").await;
    env.click(&offer, "").await;
    env.click(&other, "msg=m1").await;
    assert_eq!(env.total(Dimension::Day, None, "clicks").await, 4);
    assert_eq!(env.total(Dimension::Offer, Some(&offer), "clicks").await, 3);
    assert_eq!(env.total(Dimension::Offer, Some(&other), "clicks").await, 1);
    assert_eq!(env.total(Dimension::Message, Some("m1"), "clicks").await, 3);
    assert_eq!(env.total(Dimension::Message, None, "clicks").await, 1);
    assert_eq!(
        env.total(Dimension::Creative, Some("c1"), "clicks").await,
        1
    );
    assert_eq!(
        env.total(Dimension::Creative, Some("c2"), "clicks").await,
        1
    );
    assert_eq!(env.total(Dimension::Creative, None, "clicks").await, 2);
    // One batch per click: the click and its five counters together.
    env.counting.reset();
    env.click(&offer, "msg=m1").await;
    assert_eq!(env.counting.batches(), 1);
    assert_eq!(env.counting.written_of("CLICK"), 2);
    assert_eq!(env.counting.written_of("TOT"), 4);
}

pub async fn unknown_and_paused_offers_are_404(store: Arc<dyn ItemStore>) {
    let env = Env::new(store).await;
    let offer = env.offer("Keto").await;
    let paused = crate::support::call(
        &env.router,
        "PATCH",
        &format!("/offers/{offer}"),
        Some(serde_json::json!({"status": "paused"})),
    )
    .await;
    assert_eq!(paused.status, StatusCode::OK, "{}", paused.text);
    env.counting.reset();
    for path in [
        format!("/c/{offer}?msg=m1"),
        format!("/c/{}", Ulid::new()),
        "/c/not-an-offer".to_string(),
    ] {
        let reply = env.get(&path, &[]).await;
        assert_eq!(reply.status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(reply.json["error"]["code"], "not_found", "{path}");
        assert!(reply.header("location").is_none());
    }
    assert_eq!(env.counting.batches(), 0);
}

pub async fn bad_parameters_are_400_and_store_nothing(store: Arc<dyn ItemStore>) {
    let env = Env::new(store).await;
    let offer = env.offer("Keto").await;
    env.counting.reset();
    let long = "x".repeat(257);
    for (query, field) in [
        ("msg=spring.sale", "msg"),
        ("msg=ok&cr=%3Cscript%3E", "cr"),
        (&format!("msg={}", "a".repeat(33)) as &str, "msg"),
        (&format!("sub3={long}"), "sub3"),
        ("msg=a&msg=b", "msg"),
    ] {
        let reply = env.get(&format!("/c/{offer}?{query}"), &[]).await;
        assert_eq!(reply.status, StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(reply.json["error"]["field"], field, "{query}");
        assert!(reply.header("location").is_none());
    }
    let reply = env.get(&format!("/c/{offer}?sub3={long}"), &[]).await;
    let message = reply.json["error"]["message"].as_str().unwrap();
    assert!(message.contains("256 bytes"), "{message}");
    assert_eq!(env.counting.batches(), 0);
    assert_eq!(env.total(Dimension::Day, None, "clicks").await, 0);
}

pub async fn no_open_redirect(store: Arc<dyn ItemStore>) {
    let env = Env::new(store).await;
    let offer = env.offer("Keto").await;
    let reply = env
        .get(
            &format!(
                "/c/{offer}?url=https%3A%2F%2Fevil.example&redirect=https://evil.example&\
                 tracking_url=//evil.example&utm_source=fb&click_id=EVIL&sub1=https://evil.example"
            ),
            &[],
        )
        .await;
    assert_eq!(reply.status, StatusCode::FOUND);
    let location = reply.header("location").unwrap();
    let id = reply.click_id();
    assert_eq!(location, format!("{TRACKING_PREFIX}{id}"));
    assert!(!location.contains("evil"), "{location}");
    assert!(ClickId::verify(&env.state.config.click_key, &id).is_ok());
}

pub async fn concurrent_clicks_are_all_counted(store: Arc<dyn ItemStore>) {
    let env = Arc::new(Env::new(store).await);
    let offer = env.offer("Keto").await;
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let env = env.clone();
            let offer = offer.clone();
            tokio::spawn(async move { env.click(&offer, "msg=m1").await })
        })
        .collect();
    let mut ids = std::collections::BTreeSet::new();
    for task in tasks {
        ids.insert(task.await.unwrap());
    }
    assert_eq!(ids.len(), 20);
    assert_eq!(
        env.total(Dimension::Offer, Some(&offer), "clicks").await,
        20
    );
}
