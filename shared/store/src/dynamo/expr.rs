//! Expressions of one request: the placeholders they use, the port's conditions and update
//! expressions (`SET`, `REMOVE`, `ADD`).

use super::codec::n;
use super::{AttrMap, COUNTER_PREFIX, PK, TTL, VERSION};
use crate::port::Condition;
use aws_sdk_dynamodb::types::AttributeValue;
use std::collections::HashMap;

/// Placeholders of one request's expressions: DynamoDB rejects unused ones, so they are only
/// registered when an expression uses them.
#[derive(Default)]
pub(super) struct Expr {
    names: HashMap<String, String>,
    values: AttrMap,
}

/// The expressions' parts a request sends besides its own: its condition and the placeholders
/// of all its expressions (`None` where there are none).
pub(super) struct Expressions {
    pub condition: Option<String>,
    pub names: Option<HashMap<String, String>>,
    pub values: Option<AttrMap>,
}

impl Expr {
    /// `#name` for one of the layout's attributes.
    pub fn name(&mut self, attr: &str) -> String {
        let placeholder = format!("#{attr}");
        self.names.insert(placeholder.clone(), attr.to_string());
        placeholder
    }

    /// A numbered `#cN` for a counter attribute (any characters may appear in a counter name).
    pub fn counter(&mut self, counter: &str) -> String {
        let placeholder = format!("#c{}", self.names.len());
        self.names
            .insert(placeholder.clone(), format!("{COUNTER_PREFIX}{counter}"));
        placeholder
    }

    pub fn value(&mut self, value: AttributeValue) -> String {
        let placeholder = format!(":v{}", self.values.len());
        self.values.insert(placeholder.clone(), value);
        placeholder
    }

    /// The request's condition with every placeholder registered so far.
    pub fn finish(self, condition: Option<String>) -> Expressions {
        Expressions {
            condition,
            names: (!self.names.is_empty()).then_some(self.names),
            values: (!self.values.is_empty()).then_some(self.values),
        }
    }

    /// The item is absent, or present but expired.
    pub fn absent(&mut self, now: i64) -> String {
        let (pk, ttl, now) = (self.name(PK), self.name(TTL), self.value(n(now)));
        format!("attribute_not_exists({pk}) OR {ttl} <= {now}")
    }

    /// The item is present and not expired.
    pub fn live(&mut self, now: i64) -> String {
        let (pk, ttl, now) = (self.name(PK), self.name(TTL), self.value(n(now)));
        format!("attribute_exists({pk}) AND (attribute_not_exists({ttl}) OR {ttl} > {now})")
    }

    /// The item is absent or live: anything but an expired item still in the table.
    pub fn not_expired(&mut self, now: i64) -> String {
        let (pk, ttl, now) = (self.name(PK), self.name(TTL), self.value(n(now)));
        format!("attribute_not_exists({pk}) OR attribute_not_exists({ttl}) OR {ttl} > {now}")
    }

    /// The item has expired (`ttl <= now`).
    pub fn expired(&mut self, now: i64) -> String {
        let (ttl, now) = (self.name(TTL), self.value(n(now)));
        format!("{ttl} <= {now}")
    }

    /// An item that is not expired passes this filter.
    pub fn live_filter(&mut self, now: i64) -> String {
        let (ttl, now) = (self.name(TTL), self.value(n(now)));
        format!("attribute_not_exists({ttl}) OR {ttl} > {now}")
    }

    /// The port's condition; `None` for [`Condition::Always`].
    pub fn condition(&mut self, when: Condition, now: i64) -> Option<String> {
        match when {
            Condition::Always => None,
            Condition::Absent => Some(self.absent(now)),
            Condition::Exists => Some(self.live(now)),
            Condition::Version(version) => {
                let v = self.name(VERSION);
                let expected = self.value(n(version));
                Some(format!("{v} = {expected} AND ({})", self.live(now)))
            }
        }
    }

    /// A condition any item (or none) meets: a `ConditionCheck` must have one.
    pub fn anything(&mut self) -> String {
        let pk = self.name(PK);
        format!("attribute_not_exists({pk}) OR attribute_exists({pk})")
    }
}

/// An update expression's clauses, in the order they are written: `SET`, then `REMOVE`, then
/// `ADD`.
#[derive(Default)]
pub(super) struct Update {
    set: Vec<String>,
    remove: Vec<String>,
    add: Vec<String>,
}

impl Update {
    /// `SET attr = value`: `attr` and `value` are placeholders.
    pub fn set(&mut self, attr: &str, value: &str) {
        self.set.push(format!("{attr} = {value}"));
    }

    /// `SET attr = if_not_exists(attr, value)`.
    pub fn set_if_absent(&mut self, attr: &str, value: &str) {
        self.set
            .push(format!("{attr} = if_not_exists({attr}, {value})"));
    }

    pub fn remove(&mut self, attr: String) {
        self.remove.push(attr);
    }

    /// `ADD attr delta`.
    pub fn add(&mut self, attr: &str, delta: &str) {
        self.add.push(format!("{attr} {delta}"));
    }

    pub fn expression(&self) -> String {
        let mut clauses = Vec::with_capacity(3);
        for (keyword, parts) in [
            ("SET", &self.set),
            ("REMOVE", &self.remove),
            ("ADD", &self.add),
        ] {
            if !parts.is_empty() {
                clauses.push(format!("{keyword} {}", parts.join(", ")));
            }
        }
        clauses.join(" ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn update_expressions_write_only_clauses_in_use() {
        let mut update = Update::default();
        update.set("#v", ":v0");
        update.set_if_absent("#d", ":v1");
        assert_eq!(
            update.expression(),
            "SET #v = :v0, #d = if_not_exists(#d, :v1)"
        );
        update.remove("#ttl".into());
        update.add("#c2", ":v2");
        assert_eq!(
            update.expression(),
            "SET #v = :v0, #d = if_not_exists(#d, :v1) REMOVE #ttl ADD #c2 :v2"
        );
    }

    #[test]
    fn placeholders_are_none_when_unused() {
        let p = Expr::default().finish(None);
        assert!(p.names.is_none() && p.values.is_none());
        let mut expr = Expr::default();
        let condition = expr.condition(Condition::Version(3), 10).unwrap();
        assert!(condition.starts_with("#v = :v0 AND (attribute_exists(#pk)"));
        let p = expr.finish(Some(condition));
        assert_eq!(p.names.unwrap().len(), 3);
        assert_eq!(p.values.unwrap().len(), 2);
    }
}
