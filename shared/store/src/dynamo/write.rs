//! Sending planned writes: one write as one request, several as one transaction, and what the
//! reply means for the round (done, an expired item in the way, a conflict, or an error).

use super::expr::Expressions;
use super::plan::{Action, Planned, plan};
use super::{DynamoStore, build_error, is_live, sdk_error};
use crate::port::{Condition, Key, StoreError, Write};
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    CancellationReason, ConditionCheck, Delete, Put, TransactWriteItem, Update,
};
use std::collections::HashSet;

/// What one round of a write came to.
pub(super) enum Round {
    Done,
    /// Guarded writes (by index) found the item's expiry other than their plan assumed: an
    /// expired item in the way, or no longer the expired item they meant to overwrite. They go
    /// again with the other plan.
    Expired(Vec<usize>),
    /// A concurrent transaction held an item: try again shortly.
    Conflict,
}

/// The builders of every request a planned write can become take its table, condition and
/// placeholders the same way.
trait Conditioned: Sized {
    fn conditioned(self, table: &str, expressions: Expressions) -> Self;
}

macro_rules! conditioned {
    ($($builder:ty),* $(,)?) => {$(
        impl Conditioned for $builder {
            fn conditioned(self, table: &str, expressions: Expressions) -> Self {
                self.table_name(table)
                    .set_condition_expression(expressions.condition)
                    .set_expression_attribute_names(expressions.names)
                    .set_expression_attribute_values(expressions.values)
            }
        }
    )*};
}

conditioned!(
    aws_sdk_dynamodb::operation::put_item::builders::PutItemFluentBuilder,
    aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder,
    aws_sdk_dynamodb::operation::delete_item::builders::DeleteItemFluentBuilder,
    aws_sdk_dynamodb::types::builders::PutBuilder,
    aws_sdk_dynamodb::types::builders::UpdateBuilder,
    aws_sdk_dynamodb::types::builders::DeleteBuilder,
    aws_sdk_dynamodb::types::builders::ConditionCheckBuilder,
);

/// A transaction element's builder, finished with the planned write's expressions.
trait Part: Conditioned {
    type Built;
    fn part(self, table: &str, expressions: Expressions) -> Result<Self::Built, StoreError>;
}

macro_rules! part {
    ($($builder:ty => $built:ty),* $(,)?) => {$(
        impl Part for $builder {
            type Built = $built;
            fn part(self, table: &str, expressions: Expressions) -> Result<$built, StoreError> {
                self.conditioned(table, expressions).build().map_err(build_error)
            }
        }
    )*};
}

part!(
    aws_sdk_dynamodb::types::builders::PutBuilder => Put,
    aws_sdk_dynamodb::types::builders::UpdateBuilder => Update,
    aws_sdk_dynamodb::types::builders::DeleteBuilder => Delete,
    aws_sdk_dynamodb::types::builders::ConditionCheckBuilder => ConditionCheck,
);

/// A planned write as an element of a transaction.
fn transact_item(
    table: &str,
    action: Action,
    e: Expressions,
) -> Result<TransactWriteItem, StoreError> {
    let item = TransactWriteItem::builder();
    let item = match action {
        Action::Put(attrs) => item.put(Put::builder().set_item(Some(attrs)).part(table, e)?),
        Action::Update { key, update } => {
            let update = Update::builder().update_expression(update);
            item.update(update.set_key(Some(key)).part(table, e)?)
        }
        Action::Delete(key) => item.delete(Delete::builder().set_key(Some(key)).part(table, e)?),
        Action::Check(key) => {
            let check = ConditionCheck::builder().set_key(Some(key));
            item.condition_check(check.part(table, e)?)
        }
    };
    Ok(item.build())
}

/// The round a lone request's reply comes to: a failed condition is the caller's (or, for a
/// guarded write, an expired item in the way).
fn lone_outcome<T, E>(
    result: Result<T, SdkError<E>>,
    operation: &str,
    guarded: bool,
) -> Result<Round, StoreError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let Err(err) = result else {
        return Ok(Round::Done);
    };
    match err.as_service_error().and_then(|e| e.code()) {
        Some("ConditionalCheckFailedException") if guarded => Ok(Round::Expired(vec![0])),
        Some("ConditionalCheckFailedException") => Err(StoreError::ConditionFailed { index: 0 }),
        Some("TransactionConflictException") => Ok(Round::Conflict),
        _ => Err(sdk_error(operation, err)),
    }
}

impl DynamoStore {
    /// One write, as one request.
    pub(super) async fn write_one(
        &self,
        write: &Write,
        now: i64,
        over_expired: bool,
    ) -> Result<Round, StoreError> {
        if let Write::Check { key, when } = write {
            return self.check_one(key, *when, now).await;
        }
        let Planned {
            action,
            expressions: e,
            guarded,
        } = plan(write, now, over_expired)?;
        let (client, table) = (&self.client, self.table.as_str());
        match action {
            Action::Put(attrs) => {
                let request = client.put_item().set_item(Some(attrs));
                let result = request.conditioned(table, e).send().await;
                lone_outcome(result, "PutItem", guarded)
            }
            Action::Update { key, update } => {
                let request = client.update_item().set_key(Some(key));
                let request = request.update_expression(update);
                let result = request.conditioned(table, e).send().await;
                lone_outcome(result, "UpdateItem", guarded)
            }
            Action::Delete(key) => {
                let request = client.delete_item().set_key(Some(key));
                let result = request.conditioned(table, e).send().await;
                lone_outcome(result, "DeleteItem", guarded)
            }
            Action::Check(_) => unreachable!("a lone check is a read"),
        }
    }

    /// No lone ConditionCheck in DynamoDB: a strongly consistent read decides.
    async fn check_one(&self, key: &Key, when: Condition, now: i64) -> Result<Round, StoreError> {
        if when == Condition::Always {
            return Ok(Round::Done);
        }
        let current = self.get_raw(key).await?.filter(|i| is_live(i, now));
        match when.holds(current.map(|i| i.version)) {
            true => Ok(Round::Done),
            false => Err(StoreError::ConditionFailed { index: 0 }),
        }
    }

    /// Several writes, as one transaction.
    pub(super) async fn write_many(
        &self,
        writes: &[Write],
        now: i64,
        over_expired: &HashSet<usize>,
    ) -> Result<Round, StoreError> {
        let mut guarded = Vec::with_capacity(writes.len());
        let mut items = Vec::with_capacity(writes.len());
        for (index, write) in writes.iter().enumerate() {
            let planned = plan(write, now, over_expired.contains(&index))?;
            guarded.push(planned.guarded);
            items.push(transact_item(
                &self.table,
                planned.action,
                planned.expressions,
            )?);
        }
        // The token makes the SDK's own retries of this request idempotent on DynamoDB.
        let token = ulid::Ulid::new().to_string();
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .client_request_token(token)
            .send()
            .await;
        let err = match result {
            Ok(_) => return Ok(Round::Done),
            Err(e) => e,
        };
        let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) =
            err.as_service_error()
        else {
            return Err(sdk_error("TransactWriteItems", err));
        };
        cancelled_outcome(cancelled.cancellation_reasons(), &guarded).unwrap_or_else(|| {
            Err(StoreError::Unavailable(format!(
                "DynamoDB TransactWriteItems cancelled without a reason: {}",
                cancelled.message().unwrap_or("")
            )))
        })
    }
}

/// The round a cancelled transaction comes to, from its reasons (one per write, in order);
/// `None` if no reason names a cause.
fn cancelled_outcome(
    reasons: &[CancellationReason],
    guarded: &[bool],
) -> Option<Result<Round, StoreError>> {
    let mut expired = Vec::new();
    let mut conflict = false;
    for (index, reason) in reasons.iter().enumerate() {
        match reason.code() {
            None | Some("None") => {}
            Some("ConditionalCheckFailed") => match guarded.get(index) {
                Some(true) => expired.push(index),
                // The first failing write in batch order, as the SQLite adapter reports.
                _ => return Some(Err(StoreError::ConditionFailed { index })),
            },
            Some("TransactionConflict") => conflict = true,
            Some("ValidationError") => {
                return Some(Err(StoreError::Invalid(format!(
                    "DynamoDB TransactWriteItems: write #{index}: {}",
                    reason.message().unwrap_or("validation error")
                ))));
            }
            Some(code) => {
                return Some(Err(StoreError::Unavailable(format!(
                    "DynamoDB TransactWriteItems: write #{index}: {code}"
                ))));
            }
        }
    }
    if !expired.is_empty() {
        Some(Ok(Round::Expired(expired)))
    } else if conflict {
        Some(Ok(Round::Conflict))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reasons(codes: &[&str]) -> Vec<CancellationReason> {
        codes
            .iter()
            .map(|c| CancellationReason::builder().code(*c).build())
            .collect()
    }

    #[test]
    fn a_conflict_is_a_conflict_round_unless_a_condition_failed() {
        let conflict = cancelled_outcome(&reasons(&["None", "TransactionConflict"]), &[false; 2]);
        assert!(matches!(conflict, Some(Ok(Round::Conflict))));
        let failed = cancelled_outcome(
            &reasons(&["ConditionalCheckFailed", "TransactionConflict"]),
            &[false; 2],
        );
        assert!(matches!(
            failed,
            Some(Err(StoreError::ConditionFailed { index: 0 }))
        ));
    }
}
