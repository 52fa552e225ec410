//! Lead cases, written once and run on every store ([`lead_suite!`]): click → lead → the mock
//! network's order id → a status poll → approved once, counted once, and the same approval by
//! postback changes nothing; timeouts, retries, a crash between storing and sending, refusals.

#![allow(dead_code)]

mod names;
#[allow(unused_imports)]
pub use names::*;

use crate::pb_support::{Pb, nonzero};
use affnet_app::leads::{self, Accepted, jobs};
use affnet_core::Integration;
use affnet_core::clickid::{ClickId, Labels};
use affnet_core::lead::{LeadInput, LeadStatus};
use affnet_core::offer::Offer;
use affnet_store::ItemStore;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use chrono::Utc;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

#[macro_export]
macro_rules! lead_suite {
    ($factory:expr) => {
        $crate::lead_suite!(@cases $factory;
            a_sent_lead_is_approved_once_by_poll_and_postback,
            a_timeout_queues_the_lead_and_the_retry_job_sends_it,
            a_crash_between_storing_and_sending_leaves_it_queued,
            a_duplicate_answer_to_a_resend_means_sent,
            refusals_are_final_with_the_network_text,
            bad_input_stores_and_sends_nothing,
            personal_data_is_erased_and_the_rest_stays,
            a_format2_click_id_gives_the_lead_its_message_and_creative,
            a_postback_by_oid_and_eid_lands_on_the_sent_leads_conversion,
            a_lead_without_order_id_is_found_by_its_click,
            a_lead_adopts_the_conversion_its_postback_made_first,
            a_lead_names_the_conversion_a_postback_by_its_click_made_first,
            the_lead_list_filters_and_pages,
        );
    };
    (@cases $factory:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let store: std::sync::Arc<dyn affnet_store::ItemStore> = $factory.await;
                // Unconstrained: the case ends by dropping its wiremock server, whose `Drop`
                // blocks on a tokio lock with a nested executor; with the task's coop budget
                // spent, that lock never reports ready and the drop spins forever.
                tokio::task::unconstrained(lead_cases::$case(store)).await;
            }
        )*
    };
}

pub const KEY: &str = "wv-token-s3cr3t";

pub struct Env {
    pub pb: Pb,
    pub network: MockServer,
    pub integration: Integration,
    pub offer: Offer,
}

impl Env {
    /// A WebVork integration whose API is the mock, and one offer of it.
    pub async fn webvork(store: Arc<dyn ItemStore>) -> Env {
        Env::new(store, "webvork", json!({"webvork": "7"})).await
    }

    pub async fn new(store: Arc<dyn ItemStore>, network_slug: &str, params: Value) -> Env {
        Env::on(Pb::new(store), network_slug, params, json!({})).await
    }

    /// A WebVork integration (with `settings` besides its `api_url`) on `pb`'s state.
    pub async fn webvork_on(pb: Pb, settings: Value) -> Env {
        Env::on(pb, "webvork", json!({"webvork": "7"}), settings).await
    }

    async fn on(pb: Pb, network_slug: &str, params: Value, settings: Value) -> Env {
        let network = MockServer::start().await;
        let mut settings = settings;
        // `{port}` in a given api_url is the mock's port (`http://localhost:{port}`).
        let api_url = match settings["api_url"].as_str() {
            Some(given) => given.replace("{port}", &network.address().port().to_string()),
            None => network.uri(),
        };
        settings["api_url"] = json!(api_url);
        let spec = pb.state.catalogue.network(network_slug).unwrap();
        let credentials: serde_json::Map<String, Value> = spec
            .credentials
            .iter()
            .map(|c| {
                (
                    c.key.clone(),
                    json!(if c.key == "api_key" { KEY } else { "77" }),
                )
            })
            .collect();
        let created = pb
            .post(
                "/integrations",
                "application/json",
                json!({"network": network_slug, "name": "N", "timeout_ms": 1000,
                       "credentials": credentials,
                       "settings": settings})
                .to_string(),
            )
            .await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
        let integration = pb
            .state
            .repo
            .get_integration(created.json["id"].as_str().unwrap())
            .await
            .unwrap()
            .unwrap();
        let offer = pb
            .post(
                "/offers",
                "application/json",
                json!({"integration_id": integration.id, "name": "Keto", "payout": "10", "currency": "EUR",
                       "tracking_url": "https://landing.example/keto?c={click_id}", "params": params})
                .to_string(),
            )
            .await;
        assert_eq!(offer.status, StatusCode::CREATED, "{}", offer.text);
        let offer = pb
            .state
            .repo
            .get_offer(offer.json["id"].as_str().unwrap())
            .await
            .unwrap()
            .unwrap();
        Env {
            pb,
            network,
            integration,
            offer,
        }
    }

    /// A fresh click ID on the offer from message `msg` and creative `cr`, whose labels are
    /// stored as the click route stores them.
    pub async fn click(&self) -> String {
        self.click_on(&self.offer.id).await
    }

    /// A fresh click ID on the offer `offer_id`.
    pub async fn click_on(&self, offer_id: &str) -> String {
        self.click_at(offer_id, Utc::now().timestamp() as u64).await
    }

    /// A click ID on `offer_id` from a click at `time` (unix seconds).
    pub async fn click_at(&self, offer_id: &str, time: u64) -> String {
        let random: [u8; 8] = rand8();
        let labels = Labels::new("msg", "cr");
        let handle = affnet_app::click_labels::register(&self.pb.state, &labels)
            .await
            .expect("labels stored");
        ClickId::mint(
            &self.pb.state.config.click_key,
            offer_id,
            handle,
            time,
            random,
        )
        .unwrap()
    }

    pub fn body(&self, click: &str) -> Value {
        json!({"click_id": click, "name": "Zofia Nowak", "phone": "+48 601 234 567", "country": "pl",
               "email": "zofia@example.com", "address": "ul. Długa 5", "ip": "93.159.233.130"})
    }

    pub async fn post_lead(&self, body: &Value, key: Option<&str>) -> crate::support::Reply {
        let mut request = Request::builder()
            .method("POST")
            .uri("/leads")
            .header("content-type", "application/json");
        if let Some(key) = key {
            request = request.header("idempotency-key", key);
        }
        crate::support::send(
            &self.pb.router,
            request.body(Body::from(body.to_string())).unwrap(),
        )
        .await
    }

    pub async fn answer(
        &self,
        method_: &str,
        path_: &str,
        status: u16,
        body: &str,
        delay: Duration,
        times: Option<u64>,
    ) {
        let mut mock = Mock::given(method(method_)).and(path(path_)).respond_with(
            ResponseTemplate::new(status)
                .set_body_string(body)
                .set_delay(delay),
        );
        if let Some(n) = times {
            mock = mock.up_to_n_times(n);
        }
        mock.mount(&self.network).await;
    }

    pub async fn sent_to_network(&self, path_: &str) -> usize {
        self.network
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .filter(|r| r.url.path() == path_)
            .count()
    }

    pub async fn patch(&self, uri: &str, body: Value) -> StatusCode {
        let reply = crate::support::call(&self.pb.router, "PATCH", uri, Some(body)).await;
        assert!(reply.status.is_success(), "{}", reply.text);
        reply.status
    }

    pub async fn lead(&self, id: &str) -> Value {
        let reply = self.pb.get(&format!("/leads/{id}")).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        reply.json
    }
}

fn rand8() -> [u8; 8] {
    affnet_core::ids::random_hex(4)
        .bytes()
        .collect::<Vec<_>>()
        .try_into()
        .unwrap()
}

const NEW_LEAD: &str = "/v1/new-lead";
const STATUS: &str = "/v1/get-lead-status";

pub async fn a_sent_lead_is_approved_once_by_poll_and_postback(store: Arc<dyn ItemStore>) {
    let env = Env::webvork(store).await;
    env.answer(
        "GET",
        NEW_LEAD,
        200,
        r#"{"status":"ok","guid":"G-1"}"#,
        Duration::ZERO,
        None,
    )
    .await;
    env.answer(
        "GET",
        STATUS,
        200,
        r#"[{"guid":"G-1","status":"confirmed","money":9,"currency":"EUR"}]"#,
        Duration::ZERO,
        None,
    )
    .await;
    let click = env.click().await;
    env.pb.counting.reset();
    let first = env.post_lead(&env.body(&click), None).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.text);
    assert_eq!(first.json["status"], "sent");
    // Two batches: the lead queued, then its conversion with the lead's result.
    assert_eq!(env.pb.counting.batches(), 2);
    assert_eq!(first.json["network_order_id"], "G-1");
    let lead_id = first.json["lead_id"].as_str().unwrap().to_string();
    // Posted again: the same lead, no second order.
    let again = env.post_lead(&env.body(&click), None).await;
    assert_eq!((again.status, &again.json), (StatusCode::OK, &first.json));
    assert_eq!(env.sent_to_network(NEW_LEAD).await, 1);

    let lead = env.lead(&lead_id).await;
    assert_eq!(lead["conversion"]["status"], "pending");
    assert_eq!(lead["conversion"]["offer_id"], env.offer.id);
    assert_eq!(lead["conversion"]["message_id"], "msg");
    assert_eq!(lead["attempts"].as_array().unwrap().len(), 1);
    assert!(!lead["attempts"][0]["reply"].as_str().unwrap().contains(KEY));
    // Its event, once though posted twice: the lead left the queue once.
    let sent = env.pb.get("/events?type=lead.sent").await;
    let items = sent.json["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{}", sent.text);
    assert_eq!(items[0]["data"]["lead_id"], lead_id.as_str());
    assert_eq!(items[0]["data"]["network_order_id"], "G-1");
    assert_eq!(items[0]["data"]["conversion_id"], lead["conversion"]["id"]);
    assert_eq!(items[0]["data"]["message_id"], "msg");

    let run = env
        .pb
        .post(
            &format!("/integrations/{}/status-sync", env.integration.id),
            "application/json",
            "",
        )
        .await;
    assert_eq!(run.status, StatusCode::OK, "{}", run.text);
    assert_eq!(
        (
            run.json["leads_asked"].as_u64(),
            run.json["changed"].as_u64()
        ),
        (Some(1), Some(1)),
        "{}",
        run.text
    );
    let lead = env.lead(&lead_id).await;
    assert_eq!(lead["conversion"]["status"], "approved");
    let history = lead["conversion"]["history"].as_array().unwrap();
    assert_eq!(history.last().unwrap()["source"], "api");
    assert_eq!(history[0]["source"], "lead");
    let counted = || async { nonzero(&env.pb.day_totals().await) };
    let before = counted().await;
    assert_eq!(before["count.approved"], "1", "{before:?}");
    assert_eq!(before["conversions"], "1", "{before:?}");

    // A final lead is not asked again; the same approval by postback changes nothing.
    let run = env
        .pb
        .post(
            &format!("/integrations/{}/status-sync", env.integration.id),
            "application/json",
            "",
        )
        .await;
    assert_eq!(run.json["leads_asked"], 0, "{}", run.text);
    let pb = env
        .pb
        .altercpa(&env.integration, &format!("oid={click}&status=approve"))
        .await;
    assert_eq!(pb.status, StatusCode::OK, "{}", pb.text);
    assert_eq!(pb.json["outcome"], "duplicate", "{}", pb.text);
    assert_eq!(counted().await, before);
    let conversions = env.pb.conversions(&format!("click={click}")).await;
    assert_eq!(conversions.len(), 1);
}

pub async fn a_timeout_queues_the_lead_and_the_retry_job_sends_it(store: Arc<dyn ItemStore>) {
    let env = Env::webvork(store).await;
    env.answer(
        "GET",
        NEW_LEAD,
        200,
        r#"{"status":"ok","guid":"late"}"#,
        Duration::from_millis(2_500),
        Some(1),
    )
    .await;
    env.answer(
        "GET",
        NEW_LEAD,
        200,
        r#"{"status":"ok","guid":"G-2"}"#,
        Duration::ZERO,
        None,
    )
    .await;
    let click = env.click().await;
    let first = env.post_lead(&env.body(&click), Some("form-1")).await;
    assert_eq!(first.status, StatusCode::ACCEPTED, "{}", first.text);
    assert_eq!(first.json["status"], "queued");
    let lead_id = first.json["lead_id"].as_str().unwrap().to_string();
    // The landing page's repeated POST (same key) gets the same lead.
    let again = env.post_lead(&env.body(&click), Some("form-1")).await;
    assert_eq!(again.status, StatusCode::OK);
    assert_eq!(again.json["lead_id"], lead_id.as_str());
    assert_eq!(again.json["status"], "queued");
    // Not due yet: nothing sent.
    let run = jobs::run_retries(&env.pb.state, Utc::now()).await.unwrap();
    assert_eq!(run.sent, 0);
    let run = jobs::run_retries(&env.pb.state, Utc::now() + chrono::Duration::hours(1))
        .await
        .unwrap();
    assert_eq!((run.due, run.sent), (1, 1));
    let lead = env.lead(&lead_id).await;
    assert_eq!(lead["status"], "sent");
    assert_eq!(lead["network_order_id"], "G-2");
    let attempts = lead["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2);
    assert_eq!(attempts[0]["outcome"], "retry");
    assert!(attempts[0]["http_status"].is_null());
    assert_eq!(attempts[1]["outcome"], "sent");
    let again = env.post_lead(&env.body(&click), None).await;
    assert_eq!(
        (again.status, again.json["status"].as_str()),
        (StatusCode::OK, Some("sent"))
    );
}

pub async fn a_crash_between_storing_and_sending_leaves_it_queued(store: Arc<dyn ItemStore>) {
    let env = Env::webvork(store).await;
    env.answer(
        "GET",
        NEW_LEAD,
        200,
        r#"{"status":"ok","guid":"G-3"}"#,
        Duration::ZERO,
        None,
    )
    .await;
    let click = env.click().await;
    // What POST /leads does before sending; then the process "dies".
    let input = LeadInput::parse(&env.body(&click)).unwrap();
    let Accepted::New(lead, _) = leads::accept(&env.pb.state, input, None).await.unwrap() else {
        panic!("a new lead");
    };
    assert_eq!(env.sent_to_network(NEW_LEAD).await, 0);
    let stored = env.pb.state.repo.get_lead(&lead.id).await.unwrap().unwrap();
    assert_eq!(stored.status, LeadStatus::Queued);
    // Once the first attempt's lease is over, the retry job sends it.
    let later = Utc::now() + chrono::Duration::minutes(5);
    let run = jobs::run_retries(&env.pb.state, later).await.unwrap();
    assert_eq!(run.sent, 1);
    let again = env.post_lead(&env.body(&click), None).await;
    assert_eq!(again.json["status"], "sent");
    assert_eq!(again.json["network_order_id"], "G-3");
    assert_eq!(env.sent_to_network(NEW_LEAD).await, 1);
}

pub async fn a_duplicate_answer_to_a_resend_means_sent(store: Arc<dyn ItemStore>) {
    let env = Env::webvork(store).await;
    env.answer("GET", NEW_LEAD, 502, "bad gateway", Duration::ZERO, Some(1))
        .await;
    env.answer(
        "GET",
        NEW_LEAD,
        200,
        r#"{"status":"error","msg":"duplicate lead"}"#,
        Duration::ZERO,
        None,
    )
    .await;
    let first = env.post_lead(&env.body(&env.click().await), None).await;
    assert_eq!(first.status, StatusCode::ACCEPTED, "{}", first.text);
    let run = jobs::run_retries(&env.pb.state, Utc::now() + chrono::Duration::hours(1))
        .await
        .unwrap();
    assert_eq!(run.sent, 1);
    let lead = env.lead(first.json["lead_id"].as_str().unwrap()).await;
    assert_eq!(lead["status"], "sent");
    assert_eq!(lead["conversion"]["status"], "pending");
}

pub async fn refusals_are_final_with_the_network_text(store: Arc<dyn ItemStore>) {
    let env = Env::webvork(store).await;
    env.answer(
        "GET",
        NEW_LEAD,
        200,
        r#"{"status":"error","msg":"invalid phone for PL"}"#,
        Duration::ZERO,
        Some(1),
    )
    .await;
    env.answer(
        "GET",
        NEW_LEAD,
        200,
        r#"{"status":"error","msg":"duplicate lead"}"#,
        Duration::ZERO,
        None,
    )
    .await;
    let rejected = env.post_lead(&env.body(&env.click().await), None).await;
    assert_eq!(rejected.status, StatusCode::CREATED, "{}", rejected.text);
    assert_eq!(rejected.json["status"], "rejected");
    assert_eq!(rejected.json["error"]["message"], "invalid phone for PL");
    let trash = env.post_lead(&env.body(&env.click().await), None).await;
    assert_eq!(trash.json["status"], "trash");
    assert_eq!(trash.json["error"]["kind"], "duplicate");
    let failed = env.pb.get("/events?type=lead.failed").await;
    let items = failed.json["items"].as_array().unwrap();
    let outcomes: Vec<_> = items
        .iter()
        .map(|e| (e["data"]["status"].clone(), e["data"]["reason"].clone()))
        .collect();
    assert_eq!(
        outcomes,
        [
            (json!("rejected"), json!("rejected")),
            (json!("trash"), json!("duplicate"))
        ],
        "{}",
        failed.text
    );
    let body = env.body("x");
    for personal in [&body["name"], &body["phone"], &json!("invalid phone")] {
        let personal = personal.as_str().unwrap();
        assert!(
            !failed.text.contains(personal),
            "{personal}: {}",
            failed.text
        );
    }
    let list = env.pb.get("/leads?status=rejected").await;
    assert_eq!(list.json["items"].as_array().unwrap().len(), 1);
    assert!(
        list.json["items"][0].get("contact").is_none(),
        "no personal data in lists"
    );
    assert!(
        jobs::run_retries(&env.pb.state, Utc::now() + chrono::Duration::days(1))
            .await
            .unwrap()
            .due
            == 0
    );
}

pub async fn bad_input_stores_and_sends_nothing(store: Arc<dyn ItemStore>) {
    let env = Env::webvork(store).await;
    let click = env.click().await;
    let with = |k: &str, v: Value| {
        let mut b = env.body(&click);
        b[k] = v;
        b
    };
    for (body, field) in [
        (with("phone", json!("not a phone")), "phone"),
        (with("country", json!("POL")), "country"),
        (with("name", json!("")), "name"),
        (with("name", json!("x".repeat(201))), "name"),
        (with("comment", json!("c".repeat(17_000))), "body"),
    ] {
        let r = env.post_lead(&body, None).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{field}: {}", r.text);
        assert_eq!(r.json["error"]["field"], field, "{}", r.text);
    }
    // Its last character changed (to another one: a random ID may end in `x`).
    let last = if click.ends_with('x') { 'y' } else { 'x' };
    let forged_id = format!("{}{last}", &click[..click.len() - 1]);
    let forged = env
        .post_lead(&with("click_id", json!(forged_id)), None)
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN, "{}", forged.text);
    // A genuine click ID from a click older than the clicks kept (90 days by default).
    let old = Utc::now() - chrono::Duration::days(91);
    let expired = env.click_at(&env.offer.id, old.timestamp() as u64).await;
    let r = env.post_lead(&env.body(&expired), None).await;
    assert_eq!(
        (r.status, r.json["error"]["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("expired_click_id")),
        "{}",
        r.text
    );
    let paused = env
        .patch(
            &format!("/offers/{}", env.offer.id),
            json!({"status": "paused"}),
        )
        .await;
    assert_eq!(paused, StatusCode::OK);
    let r = env.post_lead(&env.body(&click), None).await;
    assert_eq!(
        (r.status, r.json["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("offer_paused"))
    );
    env.patch(
        &format!("/offers/{}", env.offer.id),
        json!({"status": "active"}),
    )
    .await;
    env.patch(
        &format!("/integrations/{}", env.integration.id),
        json!({"active": false}),
    )
    .await;
    let r = env.post_lead(&env.body(&click), None).await;
    assert_eq!(
        (r.status, r.json["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("integration_inactive"))
    );
    assert!(
        env.pb.get("/leads").await.json["items"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(env.sent_to_network(NEW_LEAD).await, 0);

    // A network with postbacks only.
    let zcpa = Env::new(
        env.pb.state.repo.items().clone(),
        "zcpa",
        json!({"zcpa": "1"}),
    )
    .await;
    let r = zcpa.post_lead(&zcpa.body(&zcpa.click().await), None).await;
    assert_eq!(
        (r.status, r.json["error"]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("no_lead_api")),
        "{}",
        r.text
    );
}

pub async fn personal_data_is_erased_and_the_rest_stays(store: Arc<dyn ItemStore>) {
    let env = Env::webvork(store).await;
    env.answer(
        "GET",
        NEW_LEAD,
        200,
        r#"{"status":"ok","guid":"G-9"}"#,
        Duration::ZERO,
        None,
    )
    .await;
    let sent = env.post_lead(&env.body(&env.click().await), None).await;
    let id = sent.json["lead_id"].as_str().unwrap().to_string();
    assert_eq!(env.lead(&id).await["contact"]["name"], "Zofia Nowak");
    let erased = jobs::erase_contacts(&env.pb.state, Utc::now())
        .await
        .unwrap();
    assert_eq!(erased, 0, "kept for AFFNET_LEAD_PII_DAYS");
    let later = Utc::now() + chrono::Duration::days(91);
    assert_eq!(jobs::erase_contacts(&env.pb.state, later).await.unwrap(), 1);
    let lead = env.lead(&id).await;
    assert!(lead["contact"].is_null(), "{lead}");
    assert!(lead["contact_erased_at"].is_string());
    assert_eq!(lead["attempts"].as_array().unwrap().len(), 1);
    assert_eq!(lead["conversion"]["status"], "pending");
    assert_eq!(lead["network_order_id"], "G-9");
}

/// `GET /leads` through the router: each filter (integration, offer, status, from/to) keeps
/// exactly its leads, pages join up without loss or repeat, and no item holds personal data.
pub async fn the_lead_list_filters_and_pages(store: Arc<dyn ItemStore>) {
    let env = Env::webvork(store).await;
    let started = Utc::now() - chrono::Duration::seconds(1);
    let other = env
        .pb
        .post(
            "/offers",
            "application/json",
            json!({"integration_id": env.integration.id, "name": "Keto 2", "payout": "12",
                   "currency": "EUR", "tracking_url": "https://landing.example/k2?c={click_id}",
                   "params": {"webvork": "8"}})
            .to_string(),
        )
        .await;
    assert_eq!(other.status, StatusCode::CREATED, "{}", other.text);
    let other = other.json["id"].as_str().unwrap().to_string();
    for guid in ["G-A", "G-B", "G-C"] {
        env.answer(
            "GET",
            NEW_LEAD,
            200,
            &format!(r#"{{"status":"ok","guid":"{guid}"}}"#),
            Duration::ZERO,
            Some(1),
        )
        .await;
    }
    env.answer(
        "GET",
        NEW_LEAD,
        200,
        r#"{"status":"error","msg":"invalid phone"}"#,
        Duration::ZERO,
        None,
    )
    .await;
    let mut ids = Vec::new();
    for offer in [&env.offer.id, &env.offer.id, &other, &env.offer.id] {
        let r = env
            .post_lead(&env.body(&env.click_on(offer).await), None)
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
        ids.push(r.json["lead_id"].as_str().unwrap().to_string());
    }
    let (a, b, c, d) = (&ids[0], &ids[1], &ids[2], &ids[3]);
    let listed = |query: String| {
        let pb = &env.pb;
        async move {
            let r = pb.get(&format!("/leads{query}")).await;
            assert_eq!(r.status, StatusCode::OK, "{query}: {}", r.text);
            assert!(!r.text.contains("Zofia"), "no personal data in lists");
            let mut got: Vec<String> = r.json["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|l| l["id"].as_str().unwrap().to_string())
                .collect();
            got.sort();
            got
        }
    };
    let sorted = |list: &[&String]| {
        let mut v: Vec<String> = list.iter().map(|s| s.to_string()).collect();
        v.sort();
        v
    };
    assert_eq!(listed(String::new()).await, sorted(&[a, b, c, d]));
    assert_eq!(listed(format!("?offer={other}")).await, sorted(&[c]));
    assert_eq!(
        listed(format!("?integration={}", env.integration.id)).await,
        sorted(&[a, b, c, d])
    );
    assert!(
        listed("?integration=01NOSUCHINTEGRATION000000".into())
            .await
            .is_empty()
    );
    assert_eq!(listed("?status=rejected".into()).await, sorted(&[d]));
    assert_eq!(
        listed(format!("?status=sent&offer={}", env.offer.id)).await,
        sorted(&[a, b])
    );
    let from = started.format("%Y-%m-%dT%H:%M:%SZ");
    assert_eq!(listed(format!("?from={from}")).await, sorted(&[a, b, c, d]));
    let later = (Utc::now() + chrono::Duration::hours(1)).format("%Y-%m-%dT%H:%M:%SZ");
    assert!(listed(format!("?from={later}")).await.is_empty());
    // A date `to` is the end of that day; a time is that instant.
    let earlier = (started - chrono::Duration::hours(1)).format("%Y-%m-%dT%H:%M:%SZ");
    assert!(listed(format!("?to={earlier}")).await.is_empty());
    let yesterday = (started - chrono::Duration::days(1)).format("%Y-%m-%d");
    assert!(listed(format!("?to={yesterday}")).await.is_empty());
    let today = Utc::now().format("%Y-%m-%d");
    assert_eq!(listed(format!("?to={today}")).await, sorted(&[a, b, c, d]));

    // Pages of 3: the second holds the rest, and the two join up exactly.
    let first = env.pb.get("/leads?limit=3").await;
    let page: Vec<String> = first.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(page.len(), 3, "{}", first.text);
    let cursor = first.json["next_cursor"].as_str().expect("a next page");
    let second = env.pb.get(&format!("/leads?limit=3&cursor={cursor}")).await;
    let mut all: Vec<String> = second.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["id"].as_str().unwrap().to_string())
        .chain(page)
        .collect();
    assert!(second.json["next_cursor"].is_null(), "{}", second.text);
    all.sort();
    assert_eq!(all, sorted(&[a, b, c, d]));

    let bad = env.pb.get("/leads?status=approved").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.text);
    assert!(bad.text.contains("status"), "{}", bad.text);
}
