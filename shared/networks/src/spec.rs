//! What can be data about a network's API (`apis.toml`, embedded as JSON by `build.rs`): where
//! it is, how a lead is encoded and authenticated, where the order id and the error are in the
//! reply, which codes mean a duplicate, how statuses are asked for and read, and which read-only
//! call proves a key.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::sync::OnceLock;

const APIS_JSON: &str = include_str!(concat!(env!("OUT_DIR"), "/apis.json"));

/// How sure the API facts are (the reference's grade).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
pub enum Grade {
    /// An official public documentation page.
    D,
    /// Vendor text found in a public repository.
    V,
    /// Third-party code only.
    C,
    /// Postback templates only.
    P,
    /// Nothing public.
    #[serde(rename = "-")]
    None,
}

impl Grade {
    pub fn as_str(self) -> &'static str {
        match self {
            Grade::D => "D",
            Grade::V => "V",
            Grade::C => "C",
            Grade::P => "P",
            Grade::None => "—",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Adapter {
    /// Everything is described by the data.
    #[default]
    Generic,
    /// Two steps (the flow URL gives a `track_id`) and `sign = sha1(query + secret)`.
    Leadrock,
    /// `check_sum = sha1(json body + api key)` and a `{user_id, data}` envelope.
    Terraleads,
    /// A `request` envelope `{token, data, dataSign}` signed as PHP encodes it, signed replies.
    Omnicpa,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Method {
    Get,
    Post,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Encoding {
    /// `application/x-www-form-urlencoded` body.
    #[default]
    Form,
    /// A JSON object body; dotted field names nest (`client.name`).
    Json,
    /// Everything in the query string.
    Query,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkApi {
    pub slug: String,
    pub grade: Grade,
    /// The documented API base: scheme, host, optional path prefix.
    #[serde(default)]
    pub base: Option<String>,
    #[serde(default)]
    pub adapter: Adapter,
    /// The field that carries our click ID, as the network echoes it in postbacks and lists.
    #[serde(default)]
    pub sub_id: Option<String>,
    /// The network's rate limit, when it states one (LimonAD: 100 a minute).
    #[serde(default)]
    pub requests_per_minute: Option<u32>,
    /// Where the facts come from (the reference's source keys).
    #[serde(default)]
    pub sources: String,
    /// Why no lead can be sent, for a network whose public material shows an API but no lead
    /// call affnet could make (MarketCall).
    #[serde(default)]
    pub no_send: Option<String>,
    #[serde(default)]
    pub send: Option<Call>,
    #[serde(default)]
    pub statuses: Option<StatusCall>,
    #[serde(default)]
    pub test: Option<Call>,
}

/// One HTTP call: where, how encoded, how authenticated, and how its reply reads.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Call {
    /// This call's own base when it is on another host than the API's (WhoCPA's lead add).
    #[serde(default)]
    pub base: Option<String>,
    pub method: Method,
    /// Appended to the base; `{cred.KEY}` and `{param.KEY}` are replaced (URL-encoded).
    pub path: String,
    #[serde(default)]
    pub encoding: Encoding,
    /// `bearer:CRED`, `header:NAME:CRED`, `query:NAME:CRED`, `body:NAME:CRED`.
    #[serde(default)]
    pub auth: Vec<String>,
    /// Network field -> value source (see [`crate::fields`]).
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
    /// Fields always put in the query string, whatever the encoding (value sources too).
    #[serde(default)]
    pub query: BTreeMap<String, String>,
    #[serde(default)]
    pub reply: Reply,
}

/// How a reply reads.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Reply {
    /// Success needs a 2xx and: `http` nothing more; `PATH=V1|V2` that field holds one of them;
    /// `PATH!=V` it does not hold V; `PATH?` it holds something.
    #[serde(default = "http")]
    pub ok: String,
    /// Dotted path of the order id in a successful reply.
    #[serde(default)]
    pub order_id: Option<String>,
    /// Paths tried in order for the network's error code and text.
    #[serde(default)]
    pub error_code: Vec<String>,
    #[serde(default)]
    pub error_text: Vec<String>,
    /// Error codes (or HTTP statuses) meaning "this order exists already".
    #[serde(default)]
    pub duplicate_codes: Vec<String>,
    /// Lower-case words in the error text meaning a duplicate.
    #[serde(default)]
    pub duplicate_words: Vec<String>,
    /// Error codes (or HTTP statuses) meaning a bad key or a refused IP.
    #[serde(default)]
    pub auth_codes: Vec<String>,
    /// Lower-case words in the error text meaning a bad key or a refused IP.
    #[serde(default)]
    pub auth_words: Vec<String>,
}

fn http() -> String {
    "http".into()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StatusMode {
    /// Ask for the given ids, `batch` at a time.
    Ids,
    /// Page through the leads created since the window's start.
    Window,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LeadRef {
    /// The network's order id (`eid`).
    OrderId,
    /// Our click ID, in the sub-ID field.
    ClickId,
}

/// How statuses are loaded.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusCall {
    #[serde(flatten)]
    pub call: Call,
    pub mode: StatusMode,
    /// Which id identifies a lead in the request (ids) and in the items.
    pub by: LeadRef,
    /// Ids mode: the parameter listing them, repeated (`guids[]`) or joined with `join`.
    #[serde(default)]
    pub ids_param: Option<String>,
    #[serde(default)]
    pub join: Option<String>,
    #[serde(default = "batch")]
    pub batch: usize,
    /// Window mode: the window start (`YYYY-MM-DD`), the page number (from 1), the page size.
    #[serde(default)]
    pub from_param: Option<String>,
    #[serde(default)]
    pub page_param: Option<String>,
    #[serde(default)]
    pub per_page_param: Option<String>,
    /// Dotted path of the item list; empty: the reply is the list.
    #[serde(default)]
    pub items: String,
    pub item_id: String,
    pub item_status: String,
    #[serde(default)]
    pub item_payout: Option<String>,
    #[serde(default)]
    pub item_currency: Option<String>,
    /// The API's own status codes (WhoCPA's 0–4) -> stage, before the catalogue's map.
    #[serde(default)]
    pub status_codes: BTreeMap<String, String>,
}

fn batch() -> usize {
    100
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Apis {
    api: Vec<NetworkApi>,
}

/// Every described API, parsed once.
pub fn all() -> &'static [NetworkApi] {
    static APIS: OnceLock<Vec<NetworkApi>> = OnceLock::new();
    APIS.get_or_init(|| {
        let apis: Apis = serde_json::from_str(APIS_JSON).expect("embedded apis.toml");
        checked(apis).expect("embedded apis.toml")
    })
}

/// The API of network `slug`, if it has one described.
pub fn of(slug: &str) -> Option<&'static NetworkApi> {
    all().iter().find(|a| a.slug == slug)
}

/// The APIs, if every auth and value source in them is one the adapters know.
fn checked(apis: Apis) -> Result<Vec<NetworkApi>, String> {
    for api in &apis.api {
        let calls = [
            api.send.as_ref(),
            api.test.as_ref(),
            api.statuses.as_ref().map(|s| &s.call),
        ];
        for call in calls.into_iter().flatten() {
            for auth in &call.auth {
                crate::request::Auth::parse(auth)
                    .ok_or_else(|| format!("{}: bad auth `{auth}`", api.slug))?;
            }
            for source in call.fields.values().chain(call.query.values()) {
                crate::fields::Source::parse(source)
                    .ok_or_else(|| format!("{}: bad value source `{source}`", api.slug))?;
            }
        }
    }
    Ok(apis.api)
}
