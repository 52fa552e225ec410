//! A sent lead becomes a conversion in `pending`, created through the same atomic write as a
//! postback's; statuses loaded from the network change it through the same status machine, so
//! a status arriving by postback and by poll is applied once.

use crate::retry;
use crate::state::AppState;
use affnet_core::clickid::ClickClaims;
use affnet_core::conversion::{Applied, HistorySource, conversion_id};
use affnet_core::lead::Lead;
use affnet_core::lead::twin::{click_alias, lead_twin};
use affnet_core::postback::{ClickCheck, Decision, IdentitySource, StatusSource, lead_identity};
use affnet_core::{Conversion, Integration, Network, Status};
use affnet_store::RepoError;
use affnet_store::Write;
use affnet_store::conversions::{ConversionWrite, OtherNames};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

/// `sync: false` for the writes of a sending attempt: the lead's own update after them is
/// synced and confirms them (see `ItemStore::write_unsynced`).
fn write<'a>(state: &AppState, names: OtherNames<'a>, sync: bool) -> ConversionWrite<'a> {
    ConversionWrite {
        postback_log: None,
        click_ttl_secs: i64::from(state.config.click_ttl_days) * 86_400,
        names,
        sync,
        along: &[],
    }
}

/// The writes of the lead's own update, given the id of its conversion: made in the batch
/// that creates the conversion when they can, one commit for both.
pub type LeadUpdate<'a> = &'a (dyn Fn(&str) -> Result<Vec<Write>, RepoError> + Sync);

/// The sent lead's conversion, and whether the lead's update went in its batch.
pub struct Opened {
    pub id: String,
    pub lead_stored: bool,
}

impl Opened {
    fn alone(id: String) -> Opened {
        Opened {
            id,
            lead_stored: false,
        }
    }
}

/// Whether the network's postbacks name the conversion by its order id only (`eid=` and no
/// `oid=` in the catalogue's tails: MonadLead): the lead's conversion then takes that identity,
/// so the postback finds it.
fn keyed_by_order_id(network: &Network) -> bool {
    let tails = || network.postbacks.iter().map(|p| p.tail.as_str());
    tails().any(|t| t.contains("eid=")) && !tails().any(|t| t.contains("oid="))
}

fn decision(identity: String, source: IdentitySource, status: Status, raw: &str) -> Decision {
    Decision {
        identity,
        identity_source: source,
        click_id: None,
        click: ClickCheck::Absent,
        status,
        status_source: StatusSource::NetworkMap,
        raw_status: raw.to_string(),
        payout: None,
        currency: None,
        sale_amount: None,
        reason: None,
        duplicate: false,
        comment: None,
        transaction_id: None,
        goal_id: None,
        remote_offer_id: None,
        test: false,
        unsubstituted: Vec::new(),
    }
}

/// Creates the sent lead's conversion (pending, history source `lead`), with its click's lead
/// alias and its order id's id as aliases (see `affnet_core::lead::twin`); if a postback created
/// it first, under the lead's key or under its order id, that one stands. A new conversion's
/// batch carries `lead_update` (synced then); whenever that fails or cannot be, the
/// conversion is made alone (unsynced) and `lead_stored` is false: the caller stores the lead.
pub async fn open_conversion(
    state: &AppState,
    integration: &Integration,
    network: &Network,
    lead: &Lead,
    claims: ClickClaims,
    now: DateTime<Utc>,
    lead_update: LeadUpdate<'_>,
) -> Result<Opened, RepoError> {
    let (source, id) = match &lead.network_order_id {
        Some(eid) if keyed_by_order_id(network) => (IdentitySource::Transaction, eid.as_str()),
        _ => (IdentitySource::Click, lead.click_id.as_str()),
    };
    let mut d = decision(
        lead_identity(&integration.id, source, id),
        source,
        Status::Pending,
        "sent",
    );
    d.click_id = Some(lead.click_id.clone());
    d.click = ClickCheck::Verified(claims);
    d.transaction_id = lead.network_order_id.clone();
    let twin = lead_twin(&integration.id, lead, source);
    if let Some(twin) = twin.as_deref()
        && adopt(state, twin, &d, now).await?
    {
        return Ok(Opened::alone(twin.to_string()));
    }
    let mut conversion = Conversion::create(&integration.id, &integration.network, &d, None, now);
    if let Some(entry) = conversion.history.last_mut() {
        entry.source = HistorySource::Lead;
    }
    let click =
        (source == IdentitySource::Click).then(|| click_alias(&integration.id, &lead.click_id));
    let named = Named {
        conversion: &conversion,
        click_alias: click.as_deref(),
        twin: twin.as_deref(),
    };
    // Ours unless an earlier attempt or a postback made it: with the lead's update, once.
    let along = lead_update(&conversion.id)?;
    let aliases = named.aliases();
    let with = ConversionWrite {
        along: &along,
        ..write(state, named.names(&aliases), true)
    };
    match state.repo.create_conversion(&conversion, with).await {
        Ok(stored) => {
            return Ok(Opened {
                id: stored.id,
                lead_stored: true,
            });
        }
        Err(RepoError::Conflict) => {}
        Err(e) => return Err(e),
    }
    named.create(state, &d, now).await.map(Opened::alone)
}

/// A lead's new conversion and its other names.
struct Named<'a> {
    conversion: &'a Conversion,
    click_alias: Option<&'a str>,
    /// The id its order id gives.
    twin: Option<&'a str>,
}

impl<'a> Named<'a> {
    fn aliases(&self) -> Vec<&'a str> {
        self.click_alias.into_iter().chain(self.twin).collect()
    }

    /// Its names in a create: the twin must be no conversion, the aliases are made.
    fn names<'b>(&self, aliases: &'b [&'a str]) -> OtherNames<'b>
    where
        'a: 'b,
    {
        OtherNames {
            conversions_absent: match &self.twin {
                Some(_) => &aliases[aliases.len() - 1..],
                None => &[],
            },
            aliases_absent: &[],
            aliases,
        }
    }

    async fn create(
        &self,
        state: &AppState,
        lead: &Decision,
        now: DateTime<Utc>,
    ) -> Result<String, RepoError> {
        let aliases = self.aliases();
        let names = self.names(&aliases);
        let create = |names| {
            let with = write(state, names, false);
            state.repo.create_conversion(self.conversion, with)
        };
        let id = || self.conversion.id.clone();
        match create(names).await {
            Ok(stored) => return Ok(stored.id),
            Err(RepoError::Conflict) => {}
            Err(e) => return Err(e),
        }
        // Made by an earlier attempt of this lead, or by a postback naming our click ID only
        // (`oid`) before the network's reply came: give it the names it may lack, so a later
        // postback by `eid` finds it too.
        let exists = match self.twin {
            None => true,
            Some(_) => state
                .repo
                .get_conversion(&self.conversion.id)
                .await?
                .is_some(),
        };
        if exists {
            state
                .repo
                .name_conversion(&self.conversion.id, &aliases)
                .await?;
            return Ok(id());
        }
        let Some(twin) = self.twin else {
            return Ok(id());
        };
        // A postback created the order's conversion meanwhile.
        if adopt(state, twin, lead, now).await? {
            return Ok(twin.to_string());
        }
        // Another lead holds the order id as its alias: this one keeps its click's only.
        let names = OtherNames {
            aliases: &aliases[..aliases.len() - 1],
            ..OtherNames::default()
        };
        match create(names).await {
            Ok(stored) => Ok(stored.id),
            Err(RepoError::Conflict) => Ok(id()),
            Err(e) => Err(e),
        }
    }
}

/// Takes the conversion a postback made under the lead's order id as the lead's: attaches the
/// lead's click to it if it has none, and makes the id the lead's click gives (`lead.identity`)
/// lead to it, so a later postback naming our click ID only (`oid`) finds it. `false` when
/// there is none.
async fn adopt(
    state: &AppState,
    twin: &str,
    lead: &Decision,
    now: DateTime<Utc>,
) -> Result<bool, RepoError> {
    let by_click = conversion_id(&lead.identity);
    retry::on_conflict(|| async {
        let Some(current) = state.repo.get_conversion(twin).await? else {
            return Ok(false);
        };
        state.repo.name_conversion(twin, &[&by_click]).await?;
        let mut next = match current.apply(lead, None, now) {
            Applied::Changed(next, _) | Applied::Attributed(next) => next,
            Applied::Unchanged(_) => return Ok(true),
        };
        if next.history.len() > current.history.len()
            && let Some(entry) = next.history.last_mut()
        {
            entry.source = HistorySource::Lead;
        }
        state
            .repo
            .change_conversion(&current, &next, write(state, OtherNames::default(), false))
            .await?;
        Ok(true)
    })
    .await
}

/// A status the network's API reported, mapped to ours.
pub struct Loaded<'a> {
    pub status: Status,
    pub raw: &'a str,
    pub payout: Option<Decimal>,
    pub currency: Option<&'static str>,
}

/// What applying a loaded status did: `Some(final?)` when it changed the conversion.
pub async fn apply_loaded(
    state: &AppState,
    conversion_id: &str,
    loaded: &Loaded<'_>,
    now: DateTime<Utc>,
) -> Result<Option<Conversion>, RepoError> {
    retry::on_conflict(|| async {
        let Some(current) = state.repo.get_conversion(conversion_id).await? else {
            return Err(RepoError::NotFound);
        };
        let mut d = decision(
            current.identity.clone(),
            IdentitySource::Click,
            loaded.status,
            loaded.raw,
        );
        d.payout = loaded.payout;
        d.currency = loaded.currency;
        let currency = loaded.currency;
        let mut next = match current.apply(&d, currency, now) {
            Applied::Changed(next, _) => next,
            Applied::Unchanged(_) | Applied::Attributed(_) => return Ok(None),
        };
        if let Some(entry) = next.history.last_mut() {
            entry.source = HistorySource::Api;
        }
        let stored = state
            .repo
            .change_conversion(&current, &next, write(state, OtherNames::default(), true))
            .await?;
        Ok(Some(stored))
    })
    .await
}
