//! One conversion per sent lead, whichever name a postback gives it.
//!
//! A sent lead's conversion is keyed by our click ID (`{integration}|c|{click}`; by the
//! network's order id for networks whose postbacks name only that, MonadLead). A CPA postback
//! that carries the network's order id (`eid`) is keyed by it (`{integration}|t|{eid}`), even
//! when it carries our click ID (`oid`) too: the network's id is preferred because a network may
//! send several conversions for one click (see `postback`, Identity). So one order can have two
//! names, and both must reach one conversion. The lead's conversion is created with aliases
//! (ids that lead to it):
//!
//! - the id its order id would give ([`lead_twin`]), so a postback by `eid` (with or without
//!   `oid`) finds it;
//! - its click's lead alias ([`click_alias`]), so a postback by `eid` with our click ID finds it
//!   when the lead learned no order id (a lost reply); it counts there only if it names no other
//!   order ([`is_lead_twin`]);
//!
//! and a lead that learns its order id adopts the conversion a postback created first under it.
//! The store checks these names in each create's own atomic batch, so concurrent first
//! deliveries (the network's postback racing its own API reply) still make one conversion, and a
//! postback of a click without a lead reads nothing more.

use super::Lead;
use crate::conversion::{Conversion, HistorySource, conversion_id};
use crate::postback::{ClickCheck, Decision, IdentitySource, lead_identity};

/// The alias a sent lead's conversion holds for its click.
pub fn click_alias(integration_id: &str, click: &str) -> String {
    let id = conversion_id(&lead_identity(integration_id, IdentitySource::Click, click));
    format!("lead:{id}")
}

/// The click alias to check for a CPA postback keyed by `eid` that carries a verified click ID
/// of ours; `None` otherwise (nothing to look for).
pub fn postback_click_alias(integration_id: &str, decision: &Decision) -> Option<String> {
    if decision.identity_source != IdentitySource::Transaction
        || !matches!(decision.click, ClickCheck::Verified(_))
    {
        return None;
    }
    Some(click_alias(integration_id, decision.click_id.as_deref()?))
}

/// Whether a lead's conversion found by its click alias is the order the postback names: a lead
/// made it, and it has no order id, the same one, or the postback's `eid` is our click ID itself
/// (not an order id).
pub fn is_lead_twin(twin: &Conversion, decision: &Decision) -> bool {
    let made_by_lead = twin.history.first().map(|e| e.source) == Some(HistorySource::Lead);
    let order = decision.transaction_id.as_deref();
    let same_order = match twin.transaction_id.as_deref() {
        None => true,
        Some(known) => Some(known) == order || order == decision.click_id.as_deref(),
    };
    made_by_lead && same_order
}

/// The id of the conversion a postback would create under the lead's order id, when the lead's
/// own conversion is keyed by its click (`None`: no order id, or keyed by it already).
pub fn lead_twin(integration_id: &str, lead: &Lead, keyed_by: IdentitySource) -> Option<String> {
    let order = lead.network_order_id.as_deref()?;
    (keyed_by == IdentitySource::Click).then(|| {
        conversion_id(&lead_identity(
            integration_id,
            IdentitySource::Transaction,
            order,
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalogue::Catalogue;
    use crate::clickid::{ClickId, ClickKey, LabelHandle};

    const OFFER: &str = "01J9ZQ5ZK6F3H2M8N4P7R1S0TV";

    fn key() -> ClickKey {
        ClickKey::new(b"0123456789abcdef0123456789abcdef").unwrap()
    }

    fn postback(query: &str) -> Decision {
        let network = Catalogue::embedded().network("webvork").unwrap();
        let params: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        crate::postback::interpret(network, "INT", &params, &key()).unwrap()
    }

    fn click() -> String {
        ClickId::mint(&key(), OFFER, LabelHandle::NONE, 1_760_000_000, [1; 8]).unwrap()
    }

    fn lead_conversion(click: &str, order: Option<&str>) -> Conversion {
        let mut d = postback(&format!("oid={click}&status=new"));
        d.transaction_id = order.map(str::to_owned);
        let mut c = Conversion::create("INT", "webvork", &d, None, chrono::Utc::now());
        c.history[0].source = HistorySource::Lead;
        c
    }

    #[test]
    fn a_postback_with_eid_and_our_click_looks_for_the_clicks_lead() {
        let click = click();
        let both = postback(&format!("oid={click}&eid=G-1&status=approve"));
        let alias = postback_click_alias("INT", &both).unwrap();
        let by_click = postback(&format!("oid={click}&status=approve"));
        assert_eq!(alias, format!("lead:{}", conversion_id(&by_click.identity)));
        assert_eq!(alias, click_alias("INT", &click));
        assert_ne!(click_alias("OTHER", &click), alias);
        // Keyed by the click already, or no click of ours: nothing to look for.
        assert_eq!(postback_click_alias("INT", &by_click), None);
        let foreign = postback("oid=x&eid=G-1&status=new");
        assert_eq!(postback_click_alias("INT", &foreign), None);
        let no_click = postback("eid=G-1&status=new");
        assert_eq!(postback_click_alias("INT", &no_click), None);
    }

    #[test]
    fn only_a_lead_conversion_of_the_same_order_is_a_twin() {
        let click = click();
        let both = postback(&format!("oid={click}&eid=G-1&status=approve"));
        assert!(is_lead_twin(&lead_conversion(&click, Some("G-1")), &both));
        assert!(is_lead_twin(&lead_conversion(&click, None), &both));
        assert!(!is_lead_twin(&lead_conversion(&click, Some("G-2")), &both));
        let mut from_postback = lead_conversion(&click, None);
        from_postback.history[0].source = HistorySource::Postback;
        assert!(!is_lead_twin(&from_postback, &both));
    }

    #[test]
    fn a_lead_with_an_order_id_looks_for_the_postback_conversion() {
        let click = click();
        let mut lead: Lead = serde_json::from_value(serde_json::json!({
            "id": "ld_1", "integration_id": "INT", "network": "webvork", "offer_id": OFFER,
            "message_id": "", "creative_id": "", "click_id": click, "status": "sent",
            "contact": null, "country": "PL", "network_order_id": "G-1", "attempts": 1,
            "open": true, "created_at": "2025-10-01T00:00:00Z", "updated_at": "2025-10-01T00:00:00Z"
        }))
        .unwrap();
        let by_eid = postback("eid=G-1&status=approve");
        assert_eq!(
            lead_twin("INT", &lead, IdentitySource::Click),
            Some(conversion_id(&by_eid.identity))
        );
        assert_eq!(lead_twin("INT", &lead, IdentitySource::Transaction), None);
        lead.network_order_id = None;
        assert_eq!(lead_twin("INT", &lead, IdentitySource::Click), None);
    }
}
