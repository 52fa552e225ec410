//! The tester's postbacks per network kind, from the embedded catalogue.

use super::*;
use affnet_core::Catalogue;
use affnet_core::clickid::{ClickId, LabelHandle};
use chrono::Utc;
use serde_json::json;
use std::collections::BTreeMap;

const OFFER: &str = "01J9ZQ5ZK6F3H2M8N4P7R1S0TV";

fn key() -> ClickKey {
    ClickKey::new(b"a test click secret of 64 characters, 0123456789abcdef0123456789").unwrap()
}

fn click() -> String {
    ClickId::mint(&key(), OFFER, LabelHandle::NONE, 1_760_000_000, [7; 8]).unwrap()
}

fn integration(network: &str) -> Integration {
    let now = Utc::now();
    let mut settings = serde_json::Map::new();
    if network == "tune" {
        settings.insert("network_id".into(), json!("demo"));
    }
    Integration {
        id: "01J9ZQ4TB1N8V6Q0R3K2W5X7YA".into(),
        network: network.into(),
        name: network.into(),
        active: true,
        timeout_ms: 10_000,
        settings,
        credentials: BTreeMap::new(),
        postback_token: "3f9c2a7be41d08c65f1e9a2b7c4d3e8f0a1b2c3d".into(),
        created_at: now,
        updated_at: now,
        version: 0,
        typed: Default::default(),
    }
}

fn run(network: &str, request: TestRequest) -> Result<Plan, InputError> {
    let n = Catalogue::embedded().network(network).unwrap();
    let c = click();
    let sample = Sample {
        click_id: &c,
        transaction_id: "test-0011223344556677",
        payout: request.payout.unwrap_or_else(|| "20".parse().unwrap()),
        currency: "EUR",
        remote_offer_id: Some("26"),
    };
    plan(n, &integration(network), &request, &sample, &key())
}

fn ask(event: Option<&str>, status: Option<Status>, payout: Option<&str>) -> TestRequest {
    TestRequest {
        event: event.map(str::to_string),
        status,
        payout: payout.map(|p| money::parse_amount(p).unwrap()),
    }
}

fn param<'a>(plan: &'a Plan, name: &str) -> Option<&'a str> {
    plan.params
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

#[test]
fn tune_gets_its_macros_filled_and_status_only_when_asked() {
    let p = run("tune", ask(None, None, Some("12.50"))).unwrap();
    assert_eq!(p.path, "/postback/01J9ZQ4TB1N8V6Q0R3K2W5X7YA");
    assert_eq!(p.event, None);
    assert_eq!(p.status, Status::Approved);
    assert_eq!(param(&p, "aff_click_id"), Some(click().as_str()));
    assert_eq!(param(&p, "transaction_id"), Some("test-0011223344556677"));
    assert_eq!(param(&p, "payout"), Some("12.5"));
    assert_eq!(
        (param(&p, "currency"), param(&p, "offer_id")),
        (Some("EUR"), Some("26"))
    );
    assert_eq!((param(&p, "status"), param(&p, "test")), (None, Some("1")));
    let url = p.url("http://127.0.0.1:3000");
    assert!(
        url.starts_with(
            "http://127.0.0.1:3000/postback/01J9ZQ4TB1N8V6Q0R3K2W5X7YA?token=3f9c2a7be41d08c65f1e9a2b7c4d3e8f0a1b2c3d&aff_click_id="
        ),
        "{url}"
    );
    let pending = run("tune", ask(None, Some(Status::Pending), None)).unwrap();
    assert_eq!(
        (param(&pending, "status"), pending.status),
        (Some("pending"), Status::Pending)
    );
    let e = run("tune", ask(Some("approve"), None, None)).unwrap_err();
    assert_eq!(
        (e.code, e.field.as_deref()),
        ("unknown_event", Some("event"))
    );
    assert!(e.message.contains("one postback URL"), "{}", e.message);
}

#[test]
fn a_status_macro_carries_the_word_the_network_sends() {
    // ZCPA's tail says 11 is approve and 12 cancel: those words are sent.
    let p = run("zcpa", ask(None, None, None)).unwrap();
    assert_eq!(p.path, "/api/sale/status.json");
    assert_eq!(p.event.as_deref(), Some("global"));
    assert_eq!(
        param(&p, "id"),
        Some("01J9ZQ4TB1N8V6Q0R3K2W5X7YA-3f9c2a7be41d08c65f1e9a2b7c4d3e8f0a1b2c3d")
    );
    assert_eq!(
        (param(&p, "oid"), param(&p, "status")),
        (Some(click().as_str()), Some("11"))
    );
    assert_eq!(
        (param(&p, "sta"), param(&p, "test")),
        (Some("11"), Some("1"))
    );
    let rejected = run("zcpa", ask(Some("global"), Some(Status::Rejected), None)).unwrap();
    assert_eq!(
        (param(&rejected, "status"), rejected.status),
        (Some("12"), Status::Rejected)
    );
    // DrCash's tail makes `hold` mean wait: it cannot send a hold.
    let e = run("drcash", ask(None, Some(Status::Hold), None)).unwrap_err();
    assert_eq!(e.field.as_deref(), Some("status"));
    assert!(e.message.contains("pending, not hold"), "{}", e.message);
    let pending = run("drcash", ask(None, Some(Status::Pending), None)).unwrap();
    assert_eq!(param(&pending, "status"), Some("hold"));
}

#[test]
fn fixed_tails_are_chosen_by_event_or_by_status() {
    let p = run("ikon", ask(None, None, None)).unwrap();
    assert_eq!(
        (p.event.as_deref(), p.status),
        (Some("approve"), Status::Approved)
    );
    assert_eq!(param(&p, "comment"), Some(SAMPLE_COMMENT));
    let trash = run("ikon", ask(None, Some(Status::Trash), None)).unwrap();
    assert_eq!(trash.event.as_deref(), Some("trash"));
    let dup = run("ikon", ask(Some("duplicate"), None, None)).unwrap();
    assert_eq!(
        (param(&dup, "reason"), dup.status),
        (Some("7"), Status::Rejected)
    );
    let e = run("ikon", ask(Some("cancel"), Some(Status::Approved), None)).unwrap_err();
    assert_eq!(e.field.as_deref(), Some("status"));
    assert!(
        e.message
            .contains("event `cancel` of IKON sends status rejected"),
        "{}",
        e.message
    );
    let e = run("ikon", ask(Some("upsell"), None, None)).unwrap_err();
    assert_eq!(e.code, "unknown_event");
    assert!(
        e.message.contains("approve, trash, cancel, duplicate"),
        "{}",
        e.message
    );
}

#[test]
fn a_payout_is_sent_only_where_the_tail_has_one() {
    let p = run("everad", ask(None, Some(Status::Approved), Some("7.25"))).unwrap();
    assert_eq!(
        (param(&p, "pay"), param(&p, "cc")),
        (Some("7.25"), Some("EUR"))
    );
    let e = run("ikon", ask(Some("approve"), None, Some("5"))).unwrap_err();
    assert_eq!(e.field.as_deref(), Some("payout"));
    assert!(e.message.contains("sends no payout"), "{}", e.message);
}

#[test]
fn affbay_sends_its_parts_one_event_per_static_status() {
    let p = run("affbay", ask(None, None, None)).unwrap();
    assert_eq!(p.path, "/api/sale/status.json");
    assert_eq!(
        (p.event.as_deref(), param(&p, "status")),
        (Some("approve"), Some("accept"))
    );
    assert_eq!(param(&p, "oid"), Some(click().as_str()));
    assert_eq!(param(&p, "comment"), Some(SAMPLE_COMMENT));
    let cancel = run("affbay", ask(Some("cancel"), None, None)).unwrap();
    assert_eq!(
        (param(&cancel, "status"), cancel.status),
        (Some("cancel"), Status::Rejected)
    );
    let trash = run("affbay", ask(None, Some(Status::Trash), None)).unwrap();
    assert_eq!(trash.event.as_deref(), Some("trash"));
    let e = run("affbay", ask(Some("global"), None, None)).unwrap_err();
    assert!(
        e.message.contains("approve, cancel, trash"),
        "{}",
        e.message
    );
}

#[test]
fn a_network_without_tails_gets_the_generic_one() {
    let p = run("adcombo", ask(None, Some(Status::Pending), Some("3"))).unwrap();
    assert_eq!(p.event.as_deref(), Some("global"));
    assert_eq!(
        (param(&p, "status"), param(&p, "pay")),
        (Some("wait"), Some("3"))
    );
}

#[test]
fn the_body_is_checked_by_field() {
    assert_eq!(parse(None).unwrap(), TestRequest::default());
    let ok = parse(Some(
        &json!({"event": "approve", "status": "trash", "payout": "12.50"}),
    ));
    assert_eq!(
        ok.unwrap(),
        ask(Some("approve"), Some(Status::Trash), Some("12.5"))
    );
    let field = |body: Value| {
        let e = parse(Some(&body)).unwrap_err();
        (e.code, e.field.unwrap_or_default())
    };
    assert_eq!(
        field(json!({"status": "paid"})),
        ("invalid_value", "status".into())
    );
    assert_eq!(
        field(json!({"payout": "12,50"})),
        ("invalid_value", "payout".into())
    );
    assert_eq!(
        field(json!({"payout": 12.5})),
        ("wrong_type", "payout".into())
    );
    assert_eq!(
        field(json!({"payout": "-1"})),
        ("invalid_value", "payout".into())
    );
    assert_eq!(
        field(json!({"offer": "x"})),
        ("unknown_field", "offer".into())
    );
}
