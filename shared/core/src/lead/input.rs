//! The body of `POST /leads`, checked field by field: every refusal names its field.

use crate::error::InputError;
use crate::money;
use rust_decimal::Decimal;
use serde_json::{Map, Value};

/// Largest `POST /leads` body (a public route: bounded per request).
pub const MAX_BODY_BYTES: usize = 16 * 1024;
const MAX_NAME: usize = 200;
const FIELDS: &[&str] = &[
    "click_id",
    "name",
    "phone",
    "country",
    "email",
    "address",
    "comment",
    "ip",
    "user_agent",
    "referrer",
    "language",
    "quantity",
    "price",
];

/// ISO 3166-1 alpha-2 codes, officially assigned.
const COUNTRIES: &str = "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ \
BL BM BN BO BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ \
DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT \
GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY \
KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX \
MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS \
RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN \
TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW";

/// Whether `code` is an assigned ISO 3166-1 alpha-2 code (upper case).
pub fn is_country(code: &str) -> bool {
    code.len() == 2 && COUNTRIES.split(' ').any(|c| c == code)
}

/// A checked lead body.
#[derive(Debug, Clone, PartialEq)]
pub struct LeadInput {
    pub click_id: String,
    pub name: String,
    /// Digits with an optional leading `+` (spaces, dots, dashes and brackets dropped).
    pub phone: String,
    /// Upper case.
    pub country: String,
    pub email: Option<String>,
    pub address: Option<String>,
    pub comment: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub referrer: Option<String>,
    pub language: Option<String>,
    pub quantity: Option<u32>,
    pub price: Option<Decimal>,
}

impl LeadInput {
    pub fn parse(body: &Value) -> Result<LeadInput, InputError> {
        let body = body
            .as_object()
            .ok_or_else(|| InputError::wrong_type("body", "a JSON object"))?;
        if let Some(k) = body.keys().find(|k| !FIELDS.contains(&k.as_str())) {
            return Err(InputError::unknown(k));
        }
        let click_id = required(body, "click_id", 512)?;
        let name = required(body, "name", MAX_NAME)?;
        let phone = phone(&required(body, "phone", 64)?)?;
        let country = required(body, "country", 2)?.to_ascii_uppercase();
        if !is_country(&country) {
            return Err(InputError::invalid(
                "country",
                "`country` must be an ISO 3166-1 alpha-2 code like DE or IT",
            ));
        }
        let email = optional(body, "email", 254)?;
        if let Some(e) = &email {
            let ok = e.split_once('@').is_some_and(|(user, host)| {
                !user.is_empty() && host.contains('.') && !host.contains('@') && !e.contains(' ')
            });
            if !ok {
                return Err(InputError::invalid(
                    "email",
                    "`email` is not an e-mail address",
                ));
            }
        }
        let ip = optional(body, "ip", 64)?;
        if let Some(ip) = &ip
            && ip.parse::<std::net::IpAddr>().is_err()
        {
            return Err(InputError::invalid(
                "ip",
                "`ip` is not an IPv4 or IPv6 address",
            ));
        }
        let language = optional(body, "language", 16)?;
        if let Some(l) = &language
            && !l
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(InputError::invalid(
                "language",
                "`language` must be a language tag like en or pt-BR",
            ));
        }
        Ok(LeadInput {
            click_id,
            name,
            phone,
            country,
            email,
            address: optional(body, "address", 500)?,
            comment: optional(body, "comment", 1_000)?,
            ip,
            user_agent: optional(body, "user_agent", 512)?,
            referrer: optional(body, "referrer", 2_048)?,
            language,
            quantity: quantity(body)?,
            price: price(body)?,
        })
    }
}

fn text(body: &Map<String, Value>, field: &str, max: usize) -> Result<Option<String>, InputError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => {
            let s = s.trim();
            if s.chars().count() > max {
                return Err(InputError::out_of_range(
                    field,
                    format!("`{field}` must have at most {max} characters"),
                ));
            }
            if s.chars().any(char::is_control) {
                return Err(InputError::invalid(
                    field,
                    format!("`{field}` must not hold control characters"),
                ));
            }
            Ok(Some(s.to_string()))
        }
        Some(_) => Err(InputError::wrong_type(field, "a string")),
    }
}

fn required(body: &Map<String, Value>, field: &str, max: usize) -> Result<String, InputError> {
    match text(body, field, max)? {
        Some(s) if !s.is_empty() => Ok(s),
        Some(_) => Err(InputError::out_of_range(
            field,
            format!("`{field}` must have 1 to {max} characters"),
        )),
        None => Err(InputError::missing(field)),
    }
}

fn optional(
    body: &Map<String, Value>,
    field: &str,
    max: usize,
) -> Result<Option<String>, InputError> {
    Ok(text(body, field, max)?.filter(|s| !s.is_empty()))
}

/// 6 to 15 digits (E.164's limit), an optional leading `+`, separators dropped.
fn phone(raw: &str) -> Result<String, InputError> {
    let bad = || InputError::invalid("phone", "`phone` is not a phone number (6 to 15 digits)");
    let (plus, rest) = match raw.strip_prefix('+') {
        Some(rest) => ("+", rest),
        None => ("", raw),
    };
    let mut digits = String::with_capacity(rest.len());
    for c in rest.chars() {
        match c {
            '0'..='9' => digits.push(c),
            ' ' | '-' | '.' | '(' | ')' => {}
            _ => return Err(bad()),
        }
    }
    if !(6..=15).contains(&digits.len()) {
        return Err(bad());
    }
    Ok(format!("{plus}{digits}"))
}

fn quantity(body: &Map<String, Value>) -> Result<Option<u32>, InputError> {
    match body.get("quantity") {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .filter(|n| (1..=1_000).contains(n))
            .map(|n| Some(n as u32))
            .ok_or_else(|| {
                InputError::out_of_range("quantity", "`quantity` must be a whole number, 1 to 1000")
            }),
    }
}

fn price(body: &Map<String, Value>) -> Result<Option<Decimal>, InputError> {
    let text = match body.get("price") {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(_) => {
            return Err(InputError::wrong_type(
                "price",
                "a decimal number or string",
            ));
        }
    };
    money::parse_amount(&text)
        .map(Some)
        .map_err(|e| InputError::invalid("price", format!("`price`: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body() -> Value {
        json!({"click_id": "abc", "name": "Anna", "phone": "+49 (151) 234-5678", "country": "de"})
    }

    fn field_of(v: Value) -> String {
        LeadInput::parse(&v).unwrap_err().field.unwrap()
    }

    #[test]
    fn a_good_body_is_normalized() {
        let lead = LeadInput::parse(&body()).unwrap();
        assert_eq!(lead.phone, "+491512345678");
        assert_eq!(lead.country, "DE");
        assert_eq!(lead.email, None);
    }

    #[test]
    fn every_refusal_names_its_field() {
        let with = |k: &str, v: Value| {
            let mut b = body();
            b[k] = v;
            b
        };
        assert_eq!(field_of(with("phone", json!("call me"))), "phone");
        assert_eq!(field_of(with("phone", json!("12345"))), "phone");
        assert_eq!(field_of(with("country", json!("DEU"))), "country");
        assert_eq!(field_of(with("country", json!("XX"))), "country");
        assert_eq!(field_of(with("name", json!(""))), "name");
        assert_eq!(field_of(with("name", json!("n".repeat(201)))), "name");
        assert_eq!(field_of(with("email", json!("nope"))), "email");
        assert_eq!(field_of(with("ip", json!("1.2.3"))), "ip");
        assert_eq!(field_of(with("quantity", json!(0))), "quantity");
        assert_eq!(field_of(with("price", json!("1e3"))), "price");
        assert_eq!(field_of(with("bogus", json!(1))), "bogus");
        let mut b = body();
        b.as_object_mut().unwrap().remove("click_id");
        assert_eq!(field_of(b), "click_id");
    }
}
