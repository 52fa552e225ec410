//! Postbacks through the real router on the embedded store: status rules with history and
//! totals, unmatched conversions, security and input checks (nothing stored on refusal), request
//! bodies, logs, listing conversions and the postback URL.

mod pb_support;
mod support;

use affnet_app::Config;
use affnet_store::SqliteStore;
use affnet_store::totals::{Dimension, click_totals_key, totals_key};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use pb_support::{CREATIVE, MESSAGE, Pb, click, enc, nonzero, today};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::Arc;

fn pb() -> Pb {
    Pb::new(Arc::new(SqliteStore::in_memory().unwrap()))
}

fn counts(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

async fn ok(pb: &Pb, i: &affnet_core::Integration, tail: &str, outcome: &str) -> Value {
    let reply = pb.altercpa(i, tail).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.json["status"], "ok", "{tail}: {}", reply.text);
    assert_eq!(reply.json["outcome"], outcome, "{tail}: {}", reply.text);
    pb.conversion(reply.json["conversion_id"].as_str().unwrap())
        .await
}

/// Nothing of a refused postback is stored: no conversion, no totals.
async fn assert_nothing_stored(pb: &Pb) {
    assert!(pb.conversions("").await.is_empty());
    assert!(pb.day_totals().await.is_empty());
}

#[tokio::test]
async fn lifecycle_keeps_history_and_moves_totals_once() {
    let pb = pb();
    let i = pb.integration("leadbit", json!({})).await;
    let click = click(&pb.state).await;
    let c = ok(
        &pb,
        &i,
        &format!("oid={click}&status=new&pay=10&cc=USD"),
        "created",
    )
    .await;
    assert_eq!(c["status"], "pending");
    let want = counts(&[
        ("conversions", "1"),
        ("count.pending", "1"),
        ("revenue.pending.USD", "10"),
    ]);
    assert_eq!(nonzero(&pb.day_totals().await), want);
    assert_eq!(nonzero(&pb.offer_totals().await), want);
    for (dim, value) in [
        (Dimension::Message, MESSAGE),
        (Dimension::Creative, CREATIVE),
    ] {
        let key = totals_key(dim, today(), Some(value));
        assert_eq!(nonzero(&pb.counters(&key).await), want, "{dim:?}");
    }
    assert_eq!(nonzero(&pb.counters(&click_totals_key(&click)).await), want);

    let c = ok(
        &pb,
        &i,
        &format!("oid={click}&status=confirm&pay=10&cc=USD"),
        "changed",
    )
    .await;
    assert_eq!(c["status"], "approved");
    let approved = counts(&[
        ("conversions", "1"),
        ("count.approved", "1"),
        ("revenue.approved.USD", "10"),
    ]);
    assert_eq!(nonzero(&pb.day_totals().await), approved);

    // Late pending: ignored; the same approval again: a duplicate.
    let c = ok(
        &pb,
        &i,
        &format!("oid={click}&status=new&pay=99&cc=USD"),
        "stale",
    )
    .await;
    assert_eq!(
        (c["status"].clone(), c["payout"].clone()),
        (json!("approved"), json!("10"))
    );
    ok(
        &pb,
        &i,
        &format!("oid={click}&status=confirm&pay=10.00&cc=USD"),
        "duplicate",
    )
    .await;
    assert_eq!(nonzero(&pb.day_totals().await), approved);

    // A payout change within approved is kept in the history and nets in revenue.
    let c = ok(
        &pb,
        &i,
        &format!("oid={click}&status=confirm&pay=12.5&cc=USD"),
        "changed",
    )
    .await;
    assert_eq!(c["payout"], "12.5");
    assert_eq!(
        nonzero(&pb.day_totals().await),
        counts(&[
            ("conversions", "1"),
            ("count.approved", "1"),
            ("revenue.approved.USD", "12.5")
        ])
    );

    // Reversal.
    let c = ok(&pb, &i, &format!("oid={click}&status=decline"), "changed").await;
    assert_eq!(c["status"], "rejected");
    let kinds: Vec<&str> = c["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["created", "progress", "payout", "reversal"]);
    let h = &c["history"][2];
    assert_eq!(
        (h["payout_before"].clone(), h["payout_after"].clone()),
        (json!("10"), json!("12.5"))
    );
    let rejected = counts(&[
        ("conversions", "1"),
        ("count.rejected", "1"),
        ("revenue.rejected.USD", "12.5"),
    ]);
    assert_eq!(nonzero(&pb.day_totals().await), rejected);
    assert_eq!(nonzero(&pb.offer_totals().await), rejected);
    assert_eq!(pb.conversions("").await.len(), 1);
    assert_eq!(pb.logs(&i).await.len(), 6);
}

#[tokio::test]
async fn hold_is_not_pending() {
    let pb = pb();
    let i = pb.integration("drcash", json!({})).await;
    let click = click(&pb.state).await;
    // `sth` says the word means hold (approved, not yet paid).
    let c = ok(
        &pb,
        &i,
        &format!("oid={click}&status=on_hold&sth=on_hold"),
        "created",
    )
    .await;
    assert_eq!(c["status"], "hold");
    let c = ok(&pb, &i, &format!("oid={click}&status=pending"), "stale").await;
    assert_eq!(c["status"], "hold");
    let c = ok(
        &pb,
        &i,
        &format!("oid={click}&status=approved&pay=5&cc=EUR"),
        "changed",
    )
    .await;
    assert_eq!(c["status"], "approved");
    assert_eq!(
        nonzero(&pb.day_totals().await),
        counts(&[
            ("conversions", "1"),
            ("count.approved", "1"),
            ("revenue.approved.EUR", "5")
        ])
    );
}

#[tokio::test]
async fn unmatched_is_kept_and_attributed_later() {
    let pb = pb();
    let i = pb.integration("monadlead", json!({})).await;
    // The network's own lead id, no click of ours: unmatched, counted in the day only.
    let c = ok(&pb, &i, "eid=ML-778812&status=new&pay=3&cc=USD", "created").await;
    assert_eq!(c["matched"], false);
    assert_eq!(c["unmatched_reason"], "click_absent");
    assert!(c["offer_id"].is_null());
    assert_eq!(nonzero(&pb.day_totals().await)["conversions"], "1");
    assert!(pb.offer_totals().await.is_empty());
    // A forged click ID is recorded, unmatched, with the reason.
    let f = ok(&pb, &i, "eid=ML-1&oid=not-our-click&status=new", "created").await;
    assert_eq!(f["unmatched_reason"], "click_id_encoding");

    // Later the same lead arrives with our click: attributed, counts move.
    let click = click(&pb.state).await;
    let c = ok(
        &pb,
        &i,
        &format!("eid=ML-778812&oid={click}&status=approve&pay=3&cc=USD"),
        "changed",
    )
    .await;
    assert_eq!(
        (c["matched"].clone(), c["click_id"].clone()),
        (json!(true), json!(click))
    );
    assert_eq!(c["message_id"], MESSAGE);
    assert_eq!(
        nonzero(&pb.day_totals().await),
        counts(&[
            ("conversions", "2"),
            ("count.approved", "1"),
            ("count.pending", "1"),
            ("revenue.approved.USD", "3")
        ])
    );
    assert_eq!(
        nonzero(&pb.offer_totals().await),
        counts(&[
            ("conversions", "1"),
            ("count.approved", "1"),
            ("revenue.approved.USD", "3")
        ])
    );

    // Attribution alone (same status) is its own outcome.
    let click2 = affnet_core::clickid::ClickId::mint(
        &pb.state.config.click_key,
        pb_support::OFFER,
        affnet_core::clickid::LabelHandle::NONE,
        1_760_000_000,
        [9; 8],
    )
    .unwrap();
    ok(
        &pb,
        &i,
        &format!("eid=ML-1&oid={click2}&status=new"),
        "attributed",
    )
    .await;
    let o = pb.offer_totals().await;
    assert_eq!(nonzero(&o)["conversions"], "2");
    let none = totals_key(Dimension::Message, today(), None);
    assert_eq!(nonzero(&pb.counters(&none).await)["count.pending"], "1");
}

#[tokio::test]
async fn bad_token_unknown_and_inactive_integrations() {
    let pb = pb();
    let i = pb.integration("leadbit", json!({})).await;
    let click = click(&pb.state).await;
    let tail = format!("oid={click}&status=confirm");
    let wrong = "0000000000000000000000000000000000000000";
    let r = pb
        .get(&format!("/postback/{}?token={wrong}&{tail}", i.id))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    assert_eq!(r.json["error"]["code"], "bad_token");
    let r = pb.get(&format!("/postback/{}?{tail}", i.id)).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = pb
        .get(&format!(
            "/postback/01J9ZQ4TB1N8V6Q0R3K2W5X7YA?token={wrong}&{tail}"
        ))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // AlterCPA: 200 with `key`, so the network stops retrying a URL that can never work.
    let r = pb
        .get(&format!("/api/sale/status.json?id={}-{wrong}&{tail}", i.id))
        .await;
    assert_eq!(
        (r.status, r.json.clone()),
        (
            StatusCode::OK,
            json!({"status": "error", "error": "key", "message": "missing or wrong postback token"})
        )
    );
    let r = pb.get(&format!("/api/sale/status.json?{tail}")).await;
    assert_eq!(r.json["error"], "key");
    assert_nothing_stored(&pb).await;

    let mut inactive = pb.state.repo.get_integration(&i.id).await.unwrap().unwrap();
    inactive.active = false;
    pb.state.repo.update_integration(&inactive).await.unwrap();
    let r = pb.postback(&i, &tail).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.json["error"]["code"], "integration_inactive");
    let r = pb.altercpa(&i, &tail).await;
    assert_eq!(
        (r.status, r.json["error"].clone()),
        (StatusCode::OK, json!("integration_inactive"))
    );
    assert_nothing_stored(&pb).await;

    // Refusals are logged (not the unknown integration's), tokens masked.
    let logs = pb.logs(&i).await;
    let outcomes: Vec<&str> = logs
        .iter()
        .map(|l| l["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(
        outcomes,
        [
            "integration_inactive",
            "integration_inactive",
            "bad_token",
            "bad_token",
            "bad_token"
        ]
    );
    assert_eq!(logs[4]["query"], format!("token=***&{tail}"));
    assert_eq!(logs[2]["query"], format!("id={}-***&{tail}", i.id));
    assert_eq!(logs[2]["http_status"], 200);
    assert_eq!(logs[4]["http_status"], 403);
    let text = serde_json::to_string(&logs).unwrap();
    assert!(!text.contains(&i.postback_token) && !text.contains(wrong));
}

#[tokio::test]
async fn ip_allowlist_fails_closed() {
    let pb = pb();
    let i = pb
        .integration(
            "leadbit",
            json!({"ip_allowlist": ["203.0.113.0/24", "2001:db8::/32"]}),
        )
        .await;
    let uri = |click: &str| {
        format!(
            "/postback/{}?token={}&oid={click}&status=new",
            i.id, i.postback_token
        )
    };
    let r = pb
        .get_from(&uri(&click(&pb.state).await), Some("198.51.100.7"))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_eq!(r.json["error"]["code"], "ip_not_allowed");
    // No known source address (no ConnectInfo, no Lambda context): refused.
    let r = pb.get_from(&uri(&click(&pb.state).await), None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert_nothing_stored(&pb).await;
    let r = pb
        .get_from(&uri(&click(&pb.state).await), Some("203.0.113.9"))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let r = pb
        .get_from(&uri(&click(&pb.state).await), Some("[2001:db8::5]"))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let logs = pb.logs(&i).await;
    assert_eq!(logs[0]["remote_ip"], "2001:db8::5");
    assert_eq!(logs[3]["remote_ip"], "198.51.100.7");
}

#[tokio::test]
async fn malformed_input_is_refused_and_stores_nothing() {
    let pb = pb();
    let i = pb.integration("everad", json!({})).await;
    let click = click(&pb.state).await;
    let long = "x".repeat(2_100);
    let cases = [
        (
            format!("oid={click}&status=approved&pay=12,50&cc=USD"),
            "invalid_amount",
            "pay",
        ),
        (
            format!("oid={click}&status=approved&pay=-5&cc=USD"),
            "invalid_amount",
            "pay",
        ),
        (
            format!("oid={click}&status=approved&pay=5000000&cc=USD"),
            "invalid_amount",
            "pay",
        ),
        (
            format!("oid={click}&status=approved&pay=1e3&cc=USD"),
            "invalid_amount",
            "pay",
        ),
        (
            format!("oid={click}&status=approved&pay=5&cc=XYZ"),
            "unknown_currency",
            "cc",
        ),
        (
            format!("oid={click}&status=approved&comment={long}"),
            "value_too_long",
            "comment",
        ),
        (
            format!("oid={click}&status=teleported"),
            "unknown_status",
            "status",
        ),
        ("status=approved".to_string(), "missing_parameter", "oid"),
        (format!("oid={click}"), "missing_parameter", "status"),
    ];
    for (tail, code, field) in &cases {
        let r = pb.postback(&i, tail).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{tail}: {}", r.text);
        assert_eq!(r.json["error"]["code"], *code, "{tail}");
        assert_eq!(r.json["error"]["field"], *field, "{tail}");
        // AlterCPA answers 200 with the parameter (`orderid` for a missing order id).
        let r = pb.altercpa(&i, tail).await;
        assert_eq!(r.status, StatusCode::OK);
        let want = if *field == "oid" { "orderid" } else { field };
        assert_eq!(r.json["error"], want, "{tail}");
    }
    // A body over 16 KiB.
    let body = format!(
        "oid={click}&status=approved&comment={}",
        "y".repeat(17 * 1024)
    );
    let uri = format!("/postback/{}?token={}", i.id, i.postback_token);
    let r = pb
        .post(&uri, "application/x-www-form-urlencoded", body.clone())
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.text);
    assert_eq!(r.json["error"]["code"], "body_too_large");
    let alter = format!("/api/sale/status.json?id={}-{}", i.id, i.postback_token);
    let r = pb
        .post(&alter, "application/x-www-form-urlencoded", body)
        .await;
    assert_eq!(
        (r.status, r.json["error"].clone()),
        (StatusCode::OK, json!("body_too_large"))
    );
    // JSON bodies hold scalar parameters only.
    let r = pb
        .post(
            &uri,
            "application/json",
            json!({"oid": click, "status": {"a": 1}}).to_string(),
        )
        .await;
    assert_eq!(r.json["error"]["code"], "malformed_body");
    let r = pb.post(&uri, "application/json", "{not json").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_nothing_stored(&pb).await;
    assert_eq!(pb.logs(&i).await.len(), cases.len() * 2 + 4);
}

#[tokio::test]
async fn post_bodies_merge_with_the_query() {
    let pb = pb();
    let i = pb.integration("everad", json!({})).await;
    let uri = format!("/postback/{}?token={}", i.id, i.postback_token);
    let c1 = click(&pb.state).await;
    let r = pb
        .post(
            &uri,
            "application/x-www-form-urlencoded",
            format!("oid={c1}&status=approved&pay=4.75&cc=usd"),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let c = pb
        .conversion(r.json["conversion_id"].as_str().unwrap())
        .await;
    assert_eq!(
        (c["payout"].clone(), c["currency"].clone()),
        (json!("4.75"), json!("USD"))
    );
    // JSON numbers keep their decimal text; the token may come in the body too.
    let c2 = click(&pb.state).await;
    let body = format!(
        r#"{{"token":"{}","oid":"{c2}","status":"approved","pay":12.50,"cc":"EUR","comment":"{}"}}"#,
        i.postback_token, i.postback_token
    );
    let r = pb
        .post(&format!("/postback/{}", i.id), "application/json", body)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let c = pb
        .conversion(r.json["conversion_id"].as_str().unwrap())
        .await;
    assert_eq!(c["payout"], "12.5");
    let logs = pb.logs(&i).await;
    let body = logs[0]["body"].as_str().unwrap();
    assert!(
        body.contains(r#""token":"***""#) && !body.contains(&i.postback_token),
        "{body}"
    );
    // A glued tail after `token=` (no `&`) still works.
    let c3 = click(&pb.state).await;
    let r = pb
        .get(&format!(
            "/postback/{}?token={}oid={c3}&status=approved",
            i.id, i.postback_token
        ))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(
        pb.conversion(r.json["conversion_id"].as_str().unwrap())
            .await["click_id"],
        c3
    );
}

#[tokio::test]
async fn tune_postbacks_and_their_url() {
    let pb = pb();
    let i = pb
        .integration("tune", json!({"default_currency": "EUR"}))
        .await;
    let r = pb
        .get(&format!("/integrations/{}/postback-url", i.id))
        .await;
    assert_eq!(
        r.json["postback_url"],
        format!(
            "https://track.example.com/postback/{}?token={}&aff_click_id={{aff_click_id}}&transaction_id={{transaction_id}}&goal_id={{goal_id}}&offer_id={{offer_id}}&payout={{payout}}&currency={{currency}}&sale_amount={{sale_amount}}",
            i.id, i.postback_token
        )
    );
    assert!(r.text.contains("{aff_sub}"));
    // No currency macro value: the integration's default currency.
    let click = click(&pb.state).await;
    let c = pb
        .postback(
            &i,
            &format!(
                "aff_click_id={click}&transaction_id=1029&payout=15.00000&currency={{currency}}"
            ),
        )
        .await;
    assert_eq!(c.status, StatusCode::OK, "{}", c.text);
    assert_eq!(c.json["unsubstituted"], json!(["currency"]));
    let conv = pb
        .conversion(c.json["conversion_id"].as_str().unwrap())
        .await;
    assert_eq!(
        (conv["status"].clone(), conv["currency"].clone()),
        (json!("approved"), json!("EUR"))
    );
    // Goals of one transaction are separate conversions; a test conversion counts nowhere.
    let g = pb
        .postback(
            &i,
            &format!("aff_click_id={click}&transaction_id=1029&goal_id=3&payout=2"),
        )
        .await;
    assert_eq!(g.json["outcome"], "created");
    let before = pb.day_totals().await;
    let t = pb
        .postback(
            &i,
            &format!("aff_click_id={click}&transaction_id=1030&payout=2&test=1"),
        )
        .await;
    assert_eq!(t.json["outcome"], "created");
    assert_eq!(pb.day_totals().await, before);
    assert_eq!(nonzero(&before)["conversions"], "2");
}

#[tokio::test]
async fn postback_url_from_the_host_header() {
    let pb = Pb::with_config(
        Arc::new(SqliteStore::in_memory().unwrap()),
        Config::for_tests(),
    );
    let i = pb.integration("metacpa", json!({})).await;
    let request = Request::builder()
        .uri(format!("/integrations/{}/postback-url", i.id))
        .header("host", "pb.example.org")
        .header("x-forwarded-proto", "https")
        .body(Body::empty())
        .unwrap();
    let r = support::send(&pb.router, request).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let base = format!(
        "https://pb.example.org/api/sale/status.json?id={}-{}&",
        i.id, i.postback_token
    );
    assert_eq!(r.json["base_url"], base);
    assert_eq!(
        r.json["postbacks"][0]["url"],
        format!("{base}oid={{sub1}}&status=approve&pay={{payout}}&cc={{currency}}")
    );
    let r = pb
        .get(&format!("/integrations/{}/postback-url", i.id))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = pb
        .get("/integrations/01J9ZQ4TB1N8V6Q0R3K2W5X7YA/postback-url")
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn conversions_list_filters_and_pages() {
    let pb = pb();
    let a = pb.integration("leadbit", json!({})).await;
    let b = pb.integration("kma", json!({})).await;
    let mut clicks = Vec::new();
    for n in 0..5 {
        let click = click(&pb.state).await;
        let status = if n % 2 == 0 { "confirm" } else { "new" };
        ok(&pb, &a, &format!("oid={click}&status={status}"), "created").await;
        clicks.push(click);
        // Newest first is by creation time in milliseconds: keep the five apart.
        tokio::time::sleep(std::time::Duration::from_millis(3)).await;
    }
    ok(&pb, &b, "eid=K-1&status=A", "created").await;
    assert_eq!(pb.conversions("").await.len(), 6);
    assert_eq!(
        pb.conversions(&format!("integration={}", a.id)).await.len(),
        5
    );
    assert_eq!(pb.conversions("status=approved").await.len(), 4);
    assert_eq!(
        pb.conversions(&format!("offer={}", pb_support::OFFER))
            .await
            .len(),
        5
    );
    let by_click = pb.conversions(&format!("click={}", clicks[2])).await;
    assert_eq!(by_click.len(), 1);
    assert_eq!(by_click[0]["click_id"], clicks[2]);
    let day = today().to_string();
    assert_eq!(
        pb.conversions(&format!("from={day}&to={day}")).await.len(),
        6
    );
    assert!(pb.conversions("to=2020-01-01").await.is_empty());
    assert!(pb.conversions("from=2999-01-01T00:00:00Z").await.is_empty());
    // Newest first, two at a time, filtered.
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let r = pb
            .get(&format!(
                "/conversions?integration={}&limit=2{cursor}",
                a.id
            ))
            .await;
        for c in r.json["items"].as_array().unwrap() {
            seen.push(c["click_id"].as_str().unwrap().to_string());
        }
        match r.json["next_cursor"].as_str() {
            Some(c) => cursor = format!("&cursor={}", enc(c)),
            None => break,
        }
    }
    clicks.reverse();
    assert_eq!(seen, clicks);
    for bad in ["status=paid", "from=yesterday", "colour=red"] {
        let r = pb.get(&format!("/conversions?{bad}")).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}");
    }
    let r = pb
        .get("/conversions/cv_00000000000000000000000000000000")
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = pb
        .get("/integrations/01J9ZQ4TB1N8V6Q0R3K2W5X7YA/postbacks")
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

/// JSON numbers keep their text: a payout over the cap or too precise is refused (not rounded
/// through a float into range), and two long lead ids stay two conversions.
#[tokio::test]
async fn json_numbers_are_exact() {
    let pb = pb();
    let i = pb.integration("everad", json!({})).await;
    let uri = format!("/postback/{}?token={}", i.id, i.postback_token);
    let c = click(&pb.state).await;
    for pay in ["1000000.00000000001", "999999.99999999999"] {
        let body = format!(r#"{{"oid":"{c}","status":"approved","pay":{pay},"cc":"USD"}}"#);
        let r = pb.post(&uri, "application/json", body).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{pay}: {}", r.text);
        assert_eq!(r.json["error"]["field"], "pay", "{pay}: {}", r.text);
    }
    assert_nothing_stored(&pb).await;
    let mut ids = Vec::new();
    for eid in ["12345678901234567890123", "12345678901234567890124"] {
        let body = format!(r#"{{"oid":"{c}","eid":{eid},"status":"pending"}}"#);
        let r = pb.post(&uri, "application/json", body).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        assert_eq!(r.json["outcome"], "created", "{}", r.text);
        ids.push(r.json["conversion_id"].clone());
    }
    assert_ne!(ids[0], ids[1]);
    assert_eq!(
        pb.conversion(ids[0].as_str().unwrap()).await["transaction_id"],
        "12345678901234567890123"
    );
}

/// A repeated JSON member meets the same rule as a repeated query parameter.
#[tokio::test]
async fn repeated_json_members_conflict_like_query_parameters() {
    let pb = pb();
    let i = pb.integration("everad", json!({})).await;
    let uri = format!("/postback/{}?token={}", i.id, i.postback_token);
    let c = click(&pb.state).await;
    let query = pb
        .postback(&i, &format!("oid={c}&status=approved&pay=-5&pay=1"))
        .await;
    assert_eq!(query.status, StatusCode::BAD_REQUEST, "{}", query.text);
    let body = format!(r#"{{"oid":"{c}","status":"approved","pay":"-5","pay":"1"}}"#);
    let r = pb.post(&uri, "application/json", body).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert_eq!(r.json["error"]["code"], query.json["error"]["code"]);
    assert_nothing_stored(&pb).await;
}

/// A body over 16 KiB is a 413 even when the token would be in it: the size is checked first.
#[tokio::test]
async fn an_oversized_body_is_413_whatever_it_holds() {
    let pb = pb();
    let i = pb.integration("everad", json!({})).await;
    let c = click(&pb.state).await;
    let body = format!(
        "token={}&oid={c}&status=approved&comment={}",
        i.postback_token,
        "y".repeat(17 * 1024)
    );
    let uri = format!("/postback/{}", i.id);
    let r = pb
        .post(&uri, "application/x-www-form-urlencoded", body)
        .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.text);
    assert_eq!(r.json["error"]["code"], "body_too_large");
    assert_nothing_stored(&pb).await;
}

/// A lookup by click is a keyed read: found on the first page, however many other conversions
/// are newer (the index scan stops after 1,000 items a page).
#[tokio::test]
async fn conversions_by_click_are_a_keyed_read() {
    let pb = pb();
    let i = pb.integration("everad", json!({})).await;
    let mine = click(&pb.state).await;
    for eid in ["A-1", "A-2"] {
        ok(
            &pb,
            &i,
            &format!("oid={mine}&eid={eid}&status=pending"),
            "created",
        )
        .await;
    }
    for n in 0..1_100 {
        let other = click(&pb.state).await;
        ok(
            &pb,
            &i,
            &format!("oid={other}&eid=B-{n}&status=pending"),
            "created",
        )
        .await;
    }
    let r = pb.get(&format!("/conversions?click={}", enc(&mine))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let items = r.json["items"].as_array().unwrap();
    let mut eids: Vec<&str> = items
        .iter()
        .map(|c| c["transaction_id"].as_str().unwrap())
        .collect();
    eids.sort();
    assert_eq!(eids, ["A-1", "A-2"], "{}", r.text);
    assert_eq!(r.json["next_cursor"], Value::Null);
}

/// Strangers who know an integration id cost bounded storage: 300 refused postbacks with a
/// 60 KB query and a 16 KiB body each keep 20 excerpts (at most 1 KiB of query and of body)
/// and one counter item, which counts all 300.
#[tokio::test]
async fn refused_postbacks_cost_bounded_storage() {
    let pb = pb();
    let i = pb.integration("everad", json!({})).await;
    let filler = "q".repeat(60 * 1024);
    let body = "b".repeat(16 * 1024 - 8);
    for _ in 0..300 {
        let uri = format!("/postback/{}?token=wrong&x={filler}", i.id);
        let r = pb
            .post(&uri, "application/x-www-form-urlencoded", body.clone())
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    }
    let page = pb
        .state
        .repo
        .items()
        .query(&affnet_store::Query {
            limit: 1_000,
            ..affnet_store::Query::partition(affnet_store::postback_logs::postback_logs_pk(&i.id))
        })
        .await
        .unwrap();
    assert_eq!(page.items.len(), 20);
    let bytes: usize = page.items.iter().map(|it| it.data.to_string().len()).sum();
    assert!(bytes < 20 * 3 * 1024, "{bytes} bytes kept");
    let counts = pb
        .state
        .repo
        .items()
        .get(&affnet_store::postback_logs::refused_counts_key(
            &i.id,
            chrono::Utc::now(),
        ))
        .await
        .unwrap()
        .expect("counter item");
    assert_eq!(counts.counters["refused.bad_token"], 300.into());
    assert_nothing_stored(&pb).await;
}
