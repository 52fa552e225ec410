//! Value sources: what a network field is filled with. A source is a lead field (`name`,
//! `phone`, `phone_digits`, `country`, `country_lower`, `email`, `address`, `comment`, `ip`,
//! `user_agent`, `referrer`, `language`, `quantity`, `price`, `click_id`, `lead_id`,
//! `first_name`, `last_name`), an offer parameter `param:KEY`, a credential `cred:KEY`, or a
//! literal `const:TEXT`. A source with no value leaves its field out.

use crate::lead::{Account, LeadFields};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source<'a> {
    Lead(&'a str),
    Param(&'a str),
    Credential(&'a str),
    Const(&'a str),
}

const LEAD_FIELDS: &[&str] = &[
    "name",
    "first_name",
    "last_name",
    "phone",
    "phone_digits",
    "country",
    "country_lower",
    "email",
    "address",
    "comment",
    "ip",
    "user_agent",
    "referrer",
    "language",
    "quantity",
    "price",
    "click_id",
    "lead_id",
];

impl<'a> Source<'a> {
    pub fn parse(text: &'a str) -> Option<Source<'a>> {
        if let Some(k) = text.strip_prefix("param:") {
            return Some(Source::Param(k));
        }
        if let Some(k) = text.strip_prefix("cred:") {
            return Some(Source::Credential(k));
        }
        if let Some(v) = text.strip_prefix("const:") {
            return Some(Source::Const(v));
        }
        LEAD_FIELDS.contains(&text).then_some(Source::Lead(text))
    }
}

/// The value of `source` for this lead and account, if it has one.
pub fn value(source: &str, lead: Option<&LeadFields>, account: &Account<'_>) -> Option<String> {
    let text = |s: &Option<String>| s.clone().filter(|s| !s.is_empty());
    match Source::parse(source)? {
        Source::Const(v) => Some(v.to_string()),
        Source::Credential(k) => account.credentials.get(k).cloned(),
        Source::Param(k) => lead?.params.get(k).cloned(),
        Source::Lead(field) => {
            let lead = lead?;
            match field {
                "name" => Some(lead.name.clone()),
                "first_name" => lead.name.split_whitespace().next().map(str::to_string),
                "last_name" => lead
                    .name
                    .split_once(char::is_whitespace)
                    .map(|(_, rest)| rest.trim().to_string())
                    .filter(|s| !s.is_empty()),
                "phone" => Some(lead.phone.clone()),
                "phone_digits" => Some(lead.phone.trim_start_matches('+').to_string()),
                "country" => Some(lead.country.clone()),
                "country_lower" => Some(lead.country.to_ascii_lowercase()),
                "email" => text(&lead.email),
                "address" => text(&lead.address),
                "comment" => text(&lead.comment),
                "ip" => text(&lead.ip),
                "user_agent" => text(&lead.user_agent),
                "referrer" => text(&lead.referrer),
                "language" => text(&lead.language),
                "quantity" => lead.quantity.map(|q| q.to_string()),
                "price" => lead.price.map(|p| p.to_string()),
                "click_id" => Some(lead.click_id.clone()),
                "lead_id" => Some(lead.lead_id.clone()),
                _ => None,
            }
        }
    }
}

/// The offer parameters a call's fields need (`param:KEY` sources), in field order.
pub fn params_needed(fields: impl IntoIterator<Item = impl AsRef<str>>) -> Vec<String> {
    let mut out = Vec::new();
    for source in fields {
        if let Some(Source::Param(k)) = Source::parse(source.as_ref())
            && !out.iter().any(|o: &String| o == k)
        {
            out.push(k.to_string());
        }
    }
    out
}
