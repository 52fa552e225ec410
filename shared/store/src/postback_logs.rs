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

impl Repo {
    /// Stores one log entry on its own (rejected postbacks).
    pub async fn put_postback_log(
        &self,
        log: &PostbackLog,
        expires_at: i64,
    ) -> Result<(), RepoError> {
        self.items()
            .write(vec![postback_log_write(log, expires_at)?])
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
