//! The port's items as DynamoDB attribute maps and back, and the opaque query cursor.

use super::{AttrMap, COUNTER_PREFIX, DATA, GSI1PK, GSI1SK, PK, SK, TTL, VERSION};
use crate::port::{Index, Item, Key, StoreError};
use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine as _;
use rust_decimal::Decimal;
use std::collections::{BTreeMap, HashMap};
use std::str::FromStr;

pub(super) fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

pub(super) fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

pub(super) fn key_attrs(key: &Key) -> AttrMap {
    HashMap::from([(PK.to_string(), s(&key.pk)), (SK.to_string(), s(&key.sk))])
}

pub(super) fn data_attr(data: &serde_json::Value) -> Result<AttributeValue, StoreError> {
    serde_dynamo::aws_sdk_dynamodb_1::to_attribute_value(data)
        .map_err(|e| StoreError::Invalid(format!("item data not storable in DynamoDB: {e}")))
}

/// The whole item as attributes, for a `Put` that replaces whatever is there.
pub(super) fn item_attrs(item: &Item) -> Result<AttrMap, StoreError> {
    let mut attrs = key_attrs(&item.key);
    attrs.insert(VERSION.into(), n(item.version));
    attrs.insert(DATA.into(), data_attr(&item.data)?);
    for (name, value) in &item.counters {
        attrs.insert(format!("{COUNTER_PREFIX}{name}"), n(value));
    }
    if let Some(ttl) = item.expires_at {
        attrs.insert(TTL.into(), n(ttl));
    }
    if let Some(index) = &item.index_key {
        attrs.insert(GSI1PK.into(), s(&index.pk));
        attrs.insert(GSI1SK.into(), s(&index.sk));
    }
    Ok(attrs)
}

fn parse_number<T: FromStr>(attr: &str, value: &AttributeValue) -> Result<T, StoreError> {
    value
        .as_n()
        .ok()
        .and_then(|n| n.parse().ok())
        .ok_or_else(|| {
            StoreError::Corrupt(format!("attribute `{attr}` is not the expected number"))
        })
}

fn parse_decimal(attr: &str, value: &AttributeValue) -> Result<Decimal, StoreError> {
    let text = value
        .as_n()
        .map_err(|_| StoreError::Corrupt(format!("attribute `{attr}` is not a number")))?;
    Decimal::from_str(text)
        .or_else(|_| Decimal::from_scientific(text))
        .map_err(|_| StoreError::Corrupt(format!("attribute `{attr}` is not a decimal")))
}

fn parse_string(attr: &str, value: Option<&AttributeValue>) -> Result<String, StoreError> {
    value
        .and_then(|v| v.as_s().ok())
        .cloned()
        .ok_or_else(|| StoreError::Corrupt(format!("attribute `{attr}` missing or not a string")))
}

/// A stored item back as the port's item. Items made by an `Add` alone may lack `v`/`d` if
/// written by another tool: they read as version 0 and null data.
pub(super) fn parse_item(mut attrs: AttrMap) -> Result<Item, StoreError> {
    let pk = parse_string(PK, attrs.get(PK))?;
    let sk = parse_string(SK, attrs.get(SK))?;
    let version = match attrs.get(VERSION) {
        Some(v) => parse_number::<u64>(VERSION, v)?,
        None => 0,
    };
    let data = match attrs.remove(DATA) {
        Some(d) => serde_dynamo::aws_sdk_dynamodb_1::from_attribute_value(d)
            .map_err(|e| StoreError::Corrupt(format!("{pk}/{sk}: data: {e}")))?,
        None => serde_json::Value::Null,
    };
    let expires_at = match attrs.get(TTL) {
        Some(t) => Some(parse_number::<i64>(TTL, t)?),
        None => None,
    };
    let index_key = match (attrs.get(GSI1PK), attrs.get(GSI1SK)) {
        (Some(_), Some(_)) => Some(Key {
            pk: parse_string(GSI1PK, attrs.get(GSI1PK))?,
            sk: parse_string(GSI1SK, attrs.get(GSI1SK))?,
        }),
        _ => None,
    };
    let mut counters = BTreeMap::new();
    for (attr, value) in &attrs {
        if let Some(name) = attr.strip_prefix(COUNTER_PREFIX) {
            counters.insert(name.to_string(), parse_decimal(attr, value)?);
        }
    }
    Ok(Item {
        key: Key { pk, sk },
        version,
        data,
        counters,
        expires_at,
        index_key,
    })
}

/// The opaque cursor: the last returned item's table key, then (index queries) its index key.
pub(super) fn encode_cursor(item: &Item, index: Index) -> String {
    let mut parts = vec![item.key.pk.as_str(), item.key.sk.as_str()];
    if index == Index::Gsi1 {
        let k = item.index_key.as_ref();
        parts.push(k.map_or("", |k| k.pk.as_str()));
        parts.push(k.map_or("", |k| k.sk.as_str()));
    }
    let json = serde_json::to_vec(&parts).expect("strings serialize");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
}

pub(super) fn decode_cursor(cursor: &str, index: Index) -> Result<AttrMap, StoreError> {
    let bad = || StoreError::Invalid("bad cursor".into());
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| bad())?;
    let parts: Vec<String> = serde_json::from_slice(&json).map_err(|_| bad())?;
    match (index, parts.as_slice()) {
        (Index::Table, [pk, sk]) => Ok(HashMap::from([(PK.into(), s(pk)), (SK.into(), s(sk))])),
        (Index::Gsi1, [pk, sk, gpk, gsk]) => Ok(HashMap::from([
            (PK.into(), s(pk)),
            (SK.into(), s(sk)),
            (GSI1PK.into(), s(gpk)),
            (GSI1SK.into(), s(gsk)),
        ])),
        _ => Err(bad()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        let mut item = Item::new(Key::new("P", "S"), serde_json::Value::Null);
        item.index_key = Some(Key::new("G", "H"));
        let table = decode_cursor(&encode_cursor(&item, Index::Table), Index::Table).unwrap();
        assert_eq!(table.len(), 2);
        assert_eq!(table[SK], s("S"));
        let index = decode_cursor(&encode_cursor(&item, Index::Gsi1), Index::Gsi1).unwrap();
        assert_eq!(index[GSI1SK], s("H"));
        assert!(decode_cursor(&encode_cursor(&item, Index::Table), Index::Gsi1).is_err());
        assert!(decode_cursor("not a cursor!", Index::Table).is_err());
    }

    #[test]
    fn items_parse_back_with_counters_and_defaults() {
        let attrs = HashMap::from([
            (PK.to_string(), s("P")),
            (SK.to_string(), s("S")),
            ("c_revenue".to_string(), n("400.4")),
            ("c_big".to_string(), n("1E+3")),
        ]);
        let item = parse_item(attrs).unwrap();
        assert_eq!(item.version, 0);
        assert_eq!(item.data, serde_json::Value::Null);
        assert_eq!(item.counters["revenue"], Decimal::new(40040, 2));
        assert_eq!(item.counters["big"], Decimal::from(1000));
        assert_eq!(item.expires_at, None);
    }
}
