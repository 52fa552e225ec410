//! A sent lead's attribution and its conversion's names: a format-2 click ID's message and
//! creative reach the lead and its conversion; a postback naming the order by the network's id
//! (`eid`), with or without our click ID (`oid`), lands on the lead's conversion and never makes
//! a second one.

use super::{Env, NEW_LEAD};
use crate::pb_support::nonzero;
use affnet_core::clickid::{ClickId, LabelHandle, Labels};
use affnet_store::ItemStore;
use axum::http::StatusCode;
use chrono::Utc;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;

/// The network takes every lead with `reply`.
async fn takes(env: &Env, reply: &str) {
    env.answer("GET", NEW_LEAD, 200, reply, Duration::ZERO, None)
        .await;
}

/// A lead sent with `reply` from the network; returns its click ID and the lead as the admin
/// sees it.
async fn sent_lead(env: &Env, reply: &str) -> (String, Value) {
    takes(env, reply).await;
    let click = env.click().await;
    let sent = env.post_lead(&env.body(&click), None).await;
    assert_eq!(sent.status, StatusCode::CREATED, "{}", sent.text);
    let lead = env.lead(sent.json["lead_id"].as_str().unwrap()).await;
    assert_eq!(lead["conversion"]["history"][0]["source"], "lead", "{lead}");
    (click, lead)
}

/// Posts an AlterCPA-style postback and returns its outcome and conversion id.
async fn postback(env: &Env, tail: &str) -> (String, String) {
    let reply = env.pb.altercpa(&env.integration, tail).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    let outcome = reply.json["outcome"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let id = reply.json["conversion_id"].as_str().unwrap_or_default();
    (outcome, id.to_string())
}

async fn day_conversions(env: &Env) -> String {
    let totals = nonzero(&env.pb.day_totals().await);
    totals.get("conversions").cloned().unwrap_or_default()
}

pub async fn a_format2_click_id_gives_the_lead_its_message_and_creative(store: Arc<dyn ItemStore>) {
    let env = Env::webvork(store).await;
    takes(&env, r#"{"status":"ok","guid":"G-21"}"#).await;
    // Stored as another process's click route stored them: this process has not cached them.
    let labels = Labels::new("summer-sale-2025", "video_15s");
    let handle = LabelHandle::candidates(&labels).next().unwrap();
    env.pb
        .state
        .repo
        .create_labels(handle, &labels)
        .await
        .unwrap();
    let key = &env.pb.state.config.click_key;
    let click = ClickId::mint(
        key,
        &env.offer.id,
        handle,
        Utc::now().timestamp() as u64,
        [5; 8],
    )
    .unwrap();
    assert_eq!(click.len(), 64);
    let claims = ClickId::verify(key, &click).unwrap();
    assert_eq!((claims.version, claims.unresolved()), (2, Some(handle)));

    let sent = env.post_lead(&env.body(&click), None).await;
    assert_eq!(sent.status, StatusCode::CREATED, "{}", sent.text);
    let lead = env.lead(sent.json["lead_id"].as_str().unwrap()).await;
    assert_eq!(
        (&lead["message_id"], &lead["creative_id"]),
        (&Value::from("summer-sale-2025"), &Value::from("video_15s")),
        "{lead}"
    );
    let conversion = &lead["conversion"];
    assert_eq!(
        (&conversion["message_id"], &conversion["creative_id"]),
        (&Value::from("summer-sale-2025"), &Value::from("video_15s")),
        "{conversion}"
    );
    assert_eq!(conversion["offer_id"], env.offer.id);
    assert_eq!(conversion["matched"], true);
}

pub async fn a_postback_by_oid_and_eid_lands_on_the_sent_leads_conversion(
    store: Arc<dyn ItemStore>,
) {
    let env = Env::webvork(store).await;
    let (click, lead) = sent_lead(&env, r#"{"status":"ok","guid":"G-31"}"#).await;
    let conversion_id = lead["conversion_id"].as_str().unwrap().to_string();
    assert_eq!(day_conversions(&env).await, "1");

    let both = postback(&env, &format!("oid={click}&eid=G-31&status=approve")).await;
    assert_eq!(both, ("changed".to_string(), conversion_id.clone()));
    // By either name alone, and both again: the same conversion, already approved.
    for tail in [
        "eid=G-31&status=approve".to_string(),
        format!("oid={click}&status=approve"),
        format!("oid={click}&eid=G-31&status=approve"),
    ] {
        let again = postback(&env, &tail).await;
        assert_eq!(
            again,
            ("duplicate".to_string(), conversion_id.clone()),
            "{tail}"
        );
    }
    let by_eid = postback(&env, "eid=G-31&status=trash").await;
    assert_eq!(by_eid, ("changed".to_string(), conversion_id.clone()));

    assert_eq!(env.pb.conversions(&format!("click={click}")).await.len(), 1);
    assert_eq!(day_conversions(&env).await, "1");
    let totals = nonzero(&env.pb.day_totals().await);
    assert_eq!(
        totals.get("count.trash").map(String::as_str),
        Some("1"),
        "{totals:?}"
    );
    assert_eq!(totals.get("count.approved"), None, "{totals:?}");
    let stored = env.pb.conversion(&conversion_id).await;
    assert_eq!(stored["status"], "trash");
    assert_eq!(stored["message_id"], "msg");

    // Another order of the same click (a second eid) is a conversion of its own.
    let other = postback(&env, &format!("oid={click}&eid=G-32&status=new")).await;
    assert_eq!(other.0, "created");
    assert_ne!(other.1, conversion_id);
    assert_eq!(day_conversions(&env).await, "2");
}

pub async fn a_lead_without_order_id_is_found_by_its_click(store: Arc<dyn ItemStore>) {
    let env = Env::webvork(store).await;
    let (click, lead) = sent_lead(&env, r#"{"status":"ok"}"#).await;
    assert!(lead["network_order_id"].is_null(), "{lead}");
    let conversion_id = lead["conversion_id"].as_str().unwrap().to_string();

    let both = postback(&env, &format!("oid={click}&eid=G-41&status=hold")).await;
    assert_eq!(both, ("changed".to_string(), conversion_id.clone()));
    let again = postback(&env, &format!("oid={click}&eid=G-41&status=hold")).await;
    assert_eq!(again, ("duplicate".to_string(), conversion_id));
    assert_eq!(env.pb.conversions(&format!("click={click}")).await.len(), 1);
    assert_eq!(day_conversions(&env).await, "1");
}

pub async fn a_lead_adopts_the_conversion_its_postback_made_first(store: Arc<dyn ItemStore>) {
    let env = Env::webvork(store).await;
    takes(&env, r#"{"status":"ok","guid":"G-51"}"#).await;
    let click = env.click().await;
    // The network's postback overtakes its own API reply.
    let first = postback(&env, "eid=G-51&status=new").await;
    assert_eq!(first.0, "created");
    let sent = env.post_lead(&env.body(&click), None).await;
    assert_eq!(sent.status, StatusCode::CREATED, "{}", sent.text);
    let lead = env.lead(sent.json["lead_id"].as_str().unwrap()).await;
    assert_eq!(lead["conversion_id"], first.1.as_str(), "{lead}");
    // The lead's click attributed the conversion the postback could not.
    assert_eq!(lead["conversion"]["matched"], true, "{lead}");
    assert_eq!(lead["conversion"]["offer_id"], env.offer.id);

    let later = postback(&env, &format!("oid={click}&eid=G-51&status=approve")).await;
    assert_eq!(later, ("changed".to_string(), first.1.clone()));
    // By our click ID alone: the same conversion (its id is an alias of the adopted one).
    let by_oid = postback(&env, &format!("oid={click}&status=approve")).await;
    assert_eq!(by_oid, ("duplicate".to_string(), first.1.clone()));
    let by_oid = postback(&env, &format!("oid={click}&status=trash")).await;
    assert_eq!(by_oid, ("changed".to_string(), first.1.clone()));
    assert_eq!(env.pb.conversions(&format!("click={click}")).await.len(), 1);
    assert_eq!(day_conversions(&env).await, "1");
    assert_eq!(env.pb.conversion(&first.1).await["status"], "trash");
}

pub async fn a_lead_names_the_conversion_a_postback_by_its_click_made_first(
    store: Arc<dyn ItemStore>,
) {
    let env = Env::webvork(store).await;
    takes(&env, r#"{"status":"ok","guid":"G-61"}"#).await;
    let click = env.click().await;
    // A postback naming our click ID only overtakes the network's API reply.
    let first = postback(&env, &format!("oid={click}&status=new")).await;
    assert_eq!(first.0, "created");
    let sent = env.post_lead(&env.body(&click), None).await;
    assert_eq!(sent.status, StatusCode::CREATED, "{}", sent.text);
    let lead = env.lead(sent.json["lead_id"].as_str().unwrap()).await;
    assert_eq!(lead["conversion_id"], first.1.as_str(), "{lead}");
    assert_eq!(lead["network_order_id"], "G-61", "{lead}");

    // By the network's order id alone, then both: the same conversion.
    let by_eid = postback(&env, "eid=G-61&status=approve").await;
    assert_eq!(by_eid, ("changed".to_string(), first.1.clone()));
    let both = postback(&env, &format!("oid={click}&eid=G-61&status=approve")).await;
    assert_eq!(both, ("duplicate".to_string(), first.1.clone()));
    assert_eq!(env.pb.conversions(&format!("click={click}")).await.len(), 1);
    assert_eq!(day_conversions(&env).await, "1");
}
