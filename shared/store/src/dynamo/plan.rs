//! Planning: each of the port's writes described once, as what it does to which item, under which
//! condition, with which placeholders. [`super::write`] turns that one description into a lone
//! request (`PutItem`, `UpdateItem`, `DeleteItem`) or an element of a `TransactWriteItems`.

use super::codec::{data_attr, item_attrs, key_attrs, n, s};
use super::expr::{Expr, Expressions, Update};
use super::{AttrMap, DATA, GSI1PK, GSI1SK, TTL, VERSION};
use crate::port::{Condition, Item, Key, StoreError, Write};
use aws_sdk_dynamodb::types::AttributeValue;
use rust_decimal::Decimal;
use std::collections::BTreeMap;

/// What a write does to its item.
pub(super) enum Action {
    /// Replace the whole item (all its attributes).
    Put(AttrMap),
    /// Update the item at `key` with an update expression.
    Update {
        key: AttrMap,
        update: String,
    },
    Delete(AttrMap),
    /// Only check the condition (in a transaction).
    Check(AttrMap),
}

/// One write as DynamoDB sees it.
pub(super) struct Planned {
    pub action: Action,
    /// Its condition (`None`: unconditional; a `Check` always has one) and placeholders.
    pub expressions: Expressions,
    /// The condition is only a guard about expiry, not the caller's: its failure means the
    /// item's state was not the one this plan assumed (an expired item is in the way of a
    /// normal plan, or the expired item an overwrite plan replaces is gone), so the write goes
    /// again with the other plan.
    pub guarded: bool,
}

impl Planned {
    fn new(action: Action, expr: Expr, condition: Option<String>, guarded: bool) -> Planned {
        Planned {
            action,
            expressions: expr.finish(condition),
            guarded,
        }
    }
}

/// The write's plan; `over_expired` when the last round found an expired item in the way of
/// this write (see [`plan_over_expired`]).
pub(super) fn plan(write: &Write, now: i64, over_expired: bool) -> Result<Planned, StoreError> {
    let overwrite = match over_expired {
        true => plan_over_expired(write, now)?,
        false => None,
    };
    if let Some(planned) = overwrite {
        return Ok(planned);
    }
    match write {
        // Nothing live to keep counters from: replace whatever is there (absent or expired).
        Write::Put {
            item,
            when: Condition::Absent,
        } => {
            let mut expr = Expr::default();
            let condition = Some(expr.absent(now));
            Ok(Planned::new(
                Action::Put(item_attrs(item)?),
                expr,
                condition,
                false,
            ))
        }
        // An update, so that counters already on the item stay.
        Write::Put { item, when } => plan_replace(item, *when, now),
        Write::Delete { key, when } => {
            let mut expr = Expr::default();
            let condition = expr.condition(*when, now);
            Ok(Planned::new(
                Action::Delete(key_attrs(key)),
                expr,
                condition,
                false,
            ))
        }
        Write::Check { key, when } => {
            let mut expr = Expr::default();
            let condition = expr
                .condition(*when, now)
                .unwrap_or_else(|| expr.anything());
            Ok(Planned::new(
                Action::Check(key_attrs(key)),
                expr,
                Some(condition),
                false,
            ))
        }
        Write::Add {
            key,
            deltas,
            expires_at,
        } => plan_add(key, deltas, *expires_at, now),
    }
}

/// A `Put` as an update of every attribute but the counters it does not name.
fn plan_replace(item: &Item, when: Condition, now: i64) -> Result<Planned, StoreError> {
    let mut expr = Expr::default();
    let mut update = Update::default();
    let attr = expr.name(VERSION);
    update.set(&attr, &expr.value(n(item.version)));
    let attr = expr.name(DATA);
    update.set(&attr, &expr.value(data_attr(&item.data)?));
    let attr = expr.name(TTL);
    match item.expires_at {
        Some(ttl) => update.set(&attr, &expr.value(n(ttl))),
        None => update.remove(attr),
    }
    let (gpk, gsk) = (expr.name(GSI1PK), expr.name(GSI1SK));
    match &item.index_key {
        Some(index) => {
            update.set(&gpk, &expr.value(s(&index.pk)));
            update.set(&gsk, &expr.value(s(&index.sk)));
        }
        None => {
            update.remove(gpk);
            update.remove(gsk);
        }
    }
    for (name, value) in &item.counters {
        let attr = expr.counter(name);
        update.set(&attr, &expr.value(n(value)));
    }
    let (condition, guarded) = match when {
        Condition::Always => (Some(expr.not_expired(now)), true),
        when => (expr.condition(when, now), false),
    };
    let action = Action::Update {
        key: key_attrs(&item.key),
        update: update.expression(),
    };
    Ok(Planned::new(action, expr, condition, guarded))
}

/// Counter increments: one `UpdateItem` that creates the item if needed.
fn plan_add(
    key: &Key,
    deltas: &[(String, Decimal)],
    expires_at: Option<i64>,
    now: i64,
) -> Result<Planned, StoreError> {
    let mut expr = Expr::default();
    let mut update = Update::default();
    // A new item gets version 0 and null data, like the SQLite adapter's.
    let (v, d) = (expr.name(VERSION), expr.name(DATA));
    update.set_if_absent(&v, &expr.value(n(0)));
    update.set_if_absent(&d, &expr.value(AttributeValue::Null(true)));
    if let Some(ttl) = expires_at {
        let attr = expr.name(TTL);
        update.set(&attr, &expr.value(n(ttl)));
    }
    for (name, delta) in merged_deltas(deltas)? {
        let attr = expr.counter(name);
        update.add(&attr, &expr.value(n(delta)));
    }
    let condition = Some(expr.not_expired(now));
    let action = Action::Update {
        key: key_attrs(key),
        update: update.expression(),
    };
    Ok(Planned::new(action, expr, condition, true))
}

/// A guarded write (a `Put` that keeps counters, an `Add`) over an expired item still in the
/// table (DynamoDB deletes them lazily): one `PutItem` of the item the write makes from
/// nothing, on condition that the item there is still expired (`ttl <= now`). Nothing is
/// deleted, so a function needs no `dynamodb:DeleteItem` for it. If the condition fails
/// someone replaced the item meanwhile, and the write goes again with its normal plan.
/// `None` for writes that are not guarded (their conditions already treat expired as absent).
fn plan_over_expired(write: &Write, now: i64) -> Result<Option<Planned>, StoreError> {
    let fresh = match write {
        Write::Put {
            item,
            when: Condition::Always,
        } => item_attrs(item)?,
        Write::Add {
            key,
            deltas,
            expires_at,
        } => {
            // What the `Add` makes of an absent item: version 0, null data, the counters.
            let mut item = Item::new(key.clone(), serde_json::Value::Null);
            item.version = 0;
            item.expires_at = *expires_at;
            for (name, delta) in merged_deltas(deltas)? {
                item.counters.insert(name.to_string(), delta);
            }
            item_attrs(&item)?
        }
        _ => return Ok(None),
    };
    let mut expr = Expr::default();
    let condition = Some(expr.expired(now));
    Ok(Some(Planned::new(
        Action::Put(fresh),
        expr,
        condition,
        true,
    )))
}

/// Sums deltas of one counter named twice (DynamoDB rejects two `ADD`s on one path).
fn merged_deltas(deltas: &[(String, Decimal)]) -> Result<BTreeMap<&str, Decimal>, StoreError> {
    let mut merged: BTreeMap<&str, Decimal> = BTreeMap::new();
    for (name, delta) in deltas {
        let slot = merged.entry(name.as_str()).or_default();
        *slot = slot
            .checked_add(*delta)
            .ok_or_else(|| StoreError::Invalid(format!("counter `{name}` overflow")))?;
    }
    Ok(merged)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_put_on_a_live_item_keeps_its_counters_and_clears_what_it_lacks() {
        let item = Item::new(Key::new("P", "S"), serde_json::json!({"a": 1}));
        let planned = plan(
            &Write::Put {
                item,
                when: Condition::Always,
            },
            100,
            false,
        )
        .unwrap();
        let Action::Update { update, .. } = &planned.action else {
            panic!("a put that may find a live item is an update");
        };
        assert_eq!(
            update,
            "SET #v = :v0, #d = :v1 REMOVE #ttl, #gsi1pk, #gsi1sk"
        );
        assert!(planned.guarded);
    }

    #[test]
    fn over_an_expired_item_guarded_writes_overwrite_it_and_delete_nothing() {
        let key = Key::new("CLICK#1", "TOTALS");
        let add = Write::Add {
            key: key.clone(),
            deltas: vec![
                ("n".to_string(), Decimal::from(2)),
                ("n".to_string(), Decimal::from(1)),
            ],
            expires_at: Some(500),
        };
        let planned = plan(&add, 100, true).unwrap();
        let Action::Put(attrs) = &planned.action else {
            panic!("an add over an expired item is a put");
        };
        assert_eq!(attrs["v"], n(0));
        assert_eq!(attrs["c_n"], n(3));
        assert_eq!(attrs["ttl"], n(500));
        assert_eq!(
            planned.expressions.condition.as_deref(),
            Some("#ttl <= :v0")
        );
        assert!(planned.guarded);
        let put = Write::Put {
            item: Item::new(key.clone(), serde_json::json!({"a": 1})),
            when: Condition::Always,
        };
        assert!(matches!(
            plan(&put, 100, true).unwrap().action,
            Action::Put(_)
        ));
        // Writes with the caller's condition already treat an expired item as absent.
        let delete = Write::Delete {
            key,
            when: Condition::Exists,
        };
        assert!(matches!(
            plan(&delete, 100, true).unwrap().action,
            Action::Delete(_)
        ));
    }

    #[test]
    fn adds_merge_deltas_of_one_counter() {
        let deltas = vec![
            ("n".to_string(), Decimal::from(2)),
            ("n".to_string(), Decimal::from(3)),
        ];
        let planned = plan_add(&Key::new("P", "S"), &deltas, None, 100).unwrap();
        let Action::Update { update, .. } = &planned.action else {
            panic!("an add is an update");
        };
        assert_eq!(
            update,
            "SET #v = if_not_exists(#v, :v0), #d = if_not_exists(#d, :v1) ADD #c2 :v2"
        );
        let values = planned.expressions.values.unwrap();
        assert_eq!(values[":v2"], n(5));
    }
}
