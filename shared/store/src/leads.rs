//! Leads and what finds them, all written in one atomic batch with the lead:
//!
//! | item | key | present while |
//! |---|---|---|
//! | the lead | `LEAD#<id>` / `META`, GSI1 `LEADS` / `<created ms>#<id>` | always |
//! | an attempt | `LEAD#<id>` / `ATTEMPT#<nnnn>` | always |
//! | by click | `LEADCLICK#<click id>` / `META` | always: one lead per click |
//! | by key | `LEADKEY#<sha256 of Idempotency-Key>` / `META` | always |
//! | retry queue | `LEADQUEUE` / `<next attempt ms>#<id>` | queued |
//! | status loading | `LEADOPEN#<integration>` / `<sent ms>#<id>` | sent, conversion not final |
//! | erasure queue | `LEADPII` / `<created ms>#<id>` | personal data kept |
//!
//! The three queues are derived from the lead's fields, so [`Repo::update_lead`] moves them with
//! every change and a lead can never be queued twice or lost between queues.

use crate::events::outbox;
use crate::port::{Condition, Index, Item, Key, Query, StoreError, Write};
use crate::repo::{Repo, RepoError, decode, encode};
use affnet_core::Event;
use affnet_core::ids::new_id;
use affnet_core::lead::{Lead, LeadAttempt, LeadStatus};
use chrono::{DateTime, SecondsFormat, Utc};
use sha2::{Digest, Sha256};

pub const LEADS_INDEX_PK: &str = "LEADS";
const QUEUE_PK: &str = "LEADQUEUE";
const PII_PK: &str = "LEADPII";
/// Click IDs longer than this are not ours and are refused before storing.
const MAX_CLICK_LEN: usize = 512;

fn millis(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub fn lead_key(id: &str) -> Key {
    Key::new(format!("LEAD#{id}"), "META")
}

fn attempt_key(id: &str, number: u32) -> Key {
    Key::new(format!("LEAD#{id}"), format!("ATTEMPT#{number:04}"))
}

fn click_key(click_id: &str) -> Key {
    Key::new(format!("LEADCLICK#{click_id}"), "META")
}

fn idempotency_key(key: &str) -> Key {
    Key::new(
        format!("LEADKEY#{}", hex::encode(Sha256::digest(key.as_bytes()))),
        "META",
    )
}

fn queue_key(lead: &Lead) -> Option<Key> {
    let at = lead
        .next_attempt_at
        .filter(|_| lead.status == LeadStatus::Queued)?;
    Some(Key::new(QUEUE_PK, format!("{}#{}", millis(at), lead.id)))
}

fn open_pk(integration_id: &str) -> String {
    format!("LEADOPEN#{integration_id}")
}

fn open_key(lead: &Lead) -> Option<Key> {
    let sent = lead.sent_at.filter(|_| lead.open)?;
    Some(Key::new(
        open_pk(&lead.integration_id),
        format!("{}#{}", millis(sent), lead.id),
    ))
}

fn pii_key(lead: &Lead) -> Option<Key> {
    lead.contact.as_ref()?;
    Some(Key::new(
        PII_PK,
        format!("{}#{}", millis(lead.created_at), lead.id),
    ))
}

fn lead_item(lead: &Lead, version: u64) -> Result<Item, StoreError> {
    let mut item = Item::new(lead_key(&lead.id), encode(lead)?);
    item.version = version;
    item.index_key = Some(Key::new(
        LEADS_INDEX_PK,
        format!("{}#{}", millis(lead.created_at), lead.id),
    ));
    Ok(item)
}

fn lead_from(item: &Item) -> Result<Lead, StoreError> {
    let mut lead: Lead = decode(item)?;
    lead.version = item.version;
    Ok(lead)
}

fn marker(key: Key, lead_id: &str, when: Condition) -> Write {
    marker_with(key, serde_json::json!({ "lead_id": lead_id }), when)
}

fn marker_with(key: Key, data: serde_json::Value, when: Condition) -> Write {
    Write::Put {
        item: Item::new(key, data),
        when,
    }
}

/// What status loading needs of an open lead, kept on its marker so a run reads no lead.
fn open_data(lead: &Lead) -> serde_json::Value {
    serde_json::json!({
        "lead_id": lead.id,
        "order_id": lead.network_order_id,
        "click_id": lead.click_id,
        "conversion_id": lead.conversion_id,
    })
}

/// Deletes the old marker and puts the new one (with `data`) when they differ.
fn move_marker(
    writes: &mut Vec<Write>,
    old: Option<Key>,
    new: Option<Key>,
    data: serde_json::Value,
) {
    if old == new {
        return;
    }
    if let Some(key) = old {
        writes.push(Write::Delete {
            key,
            when: Condition::Always,
        });
    }
    if let Some(key) = new {
        writes.push(marker_with(key, data, Condition::Always));
    }
}

/// An open lead, as status loading reads it from its marker.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct OpenLead {
    pub lead_id: String,
    pub order_id: Option<String>,
    pub click_id: String,
    pub conversion_id: Option<String>,
}

fn last_run_key(integration_id: &str) -> Key {
    Key::new(format!("INT#{integration_id}#STATUSSYNC"), "LAST")
}

/// Why a lead could not be created.
#[derive(Debug, thiserror::Error)]
pub enum CreateLeadError {
    /// A lead exists for this click ID or Idempotency-Key: nothing was written.
    #[error("a lead exists for this click ID or Idempotency-Key")]
    Exists,
    #[error(transparent)]
    Repo(#[from] RepoError),
}

impl Repo {
    /// Stores a new lead (version 1) with its click and key links and its queue entries, or
    /// nothing when its id, click ID or Idempotency-Key is taken.
    pub async fn create_lead(
        &self,
        lead: &Lead,
        idempotency: Option<&str>,
    ) -> Result<Lead, CreateLeadError> {
        if lead.click_id.len() > MAX_CLICK_LEN {
            return Err(RepoError::Store(StoreError::Invalid("click ID too long".into())).into());
        }
        let mut writes = vec![
            Write::Put {
                item: lead_item(lead, 1).map_err(RepoError::Store)?,
                when: Condition::Absent,
            },
            marker(click_key(&lead.click_id), &lead.id, Condition::Absent),
        ];
        if let Some(key) = idempotency {
            writes.push(marker(idempotency_key(key), &lead.id, Condition::Absent));
        }
        for key in [queue_key(lead), pii_key(lead)].into_iter().flatten() {
            writes.push(marker(key, &lead.id, Condition::Always));
        }
        if let Some(key) = open_key(lead) {
            writes.push(marker_with(key, open_data(lead), Condition::Always));
        }
        // Unsynced: nobody is told of it before the attempt's result, whose synced write
        // makes it durable (a crashed process still leaves it queued).
        match self.items().write_unsynced(writes).await {
            Ok(()) => Ok(Lead {
                version: 1,
                ..lead.clone()
            }),
            Err(StoreError::ConditionFailed { .. }) => Err(CreateLeadError::Exists),
            Err(e) => Err(RepoError::Store(e).into()),
        }
    }

    pub async fn get_lead(&self, id: &str) -> Result<Option<Lead>, RepoError> {
        match self.items().get(&lead_key(id)).await? {
            Some(item) => Ok(Some(lead_from(&item)?)),
            None => Ok(None),
        }
    }

    async fn lead_by_link(&self, key: Key) -> Result<Option<Lead>, RepoError> {
        let Some(link) = self.items().get(&key).await? else {
            return Ok(None);
        };
        match link.data.get("lead_id").and_then(|v| v.as_str()) {
            Some(id) => self.get_lead(id).await,
            None => Err(StoreError::Corrupt(format!("{}: no lead_id", key.pk)).into()),
        }
    }

    /// The lead of a click ID, if one was posted.
    pub async fn lead_by_click(&self, click_id: &str) -> Result<Option<Lead>, RepoError> {
        if click_id.len() > MAX_CLICK_LEN {
            return Ok(None);
        }
        self.lead_by_link(click_key(click_id)).await
    }

    /// The lead posted with this `Idempotency-Key`, if any.
    pub async fn lead_by_idempotency_key(&self, key: &str) -> Result<Option<Lead>, RepoError> {
        self.lead_by_link(idempotency_key(key)).await
    }

    /// Replaces `current` (as read) by `next`, with `attempt`, the queue entries moved and the
    /// outbox's `lead.sent` / `lead.failed` when it leaves the queue, in one atomic batch.
    /// [`RepoError::Conflict`] when it changed since it was read.
    pub async fn update_lead(
        &self,
        current: &Lead,
        next: &Lead,
        attempt: Option<&LeadAttempt>,
    ) -> Result<Lead, RepoError> {
        let writes = self.lead_update_writes(current, next, attempt)?;
        self.items().write(writes).await.map_err(|e| match e {
            StoreError::ConditionFailed { .. } => RepoError::Conflict,
            other => RepoError::Store(other),
        })?;
        Ok(Lead {
            version: current.version + 1,
            ..next.clone()
        })
    }

    /// The batch of [`Repo::update_lead`], for a caller that writes it along with its own (a
    /// sent lead's conversion: `ConversionWrite::along`); stored, the lead's version is
    /// `current.version + 1`.
    pub fn lead_update_writes(
        &self,
        current: &Lead,
        next: &Lead,
        attempt: Option<&LeadAttempt>,
    ) -> Result<Vec<Write>, RepoError> {
        if current.id != next.id {
            return Err(StoreError::Invalid("a lead cannot change its id".into()).into());
        }
        let version = current.version + 1;
        let mut writes = vec![Write::Put {
            item: lead_item(next, version)?,
            when: Condition::Version(current.version),
        }];
        if let Some(attempt) = attempt {
            writes.push(Write::Put {
                item: Item::new(attempt_key(&next.id, attempt.number), encode(attempt)?),
                when: Condition::Absent,
            });
        }
        let id = || serde_json::json!({ "lead_id": next.id });
        move_marker(&mut writes, queue_key(current), queue_key(next), id());
        move_marker(
            &mut writes,
            open_key(current),
            open_key(next),
            open_data(next),
        );
        move_marker(&mut writes, pii_key(current), pii_key(next), id());
        writes.extend(outbox(Event::for_lead(current, next, new_id()))?);
        Ok(writes)
    }

    /// The attempts of a lead, first first.
    pub async fn lead_attempts(&self, id: &str) -> Result<Vec<LeadAttempt>, RepoError> {
        let page = self
            .items()
            .query(&Query {
                sk_prefix: "ATTEMPT#".into(),
                limit: 100,
                ..Query::partition(format!("LEAD#{id}"))
            })
            .await?;
        Ok(page.items.iter().map(decode).collect::<Result<_, _>>()?)
    }

    /// Ids of queued leads due at `now`, oldest due first, at most `limit`.
    pub async fn due_leads(
        &self,
        now: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<String>, RepoError> {
        self.marked(QUEUE_PK.into(), Some(format!("{}#~", millis(now))), limit)
            .await
    }

    /// Ids of leads still holding personal data created before `before`, at most `limit`.
    pub async fn leads_with_contact_before(
        &self,
        before: DateTime<Utc>,
        limit: usize,
    ) -> Result<Vec<String>, RepoError> {
        self.marked(PII_PK.into(), Some(millis(before)), limit)
            .await
    }

    async fn marked(
        &self,
        pk: String,
        upper: Option<String>,
        limit: usize,
    ) -> Result<Vec<String>, RepoError> {
        let page = self
            .items()
            .query(&Query {
                sk_to: upper,
                limit,
                ..Query::partition(pk)
            })
            .await?;
        Ok(page
            .items
            .iter()
            .filter_map(|i| i.key.sk.rsplit_once('#').map(|(_, id)| id.to_string()))
            .collect())
    }

    /// One page of an integration's open leads sent since `since`, oldest first.
    pub async fn open_leads(
        &self,
        integration_id: &str,
        since: DateTime<Utc>,
        limit: usize,
        cursor: Option<String>,
    ) -> Result<(Vec<OpenLead>, Option<String>), RepoError> {
        let page = self
            .items()
            .query(&Query {
                sk_from: Some(millis(since)),
                limit,
                cursor,
                ..Query::partition(open_pk(integration_id))
            })
            .await?;
        let leads = page.items.iter().map(decode).collect::<Result<_, _>>()?;
        Ok((leads, page.next))
    }

    /// When status loading last ran for an integration.
    pub async fn status_sync_last_run(
        &self,
        integration_id: &str,
    ) -> Result<Option<DateTime<Utc>>, RepoError> {
        let Some(item) = self.items().get(&last_run_key(integration_id)).await? else {
            return Ok(None);
        };
        Ok(item
            .data
            .get("at")
            .and_then(|v| v.as_str())
            .and_then(|t| t.parse().ok()))
    }

    /// Notes that status loading ran at `at` (kept for `keep_secs`).
    pub async fn set_status_sync_last_run(
        &self,
        integration_id: &str,
        at: DateTime<Utc>,
        keep_secs: i64,
    ) -> Result<(), RepoError> {
        let mut item = Item::new(
            last_run_key(integration_id),
            serde_json::json!({ "at": at }),
        );
        item.expires_at = Some(at.timestamp() + keep_secs);
        self.put_unconditionally(item).await
    }

    /// Leads newest first created within `from..=to`, kept by `keep`; `cursor` continues below
    /// the last index key of the previous page. At most 1,000 are read for one page.
    pub async fn list_leads(
        &self,
        from: Option<DateTime<Utc>>,
        to: Option<DateTime<Utc>>,
        keep: impl Fn(&Lead) -> bool,
        limit: usize,
        cursor: Option<String>,
    ) -> Result<(Vec<Lead>, Option<String>), RepoError> {
        let mut upper = to.map(|t| format!("{}#~", millis(t)));
        if let Some(c) = &cursor
            && upper.as_ref().is_none_or(|u| c < u)
        {
            upper = Some(c.clone());
        }
        let (mut items, mut scanned, mut store_cursor) = (Vec::new(), 0, None);
        loop {
            let page = self
                .items()
                .query(&Query {
                    index: Index::Gsi1,
                    sk_from: from.map(millis),
                    sk_to: upper.clone(),
                    descending: true,
                    limit: 200,
                    cursor: store_cursor.take(),
                    ..Query::partition(LEADS_INDEX_PK)
                })
                .await?;
            for item in &page.items {
                let sk = item.index_key.as_ref().map(|k| k.sk.clone());
                if sk.is_some() && sk == cursor {
                    continue;
                }
                scanned += 1;
                let lead = lead_from(item)?;
                if keep(&lead) {
                    items.push(lead);
                }
                if items.len() == limit || scanned >= 1_000 {
                    return Ok((items, sk));
                }
            }
            match page.next {
                Some(next) => store_cursor = Some(next),
                None => return Ok((items, None)),
            }
        }
    }
}
