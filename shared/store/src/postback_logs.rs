//! Postback logs: every postback an integration received, `INT#<integration>#POSTBACKS` /
//! `<ulid>`, with an expiry. Accepted postbacks write theirs in the conversion's batch.

use crate::port::{Condition, Item, Key, StoreError, Write};
use crate::repo::{Repo, RepoError, decode, encode};
use affnet_core::PostbackLog;

pub fn postback_logs_pk(integration_id: &str) -> String {
    format!("INT#{integration_id}#POSTBACKS")
}

pub fn postback_log_key(integration_id: &str, id: &str) -> Key {
    Key::new(postback_logs_pk(integration_id), id)
}

/// The write that stores `log` until `expires_at` (unix seconds). Ids are unique: no condition.
pub(crate) fn postback_log_write(log: &PostbackLog, expires_at: i64) -> Result<Write, StoreError> {
    let mut item = Item::new(postback_log_key(&log.integration_id, &log.id), encode(log)?);
    item.expires_at = Some(expires_at);
    Ok(Write::Put {
        item,
        when: Condition::Always,
    })
}

/// How long the hourly refusal counters are kept (the sampled logs: at most 3 days).
pub const REFUSED_COUNTS_DAYS: i64 = 8;

/// Refusals counted per integration and hour, by reason (`refused.<reason>`).
pub fn refused_counts_key(integration_id: &str, at: chrono::DateTime<chrono::Utc>) -> Key {
    Key::new(
        format!("INT#{integration_id}#REFUSED"),
        at.format("%Y-%m-%dT%H").to_string(),
    )
}

impl Repo {
    /// Counts a refused postback in its integration's hourly refusal counters (reason:
    /// `log.outcome`) and, when `keep` (the caller's sampling budget allows it), stores an
    /// excerpt of it ([`PostbackLog::excerpt`]), both until `expires_at`, in one batch.
    pub async fn record_refused_postback(
        &self,
        log: PostbackLog,
        keep: bool,
        expires_at: i64,
    ) -> Result<(), RepoError> {
        let mut writes = vec![Write::Add {
            key: refused_counts_key(&log.integration_id, log.time),
            deltas: vec![(
                format!("refused.{}", log.outcome),
                rust_decimal::Decimal::ONE,
            )],
            // The counters outlive the sampled logs: health reports refusals over 7 days.
            expires_at: Some(expires_at.max(log.time.timestamp() + REFUSED_COUNTS_DAYS * 86_400)),
        }];
        if keep {
            writes.push(postback_log_write(&log.excerpt(), expires_at)?);
        }
        self.items().write(writes).await?;
        Ok(())
    }

    /// Stores the log entry of an accepted postback that changed nothing (a duplicate, a stale
    /// status) and counts it in its integration's accepted postbacks (`unmatched`: its
    /// conversion has no click of ours), in one batch.
    pub async fn put_postback_log(
        &self,
        log: &PostbackLog,
        expires_at: i64,
        unmatched: bool,
    ) -> Result<(), RepoError> {
        let count = crate::health::accepted_count_write(log, unmatched);
        self.items()
            .write(vec![postback_log_write(log, expires_at)?, count])
            .await?;
        Ok(())
    }

    /// An integration's postback logs, newest first.
    pub async fn list_postback_logs(
        &self,
        integration_id: &str,
        limit: usize,
        cursor: Option<String>,
    ) -> Result<(Vec<PostbackLog>, Option<String>), RepoError> {
        self.newest_first(postback_logs_pk(integration_id), limit, cursor, |i| {
            decode(i)
        })
        .await
    }
}
