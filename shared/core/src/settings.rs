//! Typed views of an integration's settings, parsed once when the integration is created,
//! patched or read from the store. The settings stay a JSON map in the API and the store (the
//! catalogue drives their fields); the code reads these views instead of the map.

use crate::catalogue::NetworkKind;
use crate::error::InputError;
use crate::money;
use ipnet::IpNet;
use serde::Serialize;
use serde_json::{Map, Value};
use std::net::IpAddr;

/// An ISO-4217 currency code, upper case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct Currency(&'static str);

impl Currency {
    pub const USD: Currency = Currency("USD");

    /// The code if it is a known ISO-4217 currency (any case).
    pub fn parse(code: &str) -> Option<Currency> {
        money::currency(code).map(Currency)
    }

    pub fn as_str(self) -> &'static str {
        self.0
    }
}

impl std::fmt::Display for Currency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

/// The networks postbacks are accepted from; empty accepts any address.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IpAllowlist(Vec<IpNet>);

impl IpAllowlist {
    pub fn new(networks: Vec<IpNet>) -> IpAllowlist {
        IpAllowlist(networks)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether a request from `ip` passes. With a list, an unknown source fails (fail closed).
    pub fn allows(&self, ip: Option<IpAddr>) -> bool {
        self.0.is_empty() || ip.is_some_and(|ip| self.0.iter().any(|net| net.contains(&ip)))
    }
}

/// Whether TUNE is called with a Network API key or an Affiliate API key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ApiMode {
    #[default]
    Network,
    Affiliate,
}

/// How often automatic offer sync runs (`auto_sync.frequency`); the scheduling port's
/// `affnet_app::schedule::Frequency` adds periods in minutes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncFrequency {
    Hourly,
    Daily,
}

/// A TUNE integration's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TuneSettings {
    pub network_id: String,
    /// Empty: the client's default API host.
    pub api_domain: String,
    pub api_mode: ApiMode,
    /// Put before synced offer names; empty for none.
    pub offer_name_prefix: String,
    /// The currency of offers and postbacks TUNE sends without one (TUNE's null currency means
    /// the network's default).
    pub default_currency: Currency,
    /// `Some` when automatic sync is enabled.
    pub auto_sync: Option<SyncFrequency>,
    /// The network's time zone (`timezone`, an IANA name; default UTC): TUNE reports in it.
    pub timezone: chrono_tz::Tz,
    /// Scheduled reconciliation (`reconcile`).
    pub reconcile: ReconcileSettings,
}

/// `reconcile {enabled, every: daily, lookback_days}`: a daily run over the last
/// `lookback_days` days (1–90, default 7).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReconcileSettings {
    pub enabled: bool,
    pub lookback_days: u32,
}

impl ReconcileSettings {
    pub const DEFAULT_LOOKBACK_DAYS: u32 = 7;

    /// The schedule's frequency when enabled (`every` allows only daily).
    pub fn schedule(&self) -> Option<SyncFrequency> {
        self.enabled.then_some(SyncFrequency::Daily)
    }
}

/// How often lead statuses are loaded, by default (minutes).
pub const DEFAULT_STATUS_SYNC_MINUTES: u32 = 15;

/// A CPA integration's own settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CpaSettings {
    /// Replaces the network's documented API base; checked when a client is built.
    pub api_url: Option<String>,
    /// Minutes between status loads; `None` when disabled.
    pub status_sync_minutes: Option<u32>,
}

/// Every typed view of one integration's settings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TypedSettings {
    pub ip_allowlist: IpAllowlist,
    /// `silence_hours` (see [`crate::health`]).
    pub silence_hours: SilenceHours,
    /// For TUNE integrations only.
    pub tune: Option<TuneSettings>,
}

impl TypedSettings {
    /// Parses settings already validated against the catalogue (defaults filled). What the
    /// catalogue cannot check (an ISO-4217 `default_currency`) is an error naming the field.
    pub fn parse(kind: NetworkKind, settings: &Map<String, Value>) -> Result<Self, InputError> {
        Ok(TypedSettings {
            ip_allowlist: allowlist(settings)?,
            silence_hours: SilenceHours::of(settings),
            tune: match kind {
                NetworkKind::Tune => Some(tune(settings)?),
                NetworkKind::Cpa => None,
            },
        })
    }
}

/// Hours of clicks without an accepted postback before an integration is silent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SilenceHours(pub u32);

impl Default for SilenceHours {
    fn default() -> SilenceHours {
        SilenceHours(crate::health::DEFAULT_SILENCE_HOURS)
    }
}

impl SilenceHours {
    /// From validated settings (the catalogue checked the range).
    fn of(settings: &Map<String, Value>) -> SilenceHours {
        settings
            .get("silence_hours")
            .and_then(Value::as_u64)
            .and_then(|h| u32::try_from(h).ok())
            .map(SilenceHours)
            .unwrap_or_default()
    }
}

/// A CPA integration's own settings, from its (validated) settings map.
pub fn cpa(settings: &Map<String, Value>) -> CpaSettings {
    let sync = settings.get("status_sync");
    let enabled = sync.and_then(|s| s.get("enabled")).and_then(Value::as_bool) != Some(false);
    let minutes = sync
        .and_then(|s| s.get("every_minutes"))
        .and_then(Value::as_u64)
        .and_then(|m| u32::try_from(m).ok())
        .unwrap_or(DEFAULT_STATUS_SYNC_MINUTES);
    CpaSettings {
        api_url: Some(text(settings, "api_url").to_string()).filter(|u| !u.is_empty()),
        status_sync_minutes: enabled.then_some(minutes),
    }
}

fn text<'a>(settings: &'a Map<String, Value>, key: &str) -> &'a str {
    settings
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

fn allowlist(settings: &Map<String, Value>) -> Result<IpAllowlist, InputError> {
    let Some(list) = settings.get("ip_allowlist").and_then(Value::as_array) else {
        return Ok(IpAllowlist::default());
    };
    list.iter()
        .enumerate()
        .map(|(i, v)| {
            let text = v.as_str().unwrap_or_default();
            crate::integration::parse_cidr(text).ok_or_else(|| {
                InputError::invalid(
                    &format!("settings.ip_allowlist[{i}]"),
                    format!("`{text}` is not an IP address or CIDR network like 203.0.113.0/24"),
                )
            })
        })
        .collect::<Result<Vec<_>, _>>()
        .map(IpAllowlist)
}

fn tune(settings: &Map<String, Value>) -> Result<TuneSettings, InputError> {
    let code = settings
        .get("default_currency")
        .and_then(Value::as_str)
        .unwrap_or("USD");
    let default_currency = Currency::parse(code).ok_or_else(|| {
        InputError::invalid(
            "settings.default_currency",
            format!("`{code}` is not an ISO-4217 currency code (like USD or EUR)"),
        )
    })?;
    let auto = settings.get("auto_sync");
    let enabled = auto.and_then(|a| a.get("enabled")).and_then(Value::as_bool) == Some(true);
    let frequency = match auto
        .and_then(|a| a.get("frequency"))
        .and_then(Value::as_str)
    {
        Some("hourly") => SyncFrequency::Hourly,
        _ => SyncFrequency::Daily,
    };
    Ok(TuneSettings {
        timezone: timezone(settings)?,
        reconcile: reconcile(settings),
        network_id: text(settings, "network_id").to_string(),
        api_domain: text(settings, "api_domain").to_string(),
        api_mode: match text(settings, "api_mode") {
            "affiliate" => ApiMode::Affiliate,
            _ => ApiMode::Network,
        },
        offer_name_prefix: text(settings, "offer_name_prefix").to_string(),
        default_currency,
        auto_sync: enabled.then_some(frequency),
    })
}

fn timezone(settings: &Map<String, Value>) -> Result<chrono_tz::Tz, InputError> {
    let name = settings
        .get("timezone")
        .and_then(Value::as_str)
        .unwrap_or("UTC");
    name.parse::<chrono_tz::Tz>().map_err(|_| {
        InputError::invalid(
            "settings.timezone",
            format!(
                "`{name}` is not an IANA time zone name (like America/New_York, Europe/Berlin or UTC)"
            ),
        )
    })
}

fn reconcile(settings: &Map<String, Value>) -> ReconcileSettings {
    let r = settings.get("reconcile");
    ReconcileSettings {
        enabled: r.and_then(|r| r.get("enabled")).and_then(Value::as_bool) == Some(true),
        lookback_days: r
            .and_then(|r| r.get("lookback_days"))
            .and_then(Value::as_u64)
            .and_then(|d| u32::try_from(d).ok())
            .unwrap_or(ReconcileSettings::DEFAULT_LOOKBACK_DAYS),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn tune_settings_are_typed_with_defaults() {
        let s = TypedSettings::parse(
            NetworkKind::Tune,
            &map(json!({"network_id": "demo", "default_currency": "eur",
                        "auto_sync": {"enabled": true, "frequency": "hourly"}})),
        )
        .unwrap();
        let tune = s.tune.unwrap();
        assert_eq!(tune.default_currency.as_str(), "EUR");
        assert_eq!(tune.auto_sync, Some(SyncFrequency::Hourly));
        assert_eq!(tune.api_mode, ApiMode::Network);
        assert_eq!(tune.timezone, chrono_tz::UTC);
        assert_eq!(tune.reconcile.lookback_days, 7);
        assert_eq!(tune.reconcile.schedule(), None);
        let s = TypedSettings::parse(
            NetworkKind::Tune,
            &map(json!({"timezone": "America/New_York",
                        "reconcile": {"enabled": true, "every": "daily", "lookback_days": 3}})),
        )
        .unwrap();
        let tune = s.tune.unwrap();
        assert_eq!(tune.timezone, chrono_tz::America::New_York);
        assert_eq!(tune.reconcile.lookback_days, 3);
        assert_eq!(tune.reconcile.schedule(), Some(SyncFrequency::Daily));
        let err = TypedSettings::parse(NetworkKind::Tune, &map(json!({"timezone": "Mars/Base"})))
            .unwrap_err();
        assert_eq!(err.field.as_deref(), Some("settings.timezone"));
        let err = TypedSettings::parse(NetworkKind::Tune, &map(json!({"default_currency": "XYZ"})))
            .unwrap_err();
        assert_eq!(err.field.as_deref(), Some("settings.default_currency"));
    }

    #[test]
    fn an_allowlist_fails_closed() {
        let s = TypedSettings::parse(
            NetworkKind::Cpa,
            &map(json!({"ip_allowlist": ["203.0.113.0/24"]})),
        )
        .unwrap();
        assert!(s.tune.is_none());
        assert_eq!(cpa(&Map::new()).status_sync_minutes, Some(15));
        assert!(s.ip_allowlist.allows(Some("203.0.113.7".parse().unwrap())));
        assert!(!s.ip_allowlist.allows(Some("198.51.100.1".parse().unwrap())));
        assert!(!s.ip_allowlist.allows(None));
        assert!(IpAllowlist::default().allows(None));
    }
}
