//! CPA networks' APIs: send a lead, load lead statuses, test a connection (read-only).
//!
//! Each network's API is data ([`spec`], `apis.toml`): endpoint, method, encoding (form, JSON,
//! query), where the credentials go, which field carries our click ID, where the order id and
//! the error are in the reply, which codes mean a duplicate, how statuses are asked for. One
//! [`generic::Generic`] adapter serves every network that is only data; [`custom`] holds the code
//! for the networks that need more (LeadRock's two steps and `sign`, TerraLeads' `check_sum`),
//! and [`omnicpa`] for OmniCPA's signed envelopes.
//!
//! Every call goes through the SSRF guard ([`affnet_netguard`]): no private, loopback or
//! link-local targets unless the account allows them; no redirects; the integration's timeout
//! bounds every call; replies are read up to [`request::MAX_REPLY_BYTES`] and stored masked of
//! every credential in every form a network may echo it ([`mask`], the product's one redaction,
//! [`affnet_netguard::redact`]); so are the texts of results (errors, test details).

pub mod custom;
pub mod fields;
pub mod generic;
pub mod lead;
pub mod mask;
pub mod omnicpa;
pub mod reply;
pub mod request;
pub mod spec;

pub use generic::LeadApi;
pub use lead::{
    Account, Exchange, LeadFields, LeadRef, RemoteStatus, SendOutcome, StatusReport, TestOutcome,
    Transient,
};
pub use request::ConfigError;
pub use spec::{Grade, NetworkApi};

/// The adapter of a network API.
pub fn adapter(api: &NetworkApi) -> &'static dyn LeadApi {
    match api.adapter {
        spec::Adapter::Generic => &generic::Generic,
        spec::Adapter::Leadrock => &custom::Leadrock,
        spec::Adapter::Terraleads => &custom::Terraleads,
        spec::Adapter::Omnicpa => &omnicpa::Omnicpa,
    }
}

/// What works with a network, for `GET /networks`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Capabilities {
    pub send: bool,
    pub statuses: bool,
    pub test: bool,
    pub grade: &'static str,
}

pub fn capabilities(slug: &str) -> Capabilities {
    match spec::of(slug) {
        Some(api) => Capabilities {
            send: api.send.is_some(),
            statuses: api.statuses.is_some(),
            test: api.test.is_some(),
            grade: api.grade.as_str(),
        },
        None => Capabilities {
            send: false,
            statuses: false,
            test: false,
            grade: Grade::None.as_str(),
        },
    }
}

/// Why leads cannot be sent to the network `slug` (`None` when they can): the reference's own
/// words where it shows an API without a lead call, else its grade.
pub fn why_no_send(slug: &str) -> Option<String> {
    match spec::of(slug) {
        Some(api) if api.send.is_some() => None,
        Some(api) => Some(api.no_send.clone().unwrap_or_else(|| {
            format!(
                "no lead call of it is public (the reference's grade: {})",
                api.grade.as_str()
            )
        })),
        None => Some("nothing about its API is public".into()),
    }
}

/// The offer parameters sending a lead to `api` needs.
pub fn params_needed(api: &NetworkApi) -> Vec<String> {
    let mut needed = api.send.as_ref().map_or_else(Vec::new, |call| {
        fields::params_needed(call.fields.values().chain(call.query.values()))
    });
    if api.adapter == spec::Adapter::Leadrock && !needed.iter().any(|p| p == "leadrock") {
        needed.push("leadrock".into());
    }
    needed
}
