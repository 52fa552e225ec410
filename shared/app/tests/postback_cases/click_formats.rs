//! Attribution from each click ID format: format 2 resolves its handle (from the cache, else one
//! read), format 1 (issued before, still echoed back by networks) carries its strings.

use crate::pb_support::{CREATIVE, MESSAGE, OFFER, Pb, click, click_v1, config};
use affnet_core::clickid::{ClickId, LabelHandle, Labels};
use affnet_store::ItemStore;
use chrono::Utc;
use serde_json::{Value, json};
use std::sync::Arc;

async fn created(pb: &Pb, i: &affnet_core::Integration, oid: &str) -> Value {
    let r = pb
        .altercpa(i, &format!("oid={oid}&status=pending&pay=5&cc=USD"))
        .await;
    assert_eq!(r.json["outcome"], "created", "{}", r.text);
    pb.conversion(r.json["conversion_id"].as_str().unwrap())
        .await
}

fn attributed(c: &Value) -> (bool, &str, Value, Value) {
    (
        c["matched"].as_bool().unwrap(),
        c["offer_id"].as_str().unwrap(),
        c["message_id"].clone(),
        c["creative_id"].clone(),
    )
}

pub async fn every_click_id_format_attributes(store: Arc<dyn ItemStore>) {
    let pb = Pb::new(store.clone());
    let i = pb.integration("everad", json!({})).await;
    let full = (true, OFFER, json!(MESSAGE), json!(CREATIVE));

    let v2 = click(&pb.state).await;
    assert_eq!(v2.len(), 64);
    assert_eq!(attributed(&created(&pb, &i, &v2).await), full);

    let v1 = click_v1(&pb.state);
    assert!(v1.len() > 64, "format 1 carries the strings: {v1}");
    assert_eq!(attributed(&created(&pb, &i, &v1).await), full);

    // Another process (the postback function, cold) reads the handle once.
    let cold = Pb::with_config(store, config());
    cold.counting.reset();
    let c = created(&cold, &i, &click(&pb.state).await).await;
    assert_eq!(attributed(&c), full);
    assert_eq!(cold.state.label_cache.len(), 1);

    // A handle that was never stored (its click's write failed): the offer still counts.
    let lost = LabelHandle::candidates(&Labels::new("lost", "never-stored"))
        .next()
        .unwrap();
    let time = Utc::now().timestamp() as u64;
    let orphan = ClickId::mint(&pb.state.config.click_key, OFFER, lost, time, [7; 8]).unwrap();
    let c = created(&pb, &i, &orphan).await;
    assert_eq!(attributed(&c), (true, OFFER, Value::Null, Value::Null));
}
