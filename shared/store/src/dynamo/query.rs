//! Queries: the key condition of a port query (prefix and bounds on the sort key), and paging
//! through DynamoDB's pages to the port's page of live items.

use super::codec::{decode_cursor, encode_cursor, parse_item, s};
use super::expr::Expr;
use super::{DynamoStore, GSI1, GSI1PK, GSI1SK, PK, SK, is_live, now_secs, sdk_error};
use crate::port::{Index, Item, Page, Query, StoreError};

/// The sort-key condition of a query, combined from prefix and bounds as the SQLite adapter does
/// (`max(from, prefix) <= sk <= min(to, prefix + U+10FFFF)`).
enum SkRange {
    All,
    BeginsWith(String),
    Between(String, String),
    AtLeast(String),
    AtMost(String),
    /// No sort key can match.
    Empty,
}

fn sk_range(q: &Query) -> SkRange {
    if q.sk_from.is_none() && q.sk_to.is_none() {
        return match q.sk_prefix.is_empty() {
            true => SkRange::All,
            false => SkRange::BeginsWith(q.sk_prefix.clone()),
        };
    }
    let lower = q
        .sk_from
        .clone()
        .map_or(q.sk_prefix.clone(), |f| f.max(q.sk_prefix.clone()));
    let prefix_end = format!("{}\u{10FFFF}", q.sk_prefix);
    let upper = match (&q.sk_to, q.sk_prefix.is_empty()) {
        (Some(to), _) => Some(to.clone().min(prefix_end)),
        (None, false) => Some(prefix_end),
        (None, true) => None,
    };
    // DynamoDB keys are never empty, so an empty lower bound bounds nothing.
    match (lower.is_empty(), upper) {
        (_, Some(upper)) if upper.is_empty() || lower > upper => SkRange::Empty,
        (true, Some(upper)) => SkRange::AtMost(upper),
        (false, Some(upper)) => SkRange::Between(lower, upper),
        (false, None) => SkRange::AtLeast(lower),
        (true, None) => SkRange::All,
    }
}

/// The key condition: the partition, then the sort-key range if it bounds anything.
fn key_condition(expr: &mut Expr, attrs: (&str, &str), pk: &str, range: &SkRange) -> String {
    let (pk_attr, sk_attr) = attrs;
    let kp = expr.name(pk_attr);
    let partition = format!("{kp} = {}", expr.value(s(pk)));
    let sort = match range {
        SkRange::All | SkRange::Empty => return partition,
        SkRange::BeginsWith(prefix) => {
            let ks = expr.name(sk_attr);
            format!("begins_with({ks}, {})", expr.value(s(prefix)))
        }
        SkRange::Between(lo, hi) => {
            let ks = expr.name(sk_attr);
            let (lo, hi) = (expr.value(s(lo)), expr.value(s(hi)));
            format!("{ks} BETWEEN {lo} AND {hi}")
        }
        SkRange::AtLeast(lo) => {
            let ks = expr.name(sk_attr);
            format!("{ks} >= {}", expr.value(s(lo)))
        }
        SkRange::AtMost(hi) => {
            let ks = expr.name(sk_attr);
            format!("{ks} <= {}", expr.value(s(hi)))
        }
    };
    format!("{partition} AND {sort}")
}

impl DynamoStore {
    pub(super) async fn query_page(&self, q: &Query) -> Result<Page, StoreError> {
        let limit = q.limit.clamp(1, 1000);
        let range = sk_range(q);
        if matches!(range, SkRange::Empty) {
            return Ok(Page::default());
        }
        let (attrs, index_name, consistent) = match q.index {
            Index::Table => ((PK, SK), None, Some(true)),
            Index::Gsi1 => ((GSI1PK, GSI1SK), Some(GSI1), None),
        };
        let mut start = q
            .cursor
            .as_deref()
            .map(|c| decode_cursor(c, q.index))
            .transpose()?;
        let now = now_secs();
        // One more live item than asked for tells whether a next page exists.
        let mut items: Vec<Item> = Vec::with_capacity(limit + 1);
        loop {
            let mut expr = Expr::default();
            let key_condition = key_condition(&mut expr, attrs, &q.pk, &range);
            let filter = expr.live_filter(now);
            let e = expr.finish(None);
            let want = limit + 1 - items.len();
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .set_index_name(index_name.map(str::to_string))
                .set_consistent_read(consistent)
                .key_condition_expression(key_condition)
                .filter_expression(filter)
                .set_expression_attribute_names(e.names)
                .set_expression_attribute_values(e.values)
                .scan_index_forward(!q.descending)
                .limit(i32::try_from(want).unwrap_or(i32::MAX))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| sdk_error("Query", e))?;
            for raw in out.items.unwrap_or_default() {
                let item = parse_item(raw)?;
                if is_live(&item, now) {
                    items.push(item);
                }
            }
            if items.len() > limit {
                items.truncate(limit);
                let next = items.last().map(|last| encode_cursor(last, q.index));
                return Ok(Page { items, next });
            }
            match out.last_evaluated_key {
                Some(last) if !last.is_empty() => start = Some(last),
                _ => return Ok(Page { items, next: None }),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(prefix: &str, from: Option<&str>, to: Option<&str>) -> Query {
        Query {
            sk_prefix: prefix.into(),
            sk_from: from.map(Into::into),
            sk_to: to.map(Into::into),
            ..Query::partition("P")
        }
    }

    #[test]
    fn sort_key_ranges_combine_prefix_and_bounds() {
        assert!(matches!(sk_range(&q("", None, None)), SkRange::All));
        assert!(matches!(sk_range(&q("A#", None, None)), SkRange::BeginsWith(p) if p == "A#"));
        assert!(matches!(
            sk_range(&q("A#", Some("A#02"), Some("A#04"))),
            SkRange::Between(lo, hi) if lo == "A#02" && hi == "A#04"
        ));
        assert!(matches!(
            sk_range(&q("A#", Some("0"), None)),
            SkRange::Between(lo, hi) if lo == "A#" && hi == "A#\u{10FFFF}"
        ));
        assert!(matches!(sk_range(&q("", Some("B"), None)), SkRange::AtLeast(lo) if lo == "B"));
        assert!(matches!(sk_range(&q("", None, Some("B"))), SkRange::AtMost(hi) if hi == "B"));
        assert!(matches!(
            sk_range(&q("B#", None, Some("A"))),
            SkRange::Empty
        ));
        assert!(matches!(
            sk_range(&q("", Some("C"), Some("B"))),
            SkRange::Empty
        ));
    }

    #[test]
    fn key_conditions_name_the_sort_key_only_when_bounded() {
        let mut expr = Expr::default();
        let all = key_condition(&mut expr, (PK, SK), "P", &SkRange::All);
        assert_eq!(all, "#pk = :v0");
        let mut expr = Expr::default();
        let range = SkRange::Between("a".into(), "b".into());
        let between = key_condition(&mut expr, (GSI1PK, GSI1SK), "P", &range);
        assert_eq!(between, "#gsi1pk = :v0 AND #gsi1sk BETWEEN :v1 AND :v2");
    }
}
