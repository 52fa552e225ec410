//! The bodies of the outbox conformance cases (listed in [`crate::conformance`]).

use crate::conversions::ConversionWrite;
use crate::events::{event_key, event_write};
use crate::faults::FaultyStore;
use crate::port::{ItemStore, StoreError};
use crate::repo::{Repo, RepoError};
use affnet_core::conversion::Applied;
use affnet_core::postback::{ClickCheck, Decision, IdentitySource, StatusSource};
use affnet_core::reconcile::{ReconRun, RunRange, RunStatus, Trigger};
use affnet_core::sync_log::{SyncLog, SyncStatus, SyncTrigger};
use affnet_core::{Conversion, Event, EventType, Status};
use chrono::Utc;
use std::sync::Arc;
use std::time::Duration;

const NO_LOG: ConversionWrite<'static> = ConversionWrite {
    sync: true,
    along: &[],
    postback_log: None,
    click_ttl_secs: 86_400,
    names: crate::conversions::OtherNames {
        conversions_absent: &[],
        aliases_absent: &[],
        aliases: &[],
    },
};

pub(crate) fn decision(transaction: &str, status: Status, payout: &str) -> Decision {
    Decision {
        identity: format!("I1|t|{transaction}|"),
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
        comment: None,
        transaction_id: Some(transaction.into()),
        goal_id: None,
        remote_offer_id: None,
        test: false,
        unsubstituted: vec![],
    }
}

pub(crate) fn conversion(transaction: &str, status: Status) -> Conversion {
    Conversion::create(
        "I1",
        "leadbit",
        &decision(transaction, status, "5"),
        Some("USD"),
        Utc::now(),
    )
}

fn sync_log(trigger: SyncTrigger, started: chrono::DateTime<Utc>) -> SyncLog {
    SyncLog::start(affnet_core::ids::new_id(), "I1", trigger, None, started)
}

/// Every event in the outbox, oldest first.
pub(crate) async fn all_events(repo: &Repo) -> Vec<Event> {
    let until = affnet_core::ids::new_id();
    let mut after: Option<String> = None;
    let mut all = Vec::new();
    loop {
        let page = repo
            .events_after(after.as_deref(), &until, |_| true, 7)
            .await
            .unwrap();
        let Some(next) = page.next else { break };
        all.extend(page.items);
        after = Some(next);
    }
    all
}

fn of_type(events: &[Event], kind: EventType) -> Vec<&Event> {
    events.iter().filter(|e| e.kind() == Some(kind)).collect()
}

/// 130 events over the 16 shards: the feed gives each once, in id order, from any cursor,
/// filtered by type, and nothing past `until`.
pub async fn feed_merges_the_shards_in_id_order(store: Arc<dyn ItemStore>) {
    let repo = Repo::new(store.clone());
    let mut written = Vec::new();
    for chunk in 0..13 {
        let events: Vec<Event> = (0..10)
            .map(|i| {
                let kind = match i % 3 {
                    0 => EventType::ConversionRecorded,
                    1 => EventType::ConversionStatusChanged,
                    _ => EventType::OfferSyncFinished,
                };
                let data = serde_json::json!({"integration_id": format!("I{chunk}")});
                Event::new(affnet_core::ids::new_id(), kind, Utc::now(), data)
            })
            .collect();
        let writes = events.iter().map(event_write).collect::<Result<_, _>>();
        store.write(writes.unwrap()).await.unwrap();
        written.extend(events);
    }
    let ids: Vec<&str> = written.iter().map(|e| e.id.as_str()).collect();
    let read = all_events(&repo).await;
    assert_eq!(read.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(), ids);
    assert_eq!(read, written);

    let after = &written[59].id;
    let until = &written[99].id;
    let keep = |e: &Event| e.kind() == Some(EventType::OfferSyncFinished);
    let page = repo
        .events_after(Some(after), until, keep, 100)
        .await
        .unwrap();
    let expected: Vec<&str> = written[60..=99]
        .iter()
        .filter(|e| keep(e))
        .map(|e| e.id.as_str())
        .collect();
    let got: Vec<&str> = page.items.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(got, expected);
    assert_eq!(
        page.next.as_deref(),
        Some(until.as_str()),
        "scanned up to the bound"
    );
    let empty = repo
        .events_after(Some(until), until, |_| true, 10)
        .await
        .unwrap();
    assert!(empty.items.is_empty() && empty.next.is_none());
    assert_eq!(
        repo.get_event(&written[3].id).await.unwrap().as_ref(),
        Some(&written[3])
    );
}

/// Creating, changing and attributing a conversion, finishing and skipping a sync: each write
/// carries its events, in the same batch.
pub async fn changes_carry_their_events(store: Arc<dyn ItemStore>) {
    let repo = Repo::new(store);
    let created = repo
        .create_conversion(&conversion("T-1", Status::Pending), NO_LOG)
        .await
        .unwrap();
    let Applied::Changed(next, _) = created.apply(
        &decision("T-1", Status::Approved, "7"),
        Some("USD"),
        Utc::now(),
    ) else {
        panic!("a status change")
    };
    let mut next = next;
    next.matched = true;
    next.offer_id = Some("OFFER1".into());
    repo.change_conversion(&created, &next, NO_LOG)
        .await
        .unwrap();

    let started = Utc::now();
    let log = sync_log(SyncTrigger::Manual, started);
    let (lease, log) = repo
        .begin_sync(&log, Duration::from_secs(60))
        .await
        .unwrap();
    let mut done = log.clone();
    done.status = SyncStatus::Succeeded;
    done.finished_at = Some(Utc::now());
    done.counts.created = 2;
    repo.finish_sync(&lease, &done).await.unwrap();
    let mut skipped = sync_log(SyncTrigger::Scheduled, started);
    skipped.status = SyncStatus::Skipped;
    repo.record_sync_log(&skipped).await.unwrap();
    let day = "2026-11-30".parse().unwrap();
    let range = RunRange {
        from: day,
        to: day,
        tz: "America/New_York".parse().unwrap(),
    };
    let run = ReconRun::start(
        affnet_core::ids::new_id(),
        "I1",
        Trigger::Manual,
        true,
        range,
        started,
    );
    let (lease, run) = repo
        .begin_reconcile(&run, Duration::from_secs(60))
        .await
        .unwrap();
    let mut finished = run.clone();
    finished.status = RunStatus::Partial;
    finished.changed.status_changed = 4;
    repo.finish_reconcile(&lease, &finished).await.unwrap();

    let events = all_events(&repo).await;
    let recorded = of_type(&events, EventType::ConversionRecorded);
    assert_eq!(recorded.len(), 1, "{events:?}");
    assert_eq!(recorded[0].data["conversion_id"], created.id.as_str());
    assert_eq!(recorded[0].data["status"], "pending");
    let changed = of_type(&events, EventType::ConversionStatusChanged);
    assert_eq!(changed.len(), 1, "{events:?}");
    assert_eq!(
        (
            &changed[0].data["old_status"],
            &changed[0].data["new_status"]
        ),
        (&"pending".into(), &"approved".into())
    );
    assert_eq!(changed[0].data["offer_id"], "OFFER1");
    assert_eq!(of_type(&events, EventType::ConversionAttributed).len(), 1);
    let syncs = of_type(&events, EventType::OfferSyncFinished);
    let statuses: Vec<&serde_json::Value> = syncs.iter().map(|e| &e.data["status"]).collect();
    assert_eq!(statuses, ["succeeded", "skipped"]);
    assert_eq!(syncs[0].data["counts"]["created"], 2);
    let recon = of_type(&events, EventType::ReconciliationFinished);
    assert_eq!(recon.len(), 1, "{events:?}");
    assert_eq!(recon[0].data["status"], "partial");
    assert_eq!(recon[0].data["changed"]["status_changed"], 4);
    assert_eq!(recon[0].data["timezone"], "America/New_York");
    assert_eq!(events.len(), 6, "{events:?}");
    assert!(events.windows(2).all(|w| w[0].id < w[1].id));
}

/// A conversion batch that fails, before or inside the store, leaves neither the conversion
/// nor its event; the retry stores both, once.
pub async fn a_failed_batch_leaves_neither_change_nor_event(store: Arc<dyn ItemStore>) {
    let faulty = Arc::new(FaultyStore::new(store));
    let repo = Repo::new(faulty.clone());
    let first = conversion("T-9", Status::Pending);
    faulty.fail_writes(1);
    assert!(matches!(
        repo.create_conversion(&first, NO_LOG).await,
        Err(RepoError::Store(StoreError::Unavailable(_)))
    ));
    faulty.reject_in_store(1);
    assert!(matches!(
        repo.create_conversion(&first, NO_LOG).await,
        Err(RepoError::Store(StoreError::ConditionFailed { .. }))
    ));
    assert!(repo.get_conversion(&first.id).await.unwrap().is_none());
    assert!(all_events(&repo).await.is_empty());

    let stored = repo.create_conversion(&first, NO_LOG).await.unwrap();
    let Applied::Changed(next, _) = stored.apply(
        &decision("T-9", Status::Rejected, "5"),
        Some("USD"),
        Utc::now(),
    ) else {
        panic!("a status change")
    };
    faulty.reject_in_store(1);
    assert!(
        repo.change_conversion(&stored, &next, NO_LOG)
            .await
            .is_err()
    );
    let read = repo.get_conversion(&first.id).await.unwrap().unwrap();
    assert_eq!((read.status, read.version), (Status::Pending, 1));
    let events = all_events(&repo).await;
    assert_eq!(events.len(), 1, "only the create's event: {events:?}");
    assert_eq!(events[0].kind(), Some(EventType::ConversionRecorded));
    assert!(repo.get_event(&events[0].id).await.unwrap().is_some());
    assert_eq!(event_key(&events[0].id).sk, events[0].id);
}

/// A consumer's cursor starts absent, moves on its version, and a stale move is a conflict.
pub async fn event_cursors_move_on_their_version(store: Arc<dyn ItemStore>) {
    let repo = Repo::new(store);
    assert_eq!(repo.event_cursor("webhook-a").await.unwrap(), None);
    let v1 = repo.save_event_cursor("webhook-a", "01A", 0).await.unwrap();
    assert!(matches!(
        repo.save_event_cursor("webhook-a", "01B", 0).await,
        Err(RepoError::Conflict)
    ));
    let v2 = repo
        .save_event_cursor("webhook-a", "01C", v1)
        .await
        .unwrap();
    assert_eq!(
        repo.event_cursor("webhook-a").await.unwrap(),
        Some(("01C".to_string(), v2))
    );
    assert!(matches!(
        repo.save_event_cursor("webhook-a", "01D", v1).await,
        Err(RepoError::Conflict)
    ));
    assert_eq!(repo.event_cursor("webhook-b").await.unwrap(), None);
}

/// A lead leaving the queue carries `lead.sent` or `lead.failed` in its update's batch (a
/// retry scheduled carries nothing); a failed update leaves neither; no event holds the buyer's
/// data or the network's refusal text.
pub async fn leads_leaving_the_queue_carry_their_events(store: Arc<dyn ItemStore>) {
    use crate::lead_conformance::lead;
    use affnet_core::lead::{LeadError, LeadStatus};
    let faulty = Arc::new(FaultyStore::new(store));
    let repo = Repo::new(faulty.clone());
    let now = Utc::now();
    let queued = repo
        .create_lead(&lead("ld_S", "click-s", now), None)
        .await
        .unwrap();
    let mut retry = queued.clone();
    retry.attempts = 1;
    retry.next_attempt_at = Some(now + chrono::Duration::minutes(1));
    let queued = repo.update_lead(&queued, &retry, None).await.unwrap();
    assert!(all_events(&repo).await.is_empty(), "a retry is no event");

    let mut sent = queued.clone();
    sent.status = LeadStatus::Sent;
    sent.attempts = 2;
    sent.network_order_id = Some("ORDER-77".into());
    sent.conversion_id = Some("CONV-1".into());
    sent.next_attempt_at = None;
    faulty.reject_in_store(1);
    assert!(repo.update_lead(&queued, &sent, None).await.is_err());
    assert!(all_events(&repo).await.is_empty(), "no event for no change");
    let sent = repo.update_lead(&queued, &sent, None).await.unwrap();
    let mut erased = sent.clone();
    erased.erase_contact(now);
    repo.update_lead(&sent, &erased, None).await.unwrap();

    let refused = repo
        .create_lead(&lead("ld_F", "click-f", now), None)
        .await
        .unwrap();
    let mut trash = refused.clone();
    trash.status = LeadStatus::Trash;
    trash.attempts = 1;
    trash.next_attempt_at = None;
    trash.error = Some(LeadError {
        kind: "duplicate".into(),
        code: Some("8".into()),
        message: "duplicate order for +491512345678 (Anna)".into(),
    });
    repo.update_lead(&refused, &trash, None).await.unwrap();

    let events = all_events(&repo).await;
    assert_eq!(events.len(), 2, "{events:?}");
    let sent = of_type(&events, EventType::LeadSent);
    assert_eq!(sent.len(), 1, "{events:?}");
    assert_eq!(sent[0].data["lead_id"], "ld_S");
    assert_eq!(sent[0].data["network_order_id"], "ORDER-77");
    assert_eq!(sent[0].data["conversion_id"], "CONV-1");
    assert_eq!(sent[0].data["attempts"], 2);
    assert_eq!(sent[0].data["integration_id"], "INT1");
    assert_eq!(sent[0].data["offer_id"], "01OFFER");
    assert!(sent[0].data["message_id"].is_null());
    let failed = of_type(&events, EventType::LeadFailed);
    assert_eq!(failed.len(), 1, "{events:?}");
    assert_eq!(
        (
            &failed[0].data["status"],
            &failed[0].data["reason"],
            &failed[0].data["code"]
        ),
        (&"trash".into(), &"duplicate".into(), &"8".into())
    );
    let text = serde_json::to_string(&events).unwrap();
    for personal in ["Anna", "+491512345678", "1512345678", "duplicate order"] {
        assert!(!text.contains(personal), "{personal} in {text}");
    }
}
