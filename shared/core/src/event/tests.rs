use super::*;
use crate::conversion::{Applied, HistorySource};
use crate::postback::{ClickCheck, Decision, IdentitySource, StatusSource};
use crate::status::Status;
use chrono::TimeZone;

fn decision(status: Status, payout: &str) -> Decision {
    Decision {
        identity: "INT1|t|T-1|".into(),
        identity_source: IdentitySource::Transaction,
        click_id: None,
        click: ClickCheck::Absent,
        status,
        status_source: StatusSource::Override,
        raw_status: status.as_str().into(),
        payout: Some(payout.parse().unwrap()),
        currency: Some("USD"),
        sale_amount: None,
        reason: None,
        duplicate: false,
        comment: Some("call me at +1 555 0100".into()),
        transaction_id: Some("T-1".into()),
        goal_id: None,
        remote_offer_id: None,
        test: false,
        unsubstituted: vec![],
    }
}

fn at(minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 12, 1, 10, minute, 0).unwrap()
}

/// A new pending conversion of 5 USD, recorded at minute 0.
fn pending() -> Conversion {
    Conversion::create(
        "INT1",
        "leadbit",
        &decision(Status::Pending, "5"),
        Some("USD"),
        at(0),
    )
}

fn ids() -> impl FnMut() -> String {
    let mut n = 0;
    move || {
        n += 1;
        format!("ev{n}")
    }
}

#[test]
fn a_new_conversion_is_recorded_with_its_ids_and_no_personal_data() {
    let c = pending();
    let events = Event::for_conversion(None, &c, ids());
    assert_eq!(events.len(), 1);
    let e = &events[0];
    assert_eq!(
        (e.id.as_str(), e.kind()),
        ("ev1", Some(EventType::ConversionRecorded))
    );
    assert_eq!(e.version, SCHEMA_VERSION);
    assert_eq!(e.time, at(0));
    let d = &e.data;
    assert_eq!(d["integration_id"], "INT1");
    assert_eq!(d["conversion_id"], c.id.as_str());
    for key in ["offer_id", "message_id", "creative_id"] {
        assert!(
            d.get(key).is_some_and(serde_json::Value::is_null),
            "{key}: {d}"
        );
    }
    assert_eq!(d["status"], "pending");
    assert_eq!(d["payout"], "5");
    assert_eq!(d["currency"], "USD");
    assert_eq!(d["source"], "postback");
    assert_eq!(d["transaction_id"], "T-1");
    let text = d.to_string();
    assert!(
        !text.contains("555") && !text.contains("identity"),
        "{text}"
    );
}

#[test]
fn a_status_change_says_old_and_new_status_payout_and_source() {
    let c = pending();
    let Applied::Changed(mut next, _) =
        c.apply(&decision(Status::Approved, "7.50"), Some("USD"), at(5))
    else {
        panic!("a change")
    };
    next.history.last_mut().unwrap().source = HistorySource::Reconciliation;
    let events = Event::for_conversion(Some(&c), &next, ids());
    assert_eq!(events.len(), 1, "{events:?}");
    let e = &events[0];
    assert_eq!(e.kind(), Some(EventType::ConversionStatusChanged));
    assert_eq!(e.time, at(5));
    let d = &e.data;
    assert_eq!(d["old_status"], "pending");
    assert_eq!(d["new_status"], "approved");
    assert_eq!(d["old_payout"], "5");
    assert_eq!(d["new_payout"], "7.50");
    assert_eq!(d["change"], "progress");
    assert_eq!(d["source"], "reconciliation");
    assert_eq!(d["conversion_id"], c.id.as_str());
}

#[test]
fn attaching_a_click_is_attributed_and_nothing_else_is_no_event() {
    let c = pending();
    let mut next = c.clone();
    next.matched = true;
    next.offer_id = Some("OFFER1".into());
    next.message_id = Some("m1".into());
    next.updated_at = at(2);
    let events = Event::for_conversion(Some(&c), &next, ids());
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].kind(), Some(EventType::ConversionAttributed));
    assert_eq!(events[0].data["offer_id"], "OFFER1");
    assert_eq!(events[0].data["message_id"], "m1");
    assert!(Event::for_conversion(Some(&c), &c, ids()).is_empty());
}

#[test]
fn runs_finish_with_an_event_and_running_ones_have_none() {
    let mut log = SyncLog::start(
        "RUN1".into(),
        "INT1",
        crate::SyncTrigger::Manual,
        None,
        at(0),
    );
    assert!(Event::offer_sync_finished("ev".into(), &log).is_none());
    log.status = SyncStatus::Succeeded;
    log.finished_at = Some(at(1));
    log.counts.created = 3;
    log.push_error(Some(1), None, "invalid_offer", "the key NETxxxx is wrong");
    let e = Event::offer_sync_finished("ev".into(), &log).unwrap();
    assert_eq!(e.event_type, "offer_sync.finished");
    assert_eq!(e.time, at(1));
    assert_eq!(e.data["run_id"], "RUN1");
    assert_eq!(e.data["status"], "succeeded");
    assert_eq!(e.data["counts"]["created"], 3);
    assert_eq!(e.data["errors"], 1);
    assert!(e.data["offer_id"].is_null());
    assert!(!e.data.to_string().contains("NETxxxx"), "{}", e.data);
}

#[test]
fn event_types_round_trip_and_unknown_ones_stay_readable() {
    for t in EventType::ALL {
        assert_eq!(EventType::parse(t.as_str()), Some(t));
    }
    let text = r#"{"id":"01J","type":"lead.merged","version":1,"time":"2026-12-01T10:00:00Z","data":{"integration_id":"I"}}"#;
    let e: Event = serde_json::from_str(text).unwrap();
    assert_eq!(e.kind(), None);
    assert_eq!(e.event_type, "lead.merged");
    assert_eq!(serde_json::to_string(&e).unwrap(), text);
}

#[test]
fn the_id_bound_sorts_after_every_id_of_its_millisecond_and_before_later_ones() {
    let now = Utc::now();
    let id = crate::ids::new_id();
    let bound = last_id_at(now + chrono::Duration::seconds(1));
    assert!(id <= bound, "{id} {bound}");
    let earlier = last_id_at(now - chrono::Duration::seconds(5));
    assert!(earlier < id, "{earlier} {id}");
    assert_eq!(bound.len(), 26);
}

#[test]
fn a_lead_leaving_the_queue_is_one_event_and_nothing_else_is() {
    use crate::lead::{Lead, LeadError, LeadStatus};
    let now = Utc::now();
    let queued: Lead = serde_json::from_value(serde_json::json!({
        "id": "ld_1", "integration_id": "I", "network": "kma", "offer_id": "O",
        "message_id": "m", "click_id": "c", "status": "queued",
        "contact": {"name": "Anna", "phone": "+491512345678"}, "country": "DE",
        "network_order_id": null, "conversion_id": null, "error": null, "attempts": 0,
        "next_attempt_at": null, "created_at": now, "updated_at": now, "sent_at": null
    }))
    .unwrap();
    let id = || "E".to_string();
    let mut retry = queued.clone();
    retry.attempts = 1;
    assert!(Event::for_lead(&queued, &retry, id()).is_none());
    let mut sent = retry.clone();
    sent.status = LeadStatus::Sent;
    sent.network_order_id = Some("N-1".into());
    let e = Event::for_lead(&retry, &sent, id()).unwrap();
    assert_eq!(e.kind(), Some(EventType::LeadSent));
    assert_eq!(
        (&e.data["message_id"], &e.data["creative_id"]),
        (&"m".into(), &serde_json::Value::Null)
    );
    // Later changes of a sent lead (status loaded, contact erased) are no lead event.
    let mut erased = sent.clone();
    erased.erase_contact(now);
    assert!(Event::for_lead(&sent, &erased, id()).is_none());
    let mut refused = queued.clone();
    refused.status = LeadStatus::Rejected;
    refused.error = Some(LeadError {
        kind: "gave_up".into(),
        code: None,
        message: "timeout calling +491512345678".into(),
    });
    let e = Event::for_lead(&queued, &refused, id()).unwrap();
    assert_eq!(e.kind(), Some(EventType::LeadFailed));
    assert_eq!(e.data["reason"], "gave_up");
    assert!(!e.data.to_string().contains("1512345678"), "{}", e.data);
}
