//! The bodies of the reconciliation conformance cases (listed in [`crate::conformance`]).

use crate::port::{ItemStore, StoreError};
use crate::repo::{Repo, RepoError};
use affnet_core::reconcile::{Action, Class, Difference, ReconRun, RunRange, RunStatus, Trigger};
use affnet_core::sync_log::{SyncLog, SyncTrigger};
use std::sync::Arc;
use std::time::Duration;

fn run(integration: &str) -> ReconRun {
    let day = "2026-11-30".parse().unwrap();
    let range = RunRange {
        from: day,
        to: day,
        tz: "America/New_York".parse().unwrap(),
    };
    ReconRun::start(
        affnet_core::ids::new_id(),
        integration,
        Trigger::Manual,
        true,
        range,
        chrono::Utc::now(),
    )
}

fn difference(seq: u64) -> Difference {
    Difference {
        seq,
        class: Class::Missing,
        action: Action::Created,
        transaction_id: Some(format!("102{seq:027}")),
        click_id: None,
        goal_id: None,
        remote_offer_id: Some("26".into()),
        conversion_id: None,
        linked_transaction_id: None,
        tune: None,
        ours: None,
        note: None,
        page: Some(1),
    }
}

pub async fn runs_share_the_sync_lease(store: Arc<dyn ItemStore>) {
    let repo = Repo::new(store);
    let ttl = Duration::from_secs(60);
    let first = run("I1");
    let (lease, started) = repo.begin_reconcile(&first, ttl).await.unwrap();
    assert_eq!(started.version, 1);
    // Neither another reconciliation nor an offer sync of the integration may start now.
    assert!(matches!(
        repo.begin_reconcile(&run("I1"), ttl).await,
        Err(RepoError::Conflict)
    ));
    let sync = SyncLog::start(
        affnet_core::ids::new_id(),
        "I1",
        SyncTrigger::Manual,
        None,
        chrono::Utc::now(),
    );
    assert!(matches!(
        repo.begin_sync(&sync, ttl).await,
        Err(RepoError::Conflict)
    ));
    let holder = repo.sync_lease_holder("I1").await.unwrap().unwrap();
    assert_eq!(holder.0, first.id);
    // Another integration is free.
    assert!(repo.begin_reconcile(&run("I2"), ttl).await.is_ok());

    let mut progressed = started.clone();
    progressed.rows = 500;
    let (lease, progressed) = repo
        .renew_reconcile(&lease, &progressed, ttl)
        .await
        .unwrap();
    let mut done = progressed.clone();
    done.status = RunStatus::Succeeded;
    done.counts.missing = 3;
    let (stored, held) = repo.finish_reconcile(&lease, &done).await.unwrap();
    assert!(held);
    let read = repo.get_recon_run("I1", &first.id).await.unwrap().unwrap();
    assert_eq!(
        (read.status, read.rows, read.counts.missing),
        (RunStatus::Succeeded, 500, 3)
    );
    assert_eq!(read.version, stored.version);
    assert_eq!(read.timezone, "America/New_York");
    // Released: a sync may run now.
    assert!(repo.begin_sync(&sync, ttl).await.is_ok());

    // Skipped runs are recorded without the lease; listed newest first, paged (ids are ULIDs:
    // a later millisecond sorts after).
    tokio::time::sleep(Duration::from_millis(3)).await;
    let mut skipped = run("I1");
    skipped.status = RunStatus::Skipped;
    repo.record_recon_run(&skipped).await.unwrap();
    let (page, next) = repo.list_recon_runs("I1", 1, None).await.unwrap();
    assert_eq!(page[0].id, skipped.id);
    let (page, next) = repo.list_recon_runs("I1", 1, next).await.unwrap();
    assert_eq!(page[0].id, first.id);
    if next.is_some() {
        let (rest, _) = repo.list_recon_runs("I1", 1, next).await.unwrap();
        assert!(rest.is_empty());
    }
    assert!(repo.get_recon_run("I2", &first.id).await.unwrap().is_none());
}

pub async fn differences_page_in_order(store: Arc<dyn ItemStore>) {
    let repo = Repo::new(store);
    let all: Vec<Difference> = (0..150).map(difference).collect();
    repo.put_differences("R1", &all[..100]).await.unwrap();
    repo.put_differences("R1", &all[100..]).await.unwrap();
    repo.put_differences("R2", &all[..1]).await.unwrap();
    let too_many: Vec<Difference> = (0..101).map(difference).collect();
    assert!(matches!(
        repo.put_differences("R3", &too_many).await,
        Err(RepoError::Store(StoreError::Invalid(_)))
    ));
    let mut read = Vec::new();
    let mut cursor = None;
    loop {
        let (page, next) = repo.list_differences("R1", 60, cursor).await.unwrap();
        assert!(page.len() <= 60);
        read.extend(page);
        match next {
            Some(n) => cursor = Some(n),
            None => break,
        }
    }
    assert_eq!(read, all);
    let (other, _) = repo.list_differences("R2", 60, None).await.unwrap();
    assert_eq!(other.len(), 1);
    let (none, next) = repo.list_differences("R3", 60, None).await.unwrap();
    assert!(none.is_empty() && next.is_none());
}
