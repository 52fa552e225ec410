//! TUNE call parameters in PHP bracket syntax (`fields[]=id`, `filters[status][]=active`...).
//!
//! [`Params`] keeps an ordered list of `(key, value)` pairs. Keys keep their brackets; the query
//! string is produced with standard `application/x-www-form-urlencoded` escaping, so brackets go
//! out as `%5B`/`%5D`, which TUNE (PHP) decodes exactly like raw brackets.

use serde_json::Value;

/// Filter operators other than equality: `filters[field][OPERATOR]=value`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    NotEqualTo,
    LessThan,
    LessThanOrEqualTo,
    GreaterThan,
    GreaterThanOrEqualTo,
    Like,
    NotLike,
    Null,
    NotNull,
    True,
    False,
}

impl Operator {
    pub fn as_str(self) -> &'static str {
        match self {
            Operator::NotEqualTo => "NOT_EQUAL_TO",
            Operator::LessThan => "LESS_THAN",
            Operator::LessThanOrEqualTo => "LESS_THAN_OR_EQUAL_TO",
            Operator::GreaterThan => "GREATER_THAN",
            Operator::GreaterThanOrEqualTo => "GREATER_THAN_OR_EQUAL_TO",
            Operator::Like => "LIKE",
            Operator::NotLike => "NOT_LIKE",
            Operator::Null => "NULL",
            Operator::NotNull => "NOT_NULL",
            Operator::True => "TRUE",
            Operator::False => "FALSE",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortDir {
    Asc,
    Desc,
}

impl SortDir {
    pub fn as_str(self) -> &'static str {
        match self {
            SortDir::Asc => "asc",
            SortDir::Desc => "desc",
        }
    }
}

/// Ordered TUNE parameters. Builder methods take `self` so calls chain.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Params {
    pairs: Vec<(String, String)>,
}

impl Params {
    pub fn new() -> Self {
        Self::default()
    }

    /// A raw pair, key as written (`offer_id`, `filters[OR][status]`...).
    pub fn raw(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.pairs.push((key.into(), value.into()));
        self
    }

    /// `fields[]=name`
    pub fn field(self, name: &str) -> Self {
        self.raw("fields[]", name)
    }

    pub fn fields<'a>(self, names: impl IntoIterator<Item = &'a str>) -> Self {
        names.into_iter().fold(self, Params::field)
    }

    /// `filters[field]=value`
    pub fn filter_eq(self, field: &str, value: &str) -> Self {
        self.raw(format!("filters[{field}]"), value)
    }

    /// `filters[field][]=a&filters[field][]=b` ("is one of").
    pub fn filter_in<'a>(self, field: &str, values: impl IntoIterator<Item = &'a str>) -> Self {
        let key = format!("filters[{field}][]");
        values.into_iter().fold(self, |p, v| p.raw(key.clone(), v))
    }

    /// `filters[field][OPERATOR]=value`
    pub fn filter_op(self, field: &str, op: Operator, value: &str) -> Self {
        self.raw(format!("filters[{field}][{}]", op.as_str()), value)
    }

    /// `filters[OR][field]=value` (OR between different fields only:
    /// TUNE cannot OR two conditions on one field this way).
    pub fn filter_or(self, field: &str, value: &str) -> Self {
        self.raw(format!("filters[OR][{field}]"), value)
    }

    /// `contain[]=Model`
    pub fn contain(self, model: &str) -> Self {
        self.raw("contain[]", model)
    }

    /// `sort[field]=asc|desc`
    pub fn sort(self, field: &str, dir: SortDir) -> Self {
        self.raw(format!("sort[{field}]"), dir.as_str())
    }

    pub fn limit(self, limit: u32) -> Self {
        self.raw("limit", limit.to_string())
    }

    pub fn page(self, page: u32) -> Self {
        self.raw("page", page.to_string())
    }

    /// `params[key]=value` (generateTrackingLink: `params[aff_click_id]=...`).
    pub fn param(self, key: &str, value: &str) -> Self {
        self.raw(format!("params[{key}]"), value)
    }

    /// `ids[]=id`
    pub fn id(self, id: &str) -> Self {
        self.raw("ids[]", id)
    }

    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }

    /// Whether a pair with exactly this key exists.
    pub fn has_key(&self, key: &str) -> bool {
        self.pairs.iter().any(|(k, _)| k == key)
    }

    /// The form-urlencoded query string (without `?`).
    pub fn encode(&self) -> String {
        url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(self.pairs.iter())
            .finish()
    }

    /// Flattens a JSON object into PHP bracket pairs, for the generic "Test Query" call:
    /// `{"fields":["id","name"],"filters":{"status":["active","paused"]},"limit":5}` becomes
    /// `fields[]=id&fields[]=name&filters[status][]=active&filters[status][]=paused&limit=5`.
    /// Arrays of scalars become `key[]`; `true`/`false` become `1`/`0`; `null` is refused
    /// (TUNE would receive it as the string "null"); so are arrays of objects
    /// (indexed arrays are not used by read-only TUNE calls).
    pub fn from_json(value: &Value) -> Result<Params, String> {
        let mut params = Params::new();
        match value {
            Value::Null => Ok(params),
            Value::Object(map) => {
                for (k, v) in map {
                    flatten(&mut params, k.clone(), v)?;
                }
                Ok(params)
            }
            _ => Err("params must be a JSON object".into()),
        }
    }
}

fn flatten(params: &mut Params, key: String, value: &Value) -> Result<(), String> {
    match value {
        Value::Null => Err(format!("`{key}` is null; leave it out instead")),
        Value::Bool(b) => {
            params.pairs.push((key, if *b { "1" } else { "0" }.into()));
            Ok(())
        }
        Value::Number(n) => {
            params.pairs.push((key, n.to_string()));
            Ok(())
        }
        Value::String(s) => {
            params.pairs.push((key, s.clone()));
            Ok(())
        }
        Value::Array(items) => {
            for item in items {
                match item {
                    Value::Object(_) | Value::Array(_) => {
                        return Err(format!("`{key}` may only list plain values"));
                    }
                    _ => flatten(params, format!("{key}[]"), item)?,
                }
            }
            Ok(())
        }
        Value::Object(map) => {
            for (k, v) in map {
                flatten(params, format!("{key}[{k}]"), v)?;
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn builds_php_bracket_pairs_in_order() {
        let p = Params::new()
            .fields(["id", "name"])
            .filter_eq("status", "active")
            .filter_in("payout_type", ["cpa_flat", "cpa_both"])
            .filter_op("status", Operator::NotEqualTo, "deleted")
            .filter_or("currency", "USD")
            .contain("Country")
            .sort("id", SortDir::Desc)
            .limit(500)
            .page(2)
            .param("aff_click_id", "{click_id}")
            .id("7");
        let keys: Vec<(&str, &str)> = p
            .pairs()
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        assert_eq!(
            keys,
            [
                ("fields[]", "id"),
                ("fields[]", "name"),
                ("filters[status]", "active"),
                ("filters[payout_type][]", "cpa_flat"),
                ("filters[payout_type][]", "cpa_both"),
                ("filters[status][NOT_EQUAL_TO]", "deleted"),
                ("filters[OR][currency]", "USD"),
                ("contain[]", "Country"),
                ("sort[id]", "desc"),
                ("limit", "500"),
                ("page", "2"),
                ("params[aff_click_id]", "{click_id}"),
                ("ids[]", "7"),
            ]
        );
    }

    #[test]
    fn encodes_exactly() {
        let p = Params::new()
            .field("id")
            .filter_in("status", ["active", "paused"])
            .filter_op("name", Operator::Like, "%Shop & Save%")
            .sort("expiration_date", SortDir::Desc)
            .param("aff_click_id", "{click_id}")
            .limit(500)
            .page(1);
        assert_eq!(
            p.encode(),
            "fields%5B%5D=id\
             &filters%5Bstatus%5D%5B%5D=active\
             &filters%5Bstatus%5D%5B%5D=paused\
             &filters%5Bname%5D%5BLIKE%5D=%25Shop+%26+Save%25\
             &sort%5Bexpiration_date%5D=desc\
             &params%5Baff_click_id%5D=%7Bclick_id%7D\
             &limit=500&page=1"
        );
        // Decoding gives the bracket keys back (what PHP sees).
        let decoded: Vec<(String, String)> = url::form_urlencoded::parse(p.encode().as_bytes())
            .into_owned()
            .collect();
        assert_eq!(decoded, p.pairs());
    }

    #[test]
    fn flattens_json_into_brackets() {
        let p = Params::from_json(&json!({
            "fields": ["id", "name"],
            "filters": {"status": ["active", "paused"], "id": {"GREATER_THAN": 10}},
            "limit": 5,
            "totals": true,
        }))
        .unwrap();
        // serde_json's map is ordered by key.
        assert_eq!(
            p.encode(),
            "fields%5B%5D=id&fields%5B%5D=name\
             &filters%5Bid%5D%5BGREATER_THAN%5D=10\
             &filters%5Bstatus%5D%5B%5D=active&filters%5Bstatus%5D%5B%5D=paused\
             &limit=5&totals=1"
        );
        assert!(Params::from_json(&json!(null)).unwrap().is_empty());
        assert!(Params::from_json(&json!([1])).is_err());
        assert!(Params::from_json(&json!({"a": null})).is_err());
        assert!(Params::from_json(&json!({"a": [{"b": 1}]})).is_err());
    }
}
