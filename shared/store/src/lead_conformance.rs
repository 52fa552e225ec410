//! Conformance cases of the lead repository (wired in [`crate::conformance`]).

use crate::leads::CreateLeadError;
use crate::port::ItemStore;
use crate::repo::{Repo, RepoError};
use affnet_core::lead::{Contact, Lead, LeadAttempt, LeadStatus};
use chrono::{DateTime, Duration, Utc};
use std::sync::Arc;

pub fn lead(id: &str, click: &str, now: DateTime<Utc>) -> Lead {
    Lead {
        id: id.into(),
        integration_id: "INT1".into(),
        network: "kma".into(),
        offer_id: "01OFFER".into(),
        message_id: String::new(),
        creative_id: String::new(),
        click_id: click.into(),
        status: LeadStatus::Queued,
        contact: Some(Contact {
            name: "Anna".into(),
            phone: "+491512345678".into(),
            email: None,
            address: None,
            comment: None,
            ip: None,
            user_agent: None,
        }),
        country: "DE".into(),
        referrer: None,
        language: None,
        quantity: None,
        price: None,
        network_order_id: None,
        conversion_id: None,
        error: None,
        open: false,
        attempts: 0,
        next_attempt_at: Some(now),
        created_at: now,
        updated_at: now,
        sent_at: None,
        contact_erased_at: None,
        version: 0,
    }
}

fn attempt(id: &str, number: u32, now: DateTime<Utc>) -> LeadAttempt {
    LeadAttempt {
        lead_id: id.into(),
        number,
        at: now,
        http_status: Some(200),
        outcome: "sent".into(),
        reply: "{\"code\":0}".into(),
        duration_ms: 3,
    }
}

/// One lead per click and per Idempotency-Key; finding it by either; a stale update conflicts.
pub async fn leads_are_unique_per_click_and_key(store: Arc<dyn ItemStore>) {
    let repo = Repo::new(store);
    let now = Utc::now();
    let a = repo
        .create_lead(&lead("ld_A", "click-a", now), Some("key-1"))
        .await
        .unwrap();
    assert_eq!(a.version, 1);
    for (id, click, key) in [
        ("ld_B", "click-a", None),
        ("ld_C", "click-c", Some("key-1")),
    ] {
        let err = repo
            .create_lead(&lead(id, click, now), key)
            .await
            .unwrap_err();
        assert!(matches!(err, CreateLeadError::Exists), "{id}");
        assert!(
            repo.get_lead(id).await.unwrap().is_none(),
            "{id}: nothing written"
        );
    }
    assert!(repo.lead_by_click("click-c").await.unwrap().is_none());
    assert_eq!(
        repo.lead_by_click("click-a").await.unwrap().unwrap().id,
        "ld_A"
    );
    assert_eq!(
        repo.lead_by_idempotency_key("key-1")
            .await
            .unwrap()
            .unwrap()
            .id,
        "ld_A"
    );
    assert!(
        repo.lead_by_idempotency_key("key-2")
            .await
            .unwrap()
            .is_none()
    );

    let mut sent = a.clone();
    sent.status = LeadStatus::Sent;
    let stored = repo
        .update_lead(&a, &sent, Some(&attempt("ld_A", 1, now)))
        .await
        .unwrap();
    assert_eq!(stored.version, 2);
    let stale = repo.update_lead(&a, &sent, None).await.unwrap_err();
    assert!(matches!(stale, RepoError::Conflict));
    let attempts = repo.lead_attempts("ld_A").await.unwrap();
    assert_eq!(attempts, vec![attempt("ld_A", 1, now)]);
}

/// The retry queue, the open list and the erasure queue follow the lead's fields.
pub async fn lead_queues_follow_the_lead(store: Arc<dyn ItemStore>) {
    let repo = Repo::new(store);
    let now = Utc::now();
    let later = now + Duration::minutes(5);
    let mut first = lead("ld_1", "c1", now);
    first.next_attempt_at = Some(later);
    let first = repo.create_lead(&first, None).await.unwrap();
    let second = repo
        .create_lead(&lead("ld_2", "c2", now), None)
        .await
        .unwrap();
    assert_eq!(repo.due_leads(now, 10).await.unwrap(), ["ld_2"]);
    assert_eq!(repo.due_leads(later, 10).await.unwrap(), ["ld_2", "ld_1"]);

    // Sent: out of the retry queue, into the open list.
    let mut sent = second.clone();
    sent.status = LeadStatus::Sent;
    sent.next_attempt_at = None;
    sent.sent_at = Some(now);
    sent.open = true;
    let sent = repo.update_lead(&second, &sent, None).await.unwrap();
    assert!(repo.due_leads(later, 10).await.unwrap() == ["ld_1"]);
    let (open, next) = repo
        .open_leads("INT1", now - Duration::days(60), 10, None)
        .await
        .unwrap();
    assert_eq!(
        open.iter().map(|o| o.lead_id.as_str()).collect::<Vec<_>>(),
        ["ld_2"]
    );
    assert!(next.is_none());
    assert!(
        repo.open_leads("INT1", now + Duration::seconds(1), 10, None)
            .await
            .unwrap()
            .0
            .is_empty()
    );
    assert!(
        repo.open_leads("INT2", now - Duration::days(1), 10, None)
            .await
            .unwrap()
            .0
            .is_empty()
    );
    assert_eq!(open[0].click_id, "c2");
    assert_eq!(repo.status_sync_last_run("INT1").await.unwrap(), None);
    repo.set_status_sync_last_run("INT1", now, 3_600)
        .await
        .unwrap();
    let last = repo.status_sync_last_run("INT1").await.unwrap().unwrap();
    assert_eq!(last.timestamp_millis(), now.timestamp_millis());

    // Closed and erased: out of every queue, the lead itself stays.
    let mut closed = sent.clone();
    closed.open = false;
    closed.erase_contact(now);
    repo.update_lead(&sent, &closed, None).await.unwrap();
    assert!(
        repo.open_leads("INT1", now - Duration::days(1), 10, None)
            .await
            .unwrap()
            .0
            .is_empty()
    );
    let erasable = repo
        .leads_with_contact_before(now + Duration::seconds(1), 10)
        .await
        .unwrap();
    assert_eq!(erasable, ["ld_1"]);
    let kept = repo.get_lead("ld_2").await.unwrap().unwrap();
    assert!(kept.contact.is_none() && kept.contact_erased_at.is_some());
    let _ = first;
}

/// Listing newest first with a filter, a time window and a cursor.
pub async fn leads_list_newest_first(store: Arc<dyn ItemStore>) {
    let repo = Repo::new(store);
    let t0 = Utc::now() - Duration::hours(1);
    for i in 0..5 {
        let mut l = lead(
            &format!("ld_{i}"),
            &format!("c{i}"),
            t0 + Duration::minutes(i),
        );
        l.status = if i % 2 == 0 {
            LeadStatus::Queued
        } else {
            LeadStatus::Rejected
        };
        repo.create_lead(&l, None).await.unwrap();
    }
    let ids = |v: &[Lead]| v.iter().map(|l| l.id.clone()).collect::<Vec<_>>();
    let (all, next) = repo
        .list_leads(None, None, |_| true, 10, None)
        .await
        .unwrap();
    assert_eq!(ids(&all), ["ld_4", "ld_3", "ld_2", "ld_1", "ld_0"]);
    assert!(next.is_none());
    let (page, next) = repo
        .list_leads(None, None, |_| true, 2, None)
        .await
        .unwrap();
    assert_eq!(ids(&page), ["ld_4", "ld_3"]);
    let (page, _) = repo
        .list_leads(None, None, |_| true, 2, next)
        .await
        .unwrap();
    assert_eq!(ids(&page), ["ld_2", "ld_1"]);
    let queued = |l: &Lead| l.status == LeadStatus::Queued;
    let (page, _) = repo.list_leads(None, None, queued, 10, None).await.unwrap();
    assert_eq!(ids(&page), ["ld_4", "ld_2", "ld_0"]);
    let from = Some(t0 + Duration::minutes(1));
    let to = Some(t0 + Duration::minutes(3));
    let (page, _) = repo.list_leads(from, to, |_| true, 10, None).await.unwrap();
    assert_eq!(ids(&page), ["ld_3", "ld_2", "ld_1"]);
}

/// A create checks the order's other names in its batch: refused (and nothing written, not
/// even totals) while one is taken; an alias it makes leads to it and is itself a taken name.
pub async fn conversion_names_are_checked_in_the_create(store: Arc<dyn ItemStore>) {
    use crate::conversions::{ConversionWrite, OtherNames};
    use crate::totals::Dimension;
    use affnet_core::Conversion;
    use affnet_core::catalogue::Catalogue;
    use affnet_core::clickid::ClickKey;
    let repo = Repo::new(store.clone());
    let network = Catalogue::embedded().network("webvork").unwrap();
    let key = ClickKey::new(&[7u8; 32]).unwrap();
    let now = Utc::now();
    let integration = format!("INT-{}", affnet_core::ids::new_id());
    let conversion = |eid: &str| {
        let params = [("eid", eid), ("status", "new")];
        let d = affnet_core::postback::interpret(network, &integration, &params, &key).unwrap();
        Conversion::create(&integration, "webvork", &d, None, now)
    };
    let with = |names| ConversionWrite {
        sync: true,
        along: &[],
        postback_log: None,
        click_ttl_secs: 3_600,
        names,
    };
    let day = now.date_naive();
    let counted = || async {
        let days = repo
            .group_totals(Dimension::Day, day, day, 10)
            .await
            .unwrap();
        let today = days.groups.get(&crate::totals::day_string(day));
        today
            .and_then(|t| t.get("conversions").copied())
            .unwrap_or_default()
    };
    let (lead, order, other) = (conversion("L-1"), conversion("T-1"), conversion("T-2"));
    let lead_aliases = [order.id.as_str(), "lead:cv_click"];
    let names = OtherNames {
        aliases: &lead_aliases,
        ..OtherNames::default()
    };
    repo.create_conversion(&lead, with(names)).await.unwrap();
    for alias in lead_aliases {
        let found = repo.conversion_alias(alias).await.unwrap();
        assert_eq!(found.as_deref(), Some(lead.id.as_str()), "{alias}");
    }
    assert_eq!(repo.conversion_alias(&lead.id).await.unwrap(), None);
    let before = counted().await;

    // The alias is taken: the order's own create is refused, and writes nothing.
    let own = [order.id.as_str()];
    let refused = OtherNames {
        aliases_absent: &own,
        ..OtherNames::default()
    };
    let r = repo.create_conversion(&order, with(refused)).await;
    assert!(matches!(r, Err(RepoError::Conflict)), "{r:?}");
    assert_eq!(repo.get_conversion(&order.id).await.unwrap(), None);
    // A conversion that exists is a taken name too.
    let existing = [lead.id.as_str()];
    let refused = OtherNames {
        conversions_absent: &existing,
        ..OtherNames::default()
    };
    let r = repo.create_conversion(&other, with(refused)).await;
    assert!(matches!(r, Err(RepoError::Conflict)), "{r:?}");
    // So is an alias made before.
    let r = repo.create_conversion(&other, with(names)).await;
    assert!(matches!(r, Err(RepoError::Conflict)), "{r:?}");
    assert_eq!(repo.get_conversion(&other.id).await.unwrap(), None);
    assert_eq!(counted().await, before);

    // Free names: created, counted once.
    let free = ["cv_not_there"];
    let names = OtherNames {
        conversions_absent: &free,
        aliases_absent: &free,
        aliases: &[],
    };
    let created = repo.create_conversion(&other, with(names)).await.unwrap();
    assert_eq!(created.version, 1);
    assert!(repo.get_conversion(&other.id).await.unwrap().is_some());
    assert_eq!(counted().await, before + rust_decimal::Decimal::ONE);
}
