//! The rule for the generic "Test Query" call ([`crate::TuneClient::call_read_only`]).
//!
//! TUNE is RPC-style: whether a call changes data is only visible in the method name. A call is
//! allowed when
//! * `Target` and `Method` are plain identifiers (letters, digits, `_`; at most 64 characters);
//! * the method name starts (case-insensitively) with `find`, `get` or `count`: TUNE's readers
//!   (`findAll`, `findById`, `findMyApprovedOffers`, `getStats`, `getConversions`, `getPayouts`,
//!   `getContext`...);
//! * and nothing in the names touches credentials: targets `Authentication` or containing
//!   `ApiKey`, and methods mentioning `token`, `apikey`, `password`, `secret`, `session` or
//!   `login` are refused even when they start with `get`.
//!
//! Everything else is refused: `create*`, `update*`, `delete*`, `set*`, `add*`, `remove*`,
//! `block*`, `approve*`, `accept*`, `signup*`, `whitelist*`..., and also `generate*`
//! (`generateTrackingLink` may create stored short links; the client has a dedicated
//! [`crate::TuneClient::generate_tracking_link`] for the one case affnet needs).

use crate::error::TuneError;

const READ_PREFIXES: [&str; 3] = ["find", "get", "count"];
const SECRET_WORDS: [&str; 6] = ["token", "apikey", "password", "secret", "session", "login"];

/// `Ok(())` when `Target::Method` is side-effect free by the rule above.
pub fn check_read_only(target: &str, method: &str) -> Result<(), TuneError> {
    let refuse = |reason: &str| {
        Err(TuneError::NotReadOnly {
            target: target.chars().take(64).collect(),
            method: method.chars().take(64).collect(),
            reason: reason.to_string(),
        })
    };
    let ident = |s: &str| {
        !s.is_empty() && s.len() <= 64 && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    if !ident(target) || !ident(method) {
        return refuse("target and method must be letters, digits and underscores");
    }
    let t = target.to_ascii_lowercase();
    let m = method.to_ascii_lowercase();
    if !READ_PREFIXES.iter().any(|p| m.starts_with(p)) {
        return refuse("only methods starting with find, get or count are allowed");
    }
    if t == "authentication" || t.contains("apikey") || SECRET_WORDS.iter().any(|w| m.contains(w)) {
        return refuse("methods that handle credentials are not allowed");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_readers() {
        for (t, m) in [
            ("Offer", "findAll"),
            ("Offer", "findById"),
            ("Offer", "findAllIds"),
            ("Affiliate_Offer", "findMyApprovedOffers"),
            ("Affiliate_Offer", "getPayoutDetails"),
            ("Report", "getStats"),
            ("Affiliate_Report", "getConversions"),
            ("Affiliate_AffiliateUser", "getContext"),
            ("Advertiser", "FINDALL"),
        ] {
            assert!(check_read_only(t, m).is_ok(), "{t}::{m}");
        }
    }

    #[test]
    fn refuses_writers_and_secrets() {
        for (t, m) in [
            ("Offer", "create"),
            ("Offer", "update"),
            ("Offer", "setPayout"),
            ("Offer", "addTargetCountry"),
            ("Offer", "removeTargetCountry"),
            ("Offer", "blockAffiliate"),
            ("Conversion", "updateStatus"),
            ("Affiliate", "approve"),
            ("Affiliate_Offer", "generateTrackingLink"),
            ("Affiliate_Offer", "acceptOfferTermsAndConditions"),
            ("Application", "whitelistNetworkApiIp"),
            ("Authentication", "findUserByCredentials"),
            ("ApiKey", "getUserApiKey"),
            ("Affiliate_AffiliateUser", "getSessionToken"),
            ("Offer", "find All"),
            ("Offer", "findAll&Method=delete"),
            ("", "findAll"),
            ("Offer", ""),
        ] {
            let err = check_read_only(t, m).unwrap_err();
            assert_eq!(err.kind(), crate::ErrorKind::NotReadOnly, "{t}::{m}");
        }
    }
}
