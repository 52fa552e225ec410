//! Click and report cases, written once and run on every store: each test file calls
//! [`click_suite!`] with an async expression giving a fresh `Arc<dyn ItemStore>`.
//!
//! Every case drives the real router over that store, wrapped to count and to fail on demand.

pub mod clicks;
pub mod reports;

use crate::support::call;
use affnet_app::{AppState, Config, router};
use affnet_store::counting::CountingStore;
use affnet_store::faults::FaultyStore;
use affnet_store::{ItemStore, Key};
use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;
use tower::ServiceExt;

/// Expands to one `#[tokio::test]` per case, each on a fresh store from `$factory`.
#[macro_export]
macro_rules! click_suite {
    ($factory:expr) => {
        $crate::click_suite!(@cases $factory;
            clicks::redirects_with_a_signed_click_id,
            clicks::click_ids_are_64_characters_whatever_the_labels,
            clicks::a_new_pair_costs_one_read_and_no_extra_write,
            clicks::stores_the_click_with_its_expiry,
            clicks::honours_the_configured_ttl,
            clicks::counts_clicks_per_dimension,
            clicks::unknown_and_paused_offers_are_404,
            clicks::bad_parameters_are_400_and_store_nothing,
            clicks::no_open_redirect,
            clicks::concurrent_clicks_are_all_counted,
            reports::clicks_sum_across_days_and_values,
            reports::from_and_to_are_honoured,
            reports::conversions_appear_by_status_and_revenue,
            reports::default_range_ends_today,
            reports::bad_queries_are_400,
        );
    };
    (@cases $factory:expr; $($module:ident :: $case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let store: std::sync::Arc<dyn affnet_store::ItemStore> = $factory.await;
                click_cases::$module::$case(store).await;
            }
        )*
    };
}

pub const TRACKING_PREFIX: &str =
    "https://demo.go2cloud.org/aff_c?offer_id=26&aff_id=4706&aff_click_id=";

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub json: Value,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The click ID in a redirect to a [`TRACKING_PREFIX`] URL.
    pub fn click_id(&self) -> String {
        let location = self.header("location").expect("a Location header");
        location
            .strip_prefix(TRACKING_PREFIX)
            .unwrap_or_else(|| panic!("unexpected Location {location}"))
            .to_string()
    }
}

pub struct Env {
    pub router: Router,
    pub state: AppState,
    pub counting: Arc<CountingStore>,
    /// Read by the fault tests of `clicks_api` only (not by the suite's cases).
    #[allow(dead_code)]
    pub faults: Arc<FaultyStore>,
    pub integration: String,
}

impl Env {
    pub async fn new(store: Arc<dyn ItemStore>) -> Env {
        Env::with_config(store, Config::for_tests()).await
    }

    pub async fn with_config(store: Arc<dyn ItemStore>, config: Config) -> Env {
        let faults = Arc::new(FaultyStore::new(store));
        let counting = Arc::new(CountingStore::new(faults.clone()));
        let state = AppState::new(counting.clone(), config);
        let router = router::local(state.clone());
        let created = call(&router, "POST", "/integrations", Some(json!({"network": "tune", "name": "T", "credentials": {"api_key": "k"}, "settings": {"network_id": "demo"}}))).await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
        Env {
            router,
            state,
            counting,
            faults,
            integration: created.json["id"].as_str().unwrap().into(),
        }
    }

    /// A new active offer with a [`TRACKING_PREFIX`] tracking URL; returns its id.
    pub async fn offer(&self, name: &str) -> String {
        let body = json!({
            "integration_id": self.integration,
            "name": name,
            "tracking_url": format!("{TRACKING_PREFIX}{{click_id}}"),
            "payout": "12.50",
            "currency": "USD",
            "payout_type": "cpa_flat",
        });
        let created = call(&self.router, "POST", "/offers", Some(body)).await;
        assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
        created.json["id"].as_str().unwrap().into()
    }

    pub async fn get(&self, uri: &str, headers: &[(&str, &str)]) -> Reply {
        let mut builder = Request::builder().method("GET").uri(uri);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let mut request = builder.body(Body::empty()).unwrap();
        let peer: SocketAddr = "203.0.113.7:50123".parse().unwrap();
        request.extensions_mut().insert(ConnectInfo(peer));
        self.send(request).await
    }

    pub async fn send(&self, request: Request<Body>) -> Reply {
        let response = self.router.clone().oneshot(request).await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        Reply {
            status,
            headers,
            json: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        }
    }

    /// A click on `offer` with `query`; asserts the redirect and returns the click ID.
    pub async fn click(&self, offer: &str, query: &str) -> String {
        let reply = self.get(&format!("/c/{offer}?{query}"), &[]).await;
        assert_eq!(reply.status, StatusCode::FOUND, "{}", reply.json);
        reply.click_id()
    }

    /// A counter of a stored item (zero when the item or the counter is absent).
    pub async fn counter(&self, key: &Key, name: &str) -> i64 {
        use rust_decimal::prelude::ToPrimitive;
        let item = self.state.repo.items().get(key).await.unwrap();
        item.and_then(|i| i.counters.get(name).and_then(|d| d.to_i64()))
            .unwrap_or(0)
    }

    pub async fn report(&self, query: &str) -> Value {
        let reply = call(&self.router, "GET", &format!("/reports?{query}"), None).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
        reply.json
    }
}
