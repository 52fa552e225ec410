//! Postback test helpers: a router over a store wrapped to count and to fail on demand,
//! integrations made directly in the store, click IDs minted with the test key, and readers for
//! conversions and totals.
#![allow(dead_code)]

use crate::support::{Reply, call, send};
use affnet_app::{AppState, Config, router};
use affnet_core::Integration;
use affnet_core::clickid::{ClickId, Labels, v1};
use affnet_store::counting::CountingStore;
use affnet_store::faults::FaultyStore;
use affnet_store::totals::Dimension;
use affnet_store::{ItemStore, Key};
use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Request, StatusCode};
use chrono::{NaiveDate, Utc};
use rust_decimal::Decimal;
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

pub const PUBLIC_URL: &str = "https://track.example.com";
/// The offer our click IDs point at (a ULID).
pub const OFFER: &str = "01J9ZQ5ZK6F3H2M8N4P7R1S0TV";
pub const MESSAGE: &str = "spring-sale";
pub const CREATIVE: &str = "banner_300x250";

pub struct Pb {
    pub router: Router,
    pub state: AppState,
    pub faults: Arc<FaultyStore>,
    pub counting: Arc<CountingStore>,
}

pub fn config() -> Config {
    Config {
        public_url: Some(PUBLIC_URL.into()),
        ..Config::for_tests()
    }
}

impl Pb {
    pub fn new(store: Arc<dyn ItemStore>) -> Pb {
        Pb::with_config(store, config())
    }

    pub fn with_config(store: Arc<dyn ItemStore>, config: Config) -> Pb {
        Pb::with_config_and(store, config, |state| state)
    }

    /// As [`Pb::new`], with a scheduler (the default keeps no schedules).
    pub fn with_scheduler(
        store: Arc<dyn ItemStore>,
        scheduler: Arc<dyn affnet_app::schedule::SyncScheduler>,
    ) -> Pb {
        Pb::with_config_and(store, config(), |state| state.with_scheduler(scheduler))
    }

    fn with_config_and(
        store: Arc<dyn ItemStore>,
        config: Config,
        finish: impl FnOnce(AppState) -> AppState,
    ) -> Pb {
        let faults = Arc::new(FaultyStore::new(store));
        let counting = Arc::new(CountingStore::new(faults.clone()));
        let state = finish(AppState::new(counting.clone(), config));
        Pb {
            router: router::local(state.clone()),
            state,
            faults,
            counting,
        }
    }

    /// An integration of `network`, stored directly (the integrations API is tested elsewhere).
    pub async fn integration(&self, network: &str, settings: Value) -> Integration {
        let now = Utc::now();
        let mut s = Map::new();
        if network == "tune" {
            s.insert("default_currency".into(), json!("USD"));
        }
        for (k, v) in settings.as_object().cloned().unwrap_or_default() {
            s.insert(k, v);
        }
        let integration = Integration {
            id: affnet_core::ids::new_id(),
            network: network.into(),
            name: format!("{network} test"),
            active: true,
            timeout_ms: 10_000,
            settings: s,
            credentials: BTreeMap::new(),
            postback_token: affnet_core::ids::new_token(),
            created_at: now,
            updated_at: now,
            version: 0,
            typed: Default::default(),
        }
        .retype()
        .unwrap();
        self.state
            .repo
            .create_integration(&integration)
            .await
            .unwrap()
    }

    pub async fn get(&self, uri: &str) -> Reply {
        call(&self.router, "GET", uri, None).await
    }

    /// A request from `ip` (ConnectInfo, as the local server sets it).
    pub async fn get_from(&self, uri: &str, ip: Option<&str>) -> Reply {
        let mut request = Request::builder().uri(uri).body(Body::empty()).unwrap();
        if let Some(ip) = ip {
            let addr: SocketAddr = format!("{ip}:40000").parse().unwrap();
            request.extensions_mut().insert(ConnectInfo(addr));
        }
        send(&self.router, request).await
    }

    pub async fn post(&self, uri: &str, content_type: &str, body: impl Into<Body>) -> Reply {
        let request = Request::builder()
            .method("POST")
            .uri(uri)
            .header("content-type", content_type)
            .body(body.into())
            .unwrap();
        send(&self.router, request).await
    }

    /// `GET /postback/{id}?token=...&{query}`.
    pub async fn postback(&self, i: &Integration, query: &str) -> Reply {
        self.get(&format!(
            "/postback/{}?token={}&{query}",
            i.id, i.postback_token
        ))
        .await
    }

    /// `GET /api/sale/status.json?id={id}-{token}&{tail}`.
    pub async fn altercpa(&self, i: &Integration, tail: &str) -> Reply {
        self.get(&format!(
            "/api/sale/status.json?id={}-{}&{tail}",
            i.id, i.postback_token
        ))
        .await
    }

    pub async fn conversion(&self, id: &str) -> Value {
        let reply = self.get(&format!("/conversions/{id}")).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        reply.json
    }

    pub async fn conversions(&self, query: &str) -> Vec<Value> {
        let reply = self.get(&format!("/conversions?{query}")).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        reply.json["items"].as_array().unwrap().clone()
    }

    pub async fn logs(&self, i: &Integration) -> Vec<Value> {
        let reply = self
            .get(&format!("/integrations/{}/postbacks?limit=100", i.id))
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        reply.json["items"].as_array().unwrap().clone()
    }

    pub async fn counters(&self, key: &Key) -> BTreeMap<String, Decimal> {
        self.state
            .repo
            .items()
            .get(key)
            .await
            .unwrap()
            .map(|i| i.counters)
            .unwrap_or_default()
    }

    /// Today's counters of one value of `dimension`, summed over its shards.
    pub async fn totals(
        &self,
        dimension: Dimension,
        value: Option<&str>,
    ) -> BTreeMap<String, Decimal> {
        let totals = self.state.repo.value_totals(dimension, today(), value);
        totals.await.unwrap()
    }

    pub async fn day_totals(&self) -> BTreeMap<String, Decimal> {
        self.totals(Dimension::Day, None).await
    }

    pub async fn offer_totals(&self) -> BTreeMap<String, Decimal> {
        self.totals(Dimension::Offer, Some(OFFER)).await
    }
}

pub fn today() -> NaiveDate {
    Utc::now().date_naive()
}

/// A fresh click ID of ours on [`OFFER`] from [`MESSAGE`] and [`CREATIVE`], whose labels are
/// stored (and cached in `state`) as a click would have stored them.
pub async fn click(state: &AppState) -> String {
    let labels = Labels::new(MESSAGE, CREATIVE);
    let handle = affnet_app::click_labels::register(state, &labels)
        .await
        .expect("labels stored");
    ClickId::mint(
        &state.config.click_key,
        OFFER,
        handle,
        Utc::now().timestamp() as u64,
        random8(),
    )
    .unwrap()
}

/// A click ID as format 1 minted them before format 2: message and creative inside it.
pub fn click_v1(state: &AppState) -> String {
    let labels = Labels::new(MESSAGE, CREATIVE);
    let time = Utc::now().timestamp() as u64;
    v1::mint(&state.config.click_key, OFFER, &labels, time, random8()).unwrap()
}

fn random8() -> [u8; 8] {
    affnet_core::ids::random_hex(4)
        .bytes()
        .collect::<Vec<_>>()
        .try_into()
        .unwrap()
}

pub fn dec(s: &str) -> Decimal {
    s.parse().unwrap()
}

/// Non-zero counters only, as `name -> decimal string` for readable asserts.
pub fn nonzero(c: &BTreeMap<String, Decimal>) -> BTreeMap<String, String> {
    c.iter()
        .filter(|(_, v)| !v.is_zero())
        .map(|(k, v)| (k.clone(), v.normalize().to_string()))
        .collect()
}

pub fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
