//! Integrations (connections to a network account) and the validation of what users send.

use crate::catalogue::{Catalogue, FieldKind, FieldSpec, Network, NetworkKind};
use crate::error::InputError;
use crate::settings::{TuneSettings, TypedSettings};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

pub const DEFAULT_TIMEOUT_MS: u32 = 10_000;
pub const TIMEOUT_RANGE_MS: std::ops::RangeInclusive<u32> = 1_000..=60_000;
const MAX_NAME_LEN: usize = 200;
const MAX_CREDENTIAL_LEN: usize = 2_048;
const FIELDS: &[&str] = &[
    "network",
    "name",
    "active",
    "timeout_ms",
    "credentials",
    "settings",
];

/// One account at one network, as stored. Credentials never leave through the API: see
/// [`IntegrationView`]. Its settings are parsed into [`TypedSettings`] once, when it is built
/// or read back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "StoredIntegration")]
pub struct Integration {
    pub id: String,
    pub network: String,
    pub name: String,
    pub active: bool,
    pub timeout_ms: u32,
    pub settings: Map<String, Value>,
    pub credentials: BTreeMap<String, String>,
    pub postback_token: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Optimistic-concurrency version, kept by the store.
    #[serde(skip)]
    pub version: u64,
    /// The settings, typed; derived from `settings`, never stored.
    #[serde(skip)]
    pub typed: TypedSettings,
}

/// An integration as the store holds it, before its settings are typed.
#[derive(Deserialize)]
struct StoredIntegration {
    id: String,
    network: String,
    name: String,
    active: bool,
    timeout_ms: u32,
    settings: Map<String, Value>,
    credentials: BTreeMap<String, String>,
    postback_token: String,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

/// The typed settings of an integration of network `slug` (by the embedded catalogue).
fn typed_settings(slug: &str, settings: &Map<String, Value>) -> Result<TypedSettings, InputError> {
    let kind = Catalogue::embedded()
        .network(slug)
        .map_or(NetworkKind::Cpa, |n| n.kind);
    TypedSettings::parse(kind, settings)
}

impl TryFrom<StoredIntegration> for Integration {
    type Error = String;

    fn try_from(s: StoredIntegration) -> Result<Self, Self::Error> {
        let typed = typed_settings(&s.network, &s.settings).map_err(|e| e.to_string())?;
        Ok(Integration {
            id: s.id,
            network: s.network,
            name: s.name,
            active: s.active,
            timeout_ms: s.timeout_ms,
            settings: s.settings,
            credentials: s.credentials,
            postback_token: s.postback_token,
            created_at: s.created_at,
            updated_at: s.updated_at,
            version: 0,
            typed,
        })
    }
}

/// What the API shows of an integration: which credentials are set, never their values.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IntegrationView {
    pub id: String,
    pub network: String,
    pub name: String,
    pub active: bool,
    pub timeout_ms: u32,
    pub settings: Map<String, Value>,
    pub credentials_set: Vec<String>,
    pub postback_token: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Integration {
    pub fn view(&self) -> IntegrationView {
        IntegrationView {
            id: self.id.clone(),
            network: self.network.clone(),
            name: self.name.clone(),
            active: self.active,
            timeout_ms: self.timeout_ms,
            settings: self.settings.clone(),
            credentials_set: self.credentials.keys().cloned().collect(),
            postback_token: self.postback_token.clone(),
            created_at: self.created_at,
            updated_at: self.updated_at,
        }
    }

    /// Types `settings` again (for integrations built field by field, as tests do).
    pub fn retype(mut self) -> Result<Integration, InputError> {
        self.typed = typed_settings(&self.network, &self.settings)?;
        Ok(self)
    }

    /// A TUNE integration's settings; `None` for CPA networks.
    pub fn tune(&self) -> Option<&TuneSettings> {
        self.typed.tune.as_ref()
    }

    pub fn is_tune(&self) -> bool {
        self.typed.tune.is_some()
    }

    /// A CPA integration's settings; `None` for TUNE.
    pub fn cpa(&self) -> Option<crate::settings::CpaSettings> {
        (!self.is_tune()).then(|| crate::settings::cpa(&self.settings))
    }

    /// The `api_url` setting (CPA networks): replaces the network's documented API base.
    pub fn api_url(&self) -> Option<&str> {
        self.settings
            .get("api_url")
            .and_then(Value::as_str)
            .filter(|u| !u.is_empty())
    }

    /// The currency of a postback: its own, else (TUNE, with a payout) the integration's
    /// `default_currency`. CPA networks: `None` (a payout without currency is kept but not
    /// summed).
    pub fn postback_currency(&self, decision: &crate::postback::Decision) -> Option<&'static str> {
        if let Some(c) = decision.currency {
            return Some(c);
        }
        match (self.tune(), decision.payout) {
            (Some(tune), Some(_)) => Some(tune.default_currency.as_str()),
            _ => None,
        }
    }

    /// Builds a new integration from a `POST /integrations` body.
    pub fn create(
        catalogue: &Catalogue,
        body: &Value,
        id: String,
        postback_token: String,
        now: DateTime<Utc>,
    ) -> Result<Integration, InputError> {
        let body = as_object(body, "body")?;
        check_known(body, "", FIELDS)?;
        let slug = match body.get("network") {
            None | Some(Value::Null) => return Err(InputError::missing("network")),
            Some(Value::String(s)) => s.as_str(),
            Some(_) => return Err(InputError::wrong_type("network", "a string")),
        };
        let network = find_network(catalogue, slug)?;
        let mut integration = Integration {
            id,
            network: network.slug.clone(),
            name: String::new(),
            active: true,
            timeout_ms: DEFAULT_TIMEOUT_MS,
            settings: Map::new(),
            credentials: BTreeMap::new(),
            postback_token,
            created_at: now,
            updated_at: now,
            version: 0,
            typed: TypedSettings::default(),
        };
        if !body.contains_key("name") {
            return Err(InputError::missing("name"));
        }
        integration.apply(network, body)?;
        Ok(integration)
    }

    /// Applies a `PATCH /integrations/{id}` body: only the fields present change; a credential or
    /// setting set to `null` is removed (settings then fall back to their defaults).
    pub fn patch(
        &self,
        catalogue: &Catalogue,
        body: &Value,
        now: DateTime<Utc>,
    ) -> Result<Integration, InputError> {
        let body = as_object(body, "body")?;
        check_known(body, "", FIELDS)?;
        if let Some(network) = body.get("network")
            && network.as_str() != Some(self.network.as_str())
        {
            return Err(InputError::new(
                "immutable_field",
                "network",
                "`network` cannot be changed; create a new integration instead",
            ));
        }
        let network = find_network(catalogue, &self.network)?;
        let mut next = self.clone();
        next.apply(network, body)?;
        next.updated_at = now;
        Ok(next)
    }

    fn apply(&mut self, network: &Network, body: &Map<String, Value>) -> Result<(), InputError> {
        if let Some(name) = body.get("name") {
            let name = name
                .as_str()
                .ok_or_else(|| InputError::wrong_type("name", "a string"))?
                .trim();
            if name.is_empty() || name.chars().count() > MAX_NAME_LEN {
                return Err(InputError::out_of_range(
                    "name",
                    format!("`name` must have 1 to {MAX_NAME_LEN} characters"),
                ));
            }
            self.name = name.to_string();
        }
        if let Some(active) = body.get("active") {
            self.active = active
                .as_bool()
                .ok_or_else(|| InputError::wrong_type("active", "true or false"))?;
        }
        if let Some(timeout) = body.get("timeout_ms") {
            let timeout = timeout
                .as_u64()
                .ok_or_else(|| InputError::wrong_type("timeout_ms", "a whole number"))?;
            if !(*TIMEOUT_RANGE_MS.start() as u64..=*TIMEOUT_RANGE_MS.end() as u64)
                .contains(&timeout)
            {
                return Err(InputError::out_of_range(
                    "timeout_ms",
                    format!(
                        "`timeout_ms` must be between {} and {}",
                        TIMEOUT_RANGE_MS.start(),
                        TIMEOUT_RANGE_MS.end()
                    ),
                ));
            }
            self.timeout_ms = timeout as u32;
        }
        if let Some(credentials) = body.get("credentials") {
            merge_credentials(network, &mut self.credentials, credentials)?;
        }
        for field in network.credentials.iter().filter(|f| f.required) {
            if !self.credentials.contains_key(&field.key) {
                return Err(InputError::missing(&format!("credentials.{}", field.key)));
            }
        }
        let patch = match body.get("settings") {
            None => Map::new(),
            Some(v) => as_object(v, "settings")?.clone(),
        };
        self.settings = merge_settings(network, &self.settings, &patch)?;
        self.typed = TypedSettings::parse(network.kind, &self.settings)?;
        Ok(())
    }
}

fn find_network<'c>(catalogue: &'c Catalogue, slug: &str) -> Result<&'c Network, InputError> {
    catalogue.network(slug).ok_or_else(|| {
        InputError::new(
            "unknown_network",
            "network",
            format!("unknown network `{slug}`; GET /networks lists them"),
        )
    })
}

fn as_object<'v>(value: &'v Value, field: &str) -> Result<&'v Map<String, Value>, InputError> {
    value
        .as_object()
        .ok_or_else(|| InputError::wrong_type(field, "a JSON object"))
}

fn path(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_string()
    } else {
        format!("{prefix}.{key}")
    }
}

fn check_known(obj: &Map<String, Value>, prefix: &str, known: &[&str]) -> Result<(), InputError> {
    match obj.keys().find(|k| !known.contains(&k.as_str())) {
        Some(k) => Err(InputError::unknown(&path(prefix, k))),
        None => Ok(()),
    }
}

fn merge_credentials(
    network: &Network,
    current: &mut BTreeMap<String, String>,
    patch: &Value,
) -> Result<(), InputError> {
    let patch = as_object(patch, "credentials")?;
    for (key, value) in patch {
        let field = path("credentials", key);
        let spec = network
            .credentials
            .iter()
            .find(|c| &c.key == key)
            .ok_or_else(|| {
                let known: Vec<&str> = network.credentials.iter().map(|c| c.key.as_str()).collect();
                InputError::new(
                    "unknown_field",
                    field.clone(),
                    format!(
                        "`{field}` is not a credential of {} (known: {})",
                        network.name,
                        if known.is_empty() {
                            "none".to_string()
                        } else {
                            known.join(", ")
                        }
                    ),
                )
            })?;
        match value {
            Value::Null if spec.required => return Err(InputError::missing(&field)),
            Value::Null => {
                current.remove(key);
            }
            Value::String(s) => {
                let s = s.trim();
                if s.is_empty() || s.len() > MAX_CREDENTIAL_LEN {
                    return Err(InputError::out_of_range(
                        &field,
                        format!("`{field}` must have 1 to {MAX_CREDENTIAL_LEN} characters"),
                    ));
                }
                current.insert(key.clone(), s.to_string());
            }
            _ => return Err(InputError::wrong_type(&field, "a string")),
        }
    }
    Ok(())
}

/// Settings every network accepts, besides its own.
pub fn common_settings() -> &'static [FieldSpec] {
    static COMMON: std::sync::OnceLock<Vec<FieldSpec>> = std::sync::OnceLock::new();
    COMMON.get_or_init(|| {
        vec![FieldSpec {
            key: "ip_allowlist".into(),
            kind: FieldKind::CidrList,
            required: false,
            default: None,
            values: vec![],
            max_len: None,
            min: None,
            max: None,
            fields: vec![],
            description: "Postbacks are accepted only from these networks (CIDR); empty or absent accepts any address.".into(),
        }, FieldSpec {
            key: "silence_hours".into(),
            kind: FieldKind::Integer,
            required: false,
            default: None,
            values: vec![],
            max_len: None,
            min: Some(u64::from(crate::health::MIN_SILENCE_HOURS)),
            max: Some(u64::from(crate::health::MAX_SILENCE_HOURS)),
            fields: vec![],
            description: "Hours of clicks without an accepted postback after which the integration is reported silent (`integration.silent`); 1 to 720, 24 when absent.".into(),
        }]
    })
}

/// Settings every CPA network accepts besides the common ones: where its API is, and how often
/// lead statuses are loaded from it (see [`crate::settings::CpaSettings`]).
pub fn cpa_settings() -> &'static [FieldSpec] {
    static CPA: std::sync::OnceLock<Vec<FieldSpec>> = std::sync::OnceLock::new();
    CPA.get_or_init(|| {
        let field = |key: &str, kind, description: &str| FieldSpec {
            key: key.into(),
            kind,
            required: false,
            default: None,
            values: vec![],
            max_len: None,
            min: None,
            max: None,
            fields: vec![],
            description: description.into(),
        };
        let mut api_url = field(
            "api_url",
            FieldKind::BaseUrl,
            "Replaces the network's documented API base (scheme, host, optional port and path prefix), for a network that moved domains: https://api.example.net/v2.",
        );
        api_url.max_len = Some(300);
        let mut enabled = field("enabled", FieldKind::Bool, "");
        enabled.default = Some(Value::Bool(true));
        let mut every = field("every_minutes", FieldKind::Integer, "");
        every.default = Some(Value::from(crate::settings::DEFAULT_STATUS_SYNC_MINUTES));
        every.min = Some(5);
        every.max = Some(1_440);
        let mut status_sync = field(
            "status_sync",
            FieldKind::Object,
            "Loading lead statuses from the network's API, for networks that have a status API.",
        );
        status_sync.fields = vec![enabled, every];
        vec![api_url, status_sync]
    })
}

/// Validates `patch` over `current` against the network's settings, filling defaults.
fn merge_settings(
    network: &Network,
    current: &Map<String, Value>,
    patch: &Map<String, Value>,
) -> Result<Map<String, Value>, InputError> {
    let cpa: &[FieldSpec] = match network.kind {
        crate::catalogue::NetworkKind::Cpa => cpa_settings(),
        crate::catalogue::NetworkKind::Tune => &[],
    };
    // A network's own spec of a CPA setting replaces it (Traffury requires `api_url`).
    let own = |key: &str| network.settings.iter().any(|s| s.key == key);
    let specs: Vec<&FieldSpec> = network
        .settings
        .iter()
        .chain(common_settings())
        .chain(cpa.iter().filter(|s| !own(&s.key)))
        .collect();
    merge_object(&specs, current, patch, "settings")
}

fn merge_object(
    specs: &[&FieldSpec],
    current: &Map<String, Value>,
    patch: &Map<String, Value>,
    prefix: &str,
) -> Result<Map<String, Value>, InputError> {
    if let Some(unknown) = patch.keys().find(|k| !specs.iter().any(|s| &s.key == *k)) {
        let field = path(prefix, unknown);
        let known: Vec<&str> = specs.iter().map(|s| s.key.as_str()).collect();
        return Err(InputError::new(
            "unknown_field",
            field.clone(),
            format!(
                "`{field}` is not a known setting (known: {})",
                known.join(", ")
            ),
        ));
    }
    let mut out = Map::new();
    for spec in specs {
        let field = path(prefix, &spec.key);
        let value = match patch.get(&spec.key) {
            Some(Value::Null) => None,
            Some(v) => Some(validate_value(spec, current.get(&spec.key), v, &field)?),
            None => current.get(&spec.key).cloned(),
        };
        match value.or_else(|| default_of(spec)) {
            Some(v) => {
                out.insert(spec.key.clone(), v);
            }
            None if spec.required => return Err(InputError::missing(&field)),
            None => {}
        }
    }
    Ok(out)
}

fn default_of(spec: &FieldSpec) -> Option<Value> {
    if let Some(d) = &spec.default {
        return Some(d.clone());
    }
    if spec.kind == FieldKind::Object {
        let specs: Vec<&FieldSpec> = spec.fields.iter().collect();
        let filled = merge_object(&specs, &Map::new(), &Map::new(), "").ok()?;
        return (!filled.is_empty()).then_some(Value::Object(filled));
    }
    None
}

fn validate_value(
    spec: &FieldSpec,
    current: Option<&Value>,
    value: &Value,
    field: &str,
) -> Result<Value, InputError> {
    match spec.kind {
        FieldKind::String => {
            let s = value
                .as_str()
                .ok_or_else(|| InputError::wrong_type(field, "a string"))?
                .trim();
            let max = spec.max_len.unwrap_or(500);
            if (spec.required && s.is_empty()) || s.chars().count() > max {
                return Err(InputError::out_of_range(
                    field,
                    format!(
                        "`{field}` must have {} to {max} characters",
                        u8::from(spec.required)
                    ),
                ));
            }
            Ok(Value::String(s.to_string()))
        }
        FieldKind::Enum => match value.as_str() {
            Some(s) if spec.values.iter().any(|v| v == s) => Ok(Value::String(s.to_string())),
            _ => Err(InputError::invalid(
                field,
                format!("`{field}` must be one of: {}", spec.values.join(", ")),
            )),
        },
        FieldKind::Bool => value
            .as_bool()
            .map(Value::Bool)
            .ok_or_else(|| InputError::wrong_type(field, "true or false")),
        FieldKind::Integer => {
            let (min, max) = (spec.min.unwrap_or(0), spec.max.unwrap_or(u64::MAX));
            let n = value
                .as_u64()
                .ok_or_else(|| InputError::wrong_type(field, "a whole number"))?;
            if !(min..=max).contains(&n) {
                return Err(InputError::out_of_range(
                    field,
                    format!("`{field}` must be between {min} and {max}"),
                ));
            }
            Ok(Value::from(n))
        }
        FieldKind::BaseUrl => {
            let s = value
                .as_str()
                .ok_or_else(|| InputError::wrong_type(field, "a URL"))?
                .trim();
            match (s.is_empty(), spec.required) {
                (true, false) => return Ok(Value::String(String::new())),
                (true, true) => return Err(InputError::missing(field)),
                _ => {}
            }
            if s.chars().count() > spec.max_len.unwrap_or(300) {
                return Err(InputError::out_of_range(
                    field,
                    format!("`{field}` is too long"),
                ));
            }
            crate::base_url::parse_base_url(s)
                .map_err(|why| InputError::invalid(field, format!("`{field}` `{s}`: {why}")))?;
            Ok(Value::String(s.to_string()))
        }
        FieldKind::CidrList => {
            let list = value
                .as_array()
                .ok_or_else(|| InputError::wrong_type(field, "a list of CIDR strings"))?;
            let mut out = Vec::with_capacity(list.len());
            for (i, entry) in list.iter().enumerate() {
                let text = entry.as_str().unwrap_or_default().trim();
                let net = parse_cidr(text).ok_or_else(|| {
                    InputError::invalid(
                        &format!("{field}[{i}]"),
                        format!(
                            "`{text}` is not an IP address or CIDR network like 203.0.113.0/24"
                        ),
                    )
                })?;
                out.push(Value::String(net.to_string()));
            }
            Ok(Value::Array(out))
        }
        FieldKind::Object => {
            let patch = as_object(value, field)?;
            let specs: Vec<&FieldSpec> = spec.fields.iter().collect();
            let empty = Map::new();
            let current = current.and_then(Value::as_object).unwrap_or(&empty);
            merge_object(&specs, current, patch, field).map(Value::Object)
        }
    }
}

/// Parses `203.0.113.0/24`, `2001:db8::/32` or a bare address (a /32 or /128 network).
pub fn parse_cidr(text: &str) -> Option<ipnet::IpNet> {
    text.parse::<ipnet::IpNet>()
        .ok()
        .or_else(|| {
            text.parse::<std::net::IpAddr>()
                .ok()
                .map(ipnet::IpNet::from)
        })
        .map(|n| n.trunc())
}
