//! The network catalogue: declarative data (`catalogue/networks.toml`) embedded at build time.
//!
//! Every network of the seed documents is an entry: its credential fields, the settings it
//! accepts, its offer parameters, its postback tails and the status words that differ from the
//! default dictionary.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::OnceLock;

const CATALOGUE_TOML: &str = include_str!("../catalogue/networks.toml");

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
    /// A list of IPv4/IPv6 networks in CIDR notation.
    CidrList,
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
        CATALOGUE.get_or_init(|| Catalogue::parse(CATALOGUE_TOML).expect("embedded catalogue"))
    }

    pub fn parse(text: &str) -> Result<Catalogue, String> {
        let catalogue: Catalogue = toml::from_str(text).map_err(|e| e.to_string())?;
        catalogue.check()?;
        Ok(catalogue)
    }

    pub fn network(&self, slug: &str) -> Option<&Network> {
        self.networks.iter().find(|n| n.slug == slug)
    }

    fn check(&self) -> Result<(), String> {
        let mut seen = std::collections::BTreeSet::new();
        for network in &self.networks {
            if !seen.insert(network.slug.as_str()) {
                return Err(format!("network `{}` is listed twice", network.slug));
            }
            for stage in network.status_map.values() {
                if crate::status::Stage::parse(stage).is_none() {
                    return Err(format!("network `{}` maps to unknown stage `{stage}`", network.slug));
                }
            }
        }
        Ok(())
    }
}
