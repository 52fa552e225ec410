//! Which DynamoDB actions (as IAM names them) the adapter may send for each kind of port call,
//! the rare paths included (an expired item in the way of a write). A function's IAM policy must
//! grant all of them for every kind of call its code makes; tests/tests/template.rs checks that
//! against template.yaml.
//!
//! Derived from the same [`plan`] the adapter sends, so the list cannot drift from the code.

use super::DynamoStore;
use super::plan::{Action, plan};
use crate::port::{Condition, Item, Key, Write};
use rust_decimal::Decimal;
use std::collections::BTreeSet;

/// Reads: `GetItem` (a key, or a lone `Check`) and `Query` (a partition, or the index).
pub const READ_ACTIONS: &[&str] = &["dynamodb:GetItem", "dynamodb:Query"];

/// A kind of port call, as far as the DynamoDB actions it needs go.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum StoreCall {
    /// `get` and `query`.
    Read,
    /// `Write::Put` with `Condition::Absent` (create).
    Create,
    /// `Write::Put` with `Condition::Always` (replace, keeping counters).
    Replace,
    /// `Write::Put` with `Condition::Exists` or `Condition::Version` (update).
    Update,
    /// `Write::Delete`.
    Delete,
    /// `Write::Add` (counters).
    Add,
    /// `Write::Check` (in a batch, or alone).
    Check,
}

impl StoreCall {
    pub const ALL: &[StoreCall] = &[
        StoreCall::Read,
        StoreCall::Create,
        StoreCall::Replace,
        StoreCall::Update,
        StoreCall::Delete,
        StoreCall::Add,
        StoreCall::Check,
    ];

    /// A write of this kind, to plan.
    fn sample(self) -> Option<Write> {
        let key = Key::new("P", "S");
        let item = Item::new(key.clone(), serde_json::Value::Null);
        Some(match self {
            StoreCall::Read => return None,
            StoreCall::Create => Write::Put {
                item,
                when: Condition::Absent,
            },
            StoreCall::Replace => Write::Put {
                item,
                when: Condition::Always,
            },
            StoreCall::Update => Write::Put {
                item,
                when: Condition::Version(1),
            },
            StoreCall::Delete => Write::Delete {
                key,
                when: Condition::Exists,
            },
            StoreCall::Add => Write::Add {
                key,
                deltas: vec![("n".into(), Decimal::ONE)],
                expires_at: Some(1),
            },
            StoreCall::Check => Write::Check {
                key,
                when: Condition::Exists,
            },
        })
    }
}

impl DynamoStore {
    /// Every DynamoDB action (IAM name) a call of this kind may send, alone or in a batch
    /// (a transaction needs the action of each of its elements), retries and the expired-item
    /// path included.
    pub fn actions(call: StoreCall) -> BTreeSet<&'static str> {
        let mut actions = BTreeSet::new();
        // Every write may read: a lone `Check` is a `GetItem`; `Read` is reads only.
        actions.insert("dynamodb:GetItem");
        let Some(write) = call.sample() else {
            actions.extend(READ_ACTIONS);
            return actions;
        };
        for over_expired in [false, true] {
            let planned = plan(&write, 0, over_expired).expect("sample writes plan");
            actions.insert(match planned.action {
                Action::Put(_) => "dynamodb:PutItem",
                Action::Update { .. } => "dynamodb:UpdateItem",
                Action::Delete(_) => "dynamodb:DeleteItem",
                Action::Check(_) => "dynamodb:ConditionCheckItem",
            });
        }
        actions
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_deletes_need_delete_item() {
        for call in StoreCall::ALL {
            let needs_delete = DynamoStore::actions(*call).contains("dynamodb:DeleteItem");
            assert_eq!(needs_delete, *call == StoreCall::Delete, "{call:?}");
        }
        assert_eq!(
            DynamoStore::actions(StoreCall::Add),
            BTreeSet::from([
                "dynamodb:GetItem",
                "dynamodb:PutItem",
                "dynamodb:UpdateItem"
            ])
        );
    }
}
