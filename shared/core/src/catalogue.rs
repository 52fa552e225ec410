//! The network catalogue: declarative data (`catalogue/networks.toml`) embedded at build time
//! (as JSON: `build.rs`).
//!
//! Every network of the seed documents is an entry: its credential fields, the settings it
//! accepts, its offer parameters, its postback tails and the status words that differ from the
//! default dictionary.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::OnceLock;

const CATALOGUE_JSON: &str = include_str!(concat!(env!("OUT_DIR"), "/networks.json"));

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalogue {
    #[serde(rename = "network")]
    pub networks: Vec<Network>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NetworkKind {
    /// TUNE (HasOffers): offers come from its API, postbacks use TUNE macros.
    Tune,
    /// A CPA network speaking the AlterCPA-style status postback (`oid`, `status`, `sta`...).
    Cpa,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Network {
    pub slug: String,
    pub name: String,
    pub kind: NetworkKind,
    /// What the seed says to do on the network's side (flows, managers...).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub notes: String,
    /// The network's API host, where the seed names one (TamCRM: `api.tamcrm.com`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_host: Option<String>,
    #[serde(default)]
    pub credentials: Vec<CredentialField>,
    #[serde(default)]
    pub settings: Vec<FieldSpec>,
    #[serde(default)]
    pub params: Vec<OfferParam>,
    #[serde(default)]
    pub postbacks: Vec<PostbackTail>,
    /// For networks that cannot take a URL and build the postback from parts (AffbayAsia).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postback_parts: Option<PostbackParts>,
    /// Raw status word (lower case) -> stage, where the network's words differ from the default
    /// dictionary (LeadBit's `reject` means trash, KMA sends `P/A/D/F`...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub status_map: BTreeMap<String, String>,
    /// Length limits the network documents for the sub-ID fields that may carry our click ID.
    /// Every click ID fits each one (shared/core/tests/click_id_fits.rs).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sub_id_limits: Vec<SubIdLimit>,
}

/// A documented length limit of sub-ID fields.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubIdLimit {
    /// The fields it applies to (`sub1`..`sub5`, `aff_sub`...).
    pub fields: Vec<String>,
    /// Longest value accepted, in characters.
    pub max_len: usize,
    /// Where the network states it.
    pub source: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialField {
    /// Key in `credentials` of the API (`api_key`, `user_id`, `owner_id`, `key`, `secret`, `flow_id`).
    pub key: String,
    /// The seed's label (`API`, `User`, `Owner`, `Key`, `Secret`, `Flow`).
    pub label: String,
    /// The seed's description of the value.
    pub description: String,
    #[serde(default = "yes")]
    pub required: bool,
    /// Secrets are never returned by the API nor logged.
    #[serde(default = "yes")]
    pub secret: bool,
    /// How the network expects it: `token` (query/body parameter), `bearer` (Authorization header), `id`.
    #[serde(default = "default_auth")]
    pub auth: String,
}

fn yes() -> bool {
    true
}
fn default_auth() -> String {
    "token".into()
}

/// A settings field and its type, used to validate `settings` of an integration.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldSpec {
    pub key: String,
    #[serde(rename = "type")]
    pub kind: FieldKind,
    #[serde(default)]
    pub required: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_len: Option<usize>,
    /// Bounds of an `integer` field, inclusive.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<FieldSpec>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldKind {
    String,
    Enum,
    Bool,
    /// A whole number within `min`..=`max`.
    Integer,
    /// A list of IPv4/IPv6 networks in CIDR notation.
    CidrList,
    /// An http(s) API base: scheme, host, optional port and path prefix (see
    /// [`crate::base_url`]); empty when not required.
    BaseUrl,
    Object,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OfferParam {
    /// The parameter name as the seed writes it (`zcpa`, `leadbit`, `leadsite`).
    pub key: String,
    /// Its meaning, as the seed says it (`flow ID`).
    pub meaning: String,
    #[serde(default = "yes")]
    pub required: bool,
    /// The exact length in characters, where the seed states one (LeadBit's stream hash: "four
    /// characters"); otherwise 1 to 512.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub length: Option<usize>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostbackTail {
    /// Normalised event: `global`, `new`, `approve`, `upsell`, `cancel`, `trash`, `duplicate`.
    pub event: String,
    /// The seed's own label for it (`Global`, `Confirmed`, `Cancelled`...).
    pub label: String,
    /// The tail exactly as documented, appended to our postback URL. Empty = leave blank.
    pub tail: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostbackParts {
    pub protocol: String,
    pub path: String,
    pub params: Vec<PostbackPartParam>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostbackPartParam {
    pub name: String,
    /// What to put there, as the seed says.
    pub value: String,
}

impl Catalogue {
    /// The catalogue embedded in the binary. Parsed once; a broken file fails every test.
    pub fn embedded() -> &'static Catalogue {
        static CATALOGUE: OnceLock<Catalogue> = OnceLock::new();
        CATALOGUE.get_or_init(|| {
            let catalogue: Catalogue =
                serde_json::from_str(CATALOGUE_JSON).expect("embedded catalogue");
            catalogue.checked().expect("embedded catalogue")
        })
    }

    /// A catalogue in the TOML of `catalogue/networks.toml` (tests).
    #[cfg(test)]
    pub fn parse(text: &str) -> Result<Catalogue, String> {
        toml::from_str::<Catalogue>(text)
            .map_err(|e| e.to_string())?
            .checked()
    }

    pub fn network(&self, slug: &str) -> Option<&Network> {
        self.networks.iter().find(|n| n.slug == slug)
    }

    /// The catalogue, if its entries are consistent (one entry per slug, known stages).
    pub fn checked(self) -> Result<Catalogue, String> {
        let mut seen = std::collections::BTreeSet::new();
        for network in &self.networks {
            if !seen.insert(network.slug.as_str()) {
                return Err(format!("network `{}` is listed twice", network.slug));
            }
            for stage in network.status_map.values() {
                if crate::status::Stage::parse(stage).is_none() {
                    return Err(format!(
                        "network `{}` maps to unknown stage `{stage}`",
                        network.slug
                    ));
                }
            }
        }
        drop(seen);
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::Stage;
    use std::collections::BTreeSet;

    const CREDENTIAL_KEYS: [&str; 6] =
        ["api_key", "user_id", "owner_id", "key", "secret", "flow_id"];
    const EVENTS: [&str; 7] = [
        "global",
        "new",
        "approve",
        "upsell",
        "cancel",
        "trash",
        "duplicate",
    ];

    fn cpa() -> impl Iterator<Item = &'static Network> {
        Catalogue::embedded()
            .networks
            .iter()
            .filter(|n| n.kind == NetworkKind::Cpa)
    }

    #[test]
    fn embedded_catalogue_has_tune_and_every_cpa_network() {
        let catalogue = Catalogue::embedded();
        assert_eq!(
            catalogue.network("tune").map(|n| n.kind),
            Some(NetworkKind::Tune)
        );
        assert_eq!(cpa().count(), 48);
        let slugs: BTreeSet<&str> = catalogue.networks.iter().map(|n| n.slug.as_str()).collect();
        assert_eq!(slugs.len(), catalogue.networks.len(), "slugs are unique");
        let names: BTreeSet<&str> = catalogue.networks.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names.len(), catalogue.networks.len(), "names are unique");
    }

    #[test]
    fn slugs_are_lower_case_url_safe() {
        for network in &Catalogue::embedded().networks {
            assert!(
                !network.slug.is_empty()
                    && network
                        .slug
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
                "slug `{}`",
                network.slug
            );
        }
    }

    #[test]
    fn cpa_entries_are_well_formed() {
        for network in cpa() {
            let slug = &network.slug;
            assert!(!network.params.is_empty(), "{slug} has no offer parameters");
            let mut keys = BTreeSet::new();
            for field in &network.credentials {
                assert!(
                    CREDENTIAL_KEYS.contains(&field.key.as_str()),
                    "{slug}: `{}`",
                    field.key
                );
                assert!(
                    keys.insert(&field.key),
                    "{slug}: credential `{}` twice",
                    field.key
                );
                assert!(
                    ["token", "bearer", "id"].contains(&field.auth.as_str()),
                    "{slug}"
                );
                assert_eq!(field.secret, field.auth != "id", "{slug}: `{}`", field.key);
            }
            let mut keys = BTreeSet::new();
            for param in &network.params {
                assert!(
                    keys.insert(&param.key),
                    "{slug}: parameter `{}` twice",
                    param.key
                );
            }
            for postback in &network.postbacks {
                assert!(
                    EVENTS.contains(&postback.event.as_str()),
                    "{slug}: `{}`",
                    postback.event
                );
                assert!(
                    !postback.tail.is_empty() || !postback.note.is_empty(),
                    "{slug}: a blank tail says why"
                );
            }
            for (word, stage) in &network.status_map {
                assert_eq!(
                    *word,
                    word.to_lowercase(),
                    "{slug}: status words are lower case"
                );
                assert!(
                    Stage::parse(stage).is_some(),
                    "{slug}: `{word}` -> `{stage}`"
                );
            }
        }
    }

    #[test]
    fn only_affbay_builds_its_postback_from_parts() {
        let with_parts: Vec<&str> = Catalogue::embedded()
            .networks
            .iter()
            .filter(|n| n.postback_parts.is_some())
            .map(|n| n.slug.as_str())
            .collect();
        assert_eq!(with_parts, ["affbay"]);
        let tamcrm = Catalogue::embedded().network("tamcrm").unwrap();
        assert_eq!(tamcrm.api_host.as_deref(), Some("api.tamcrm.com"));
    }

    #[test]
    fn parse_rejects_duplicates_and_unknown_stages() {
        let entry = |slug: &str, stage: &str| {
            format!(
                "[[network]]\nslug = \"{slug}\"\nname = \"{slug}\"\nkind = \"cpa\"\nstatus_map = {{ x = \"{stage}\" }}\n"
            )
        };
        assert!(Catalogue::parse(&entry("a", "wait")).is_ok());
        let twice = entry("a", "wait") + &entry("a", "wait");
        assert!(
            Catalogue::parse(&twice)
                .unwrap_err()
                .contains("listed twice")
        );
        assert!(
            Catalogue::parse(&entry("a", "approved"))
                .unwrap_err()
                .contains("unknown stage")
        );
    }

    #[test]
    fn api_host_is_optional_and_not_serialized_when_absent() {
        let json = serde_json::to_value(Catalogue::embedded().network("leadbit").unwrap()).unwrap();
        assert!(json.get("api_host").is_none());
        let json = serde_json::to_value(Catalogue::embedded().network("tamcrm").unwrap()).unwrap();
        assert_eq!(json["api_host"], "api.tamcrm.com");
    }
}
