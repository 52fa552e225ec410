//! The networks that need code besides data: LeadRock (two steps, `sign`) and TerraLeads
//! (`check_sum`, an envelope). Field names, replies and hosts still come from `apis.toml`.

use crate::generic::{LeadApi, Pace, exchange};
use crate::lead::{
    Account, Exchange, LeadFields, LeadRef, RemoteStatus, SendOutcome, StatusReport, TestOutcome,
};
use crate::reply::{at, classify_send, classify_test, text};
use crate::request::{Body, ConfigError, Prepared, base_url, credential, prepare, send};
use crate::spec::{Method, NetworkApi};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde_json::{Value, json};
use sha1::{Digest, Sha1};

fn sha1_hex(text: &str) -> String {
    hex::encode(Sha1::digest(text.as_bytes()))
}

/// LeadRock v2: `GET <flow url>?<fields>&ajax=1` answers the `track_id`; then
/// `POST /api/v2/lead/save` with the fields, `track_id` and
/// `sign = sha1(form-encoded fields + secret)`.
pub struct Leadrock;

impl Leadrock {
    /// The flow URL (offer parameter `leadrock`) must be on the API's host: it is user input.
    fn flow_url(
        api: &NetworkApi,
        account: &Account<'_>,
        lead: &LeadFields,
    ) -> Result<url::Url, ConfigError> {
        let raw = lead
            .params
            .get("leadrock")
            .ok_or_else(|| ConfigError("the offer has no `params.leadrock` flow URL".into()))?;
        let flow =
            url::Url::parse(raw).map_err(|e| ConfigError(format!("params.leadrock: {e}")))?;
        let call = api
            .send
            .as_ref()
            .ok_or_else(|| ConfigError("no lead API".into()))?;
        let base = base_url(api, call, account)?;
        if flow.host_str() != base.host_str()
            || flow.port_or_known_default() != base.port_or_known_default()
        {
            return Err(ConfigError(format!(
                "params.leadrock must be a flow URL on {} (like {}/URL-XXXXX-XXXXX)",
                base.host_str().unwrap_or_default(),
                base.as_str().trim_end_matches('/')
            )));
        }
        Ok(flow)
    }
}

#[async_trait]
impl LeadApi for Leadrock {
    async fn send_lead(
        &self,
        api: &NetworkApi,
        account: &Account<'_>,
        lead: &LeadFields,
    ) -> Result<Exchange<SendOutcome>, ConfigError> {
        let call = api
            .send
            .as_ref()
            .ok_or_else(|| ConfigError("no lead API".into()))?;
        let flow = Self::flow_url(api, account, lead)?;
        let base = base_url(api, call, account)?;
        let save = prepare(call, &base, Some(lead), account, &[])?;
        let Body::Form(mut fields) = save.body.clone() else {
            return Err(ConfigError("LeadRock sends a form".into()));
        };
        // Step 1: the flow URL answers the track id.
        let mut track_url = flow.clone();
        track_url
            .query_pairs_mut()
            .extend_pairs(fields.iter())
            .append_pair("ajax", "1");
        let track = Prepared {
            method: Method::Get,
            url: track_url,
            headers: vec![],
            body: Body::None,
        };
        let raw = send(&track, account).await;
        let track_id = raw.body.trim().to_string();
        let track_ok = raw.failure.is_none() && raw.status.is_some_and(|s| (200..300).contains(&s));
        if !track_ok || track_id.is_empty() || track_id.len() > 128 {
            let outcome = match classify_send(&call.reply, &raw) {
                SendOutcome::Sent { .. } => SendOutcome::Retry {
                    kind: crate::lead::Transient::Server,
                    message: "the flow URL gave no track_id".into(),
                },
                other => other,
            };
            return Ok(exchange(outcome, &raw, account));
        }
        fields.push(("track_id".into(), track_id));
        let signed = serde_urlencoded::to_string(&fields).unwrap_or_default();
        let secret = credential(account, "secret")?;
        fields.push(("sign".into(), sha1_hex(&format!("{signed}{secret}"))));
        let post = Prepared {
            body: Body::Form(fields),
            ..save
        };
        let raw = send(&post, account).await;
        Ok(exchange(classify_send(&call.reply, &raw), &raw, account))
    }
}

/// TerraLeads: `POST {base}/api/{model}/{method}?check_sum=sha1(body + api_key)` with the JSON
/// body `{"user_id": .., "data": {..}}`; the server's IP must be on the account's whitelist.
pub struct Terraleads;

impl Terraleads {
    fn signed(
        prepared: &Prepared,
        account: &Account<'_>,
        data: Value,
    ) -> Result<Prepared, ConfigError> {
        let user_id: Value = match credential(account, "user_id")?.parse::<u64>() {
            Ok(n) => json!(n),
            Err(_) => json!(credential(account, "user_id")?),
        };
        let body = json!({ "user_id": user_id, "data": data }).to_string();
        let sum = sha1_hex(&format!("{body}{}", credential(account, "api_key")?));
        let mut url = prepared.url.clone();
        url.query_pairs_mut().append_pair("check_sum", &sum);
        Ok(Prepared {
            method: Method::Post,
            url,
            headers: vec![],
            body: Body::Raw(body),
        })
    }

    fn data_of(prepared: &Prepared) -> Value {
        match &prepared.body {
            Body::Json(v) => v.clone(),
            _ => json!({}),
        }
    }
}

#[async_trait]
impl LeadApi for Terraleads {
    async fn send_lead(
        &self,
        api: &NetworkApi,
        account: &Account<'_>,
        lead: &LeadFields,
    ) -> Result<Exchange<SendOutcome>, ConfigError> {
        let call = api
            .send
            .as_ref()
            .ok_or_else(|| ConfigError("no lead API".into()))?;
        let base = base_url(api, call, account)?;
        let prepared = prepare(call, &base, Some(lead), account, &[])?;
        let request = Self::signed(&prepared, account, Self::data_of(&prepared))?;
        let raw = send(&request, account).await;
        Ok(exchange(classify_send(&call.reply, &raw), &raw, account))
    }

    async fn load_statuses(
        &self,
        api: &NetworkApi,
        account: &Account<'_>,
        leads: &[LeadRef],
        _since: DateTime<Utc>,
    ) -> Result<StatusReport, ConfigError> {
        let status = api
            .statuses
            .as_ref()
            .ok_or_else(|| ConfigError("no status API".into()))?;
        let base = base_url(api, &status.call, account)?;
        let mut report = StatusReport::default();
        let mut pace = Pace::new(api.requests_per_minute);
        for id in leads.iter().filter_map(|l| l.order_id.as_deref()) {
            let prepared = prepare(&status.call, &base, None, account, &[])?;
            let request = Self::signed(&prepared, account, json!({ "id": id }))?;
            pace.wait().await;
            let raw = send(&request, account).await;
            report.requests += 1;
            let json: Value = serde_json::from_str(&raw.body).unwrap_or(Value::Null);
            let item = at(&json, &status.items);
            let word = item.and_then(|i| text(at(i, &status.item_status)));
            match (raw.status, word) {
                (Some(200), Some(word)) => report.statuses.push(RemoteStatus {
                    id: id.to_string(),
                    raw_status: word,
                    payout: None,
                    currency: None,
                }),
                _ => report.errors.push(exchange((), &raw, account).reply),
            }
        }
        Ok(report)
    }

    async fn test_connection(
        &self,
        api: &NetworkApi,
        account: &Account<'_>,
    ) -> Result<Exchange<TestOutcome>, ConfigError> {
        let call = api
            .test
            .as_ref()
            .ok_or_else(|| ConfigError("no read-only call".into()))?;
        let base = base_url(api, call, account)?;
        let prepared = prepare(call, &base, None, account, &[])?;
        let request = Self::signed(&prepared, account, json!({}))?;
        let raw = send(&request, account).await;
        Ok(exchange(classify_test(&call.reply, &raw), &raw, account))
    }
}
