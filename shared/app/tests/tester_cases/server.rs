//! A real local server on a loopback port (every router, as `affnet-local` serves them, with its
//! own address recorded the way `affnet-local` records it) and a client speaking HTTP to it.

use affnet_app::{AppState, Config, router};
use affnet_store::ItemStore;
use affnet_store::counting::CountingStore;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;

pub struct Server {
    pub base: String,
    pub counting: Arc<CountingStore>,
    http: reqwest::Client,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub struct Reply {
    pub status: StatusCode,
    pub text: String,
    pub json: Value,
}

impl Server {
    /// A server that knows its own address (as `affnet-local` does once bound).
    pub async fn start(store: Arc<dyn ItemStore>) -> Server {
        Server::start_with(store, Config::for_tests(), true).await
    }

    pub async fn start_with(store: Arc<dyn ItemStore>, config: Config, own: bool) -> Server {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let counting = Arc::new(CountingStore::new(store));
        let mut state = AppState::new(counting.clone(), config);
        if own {
            state = state.with_own_address(addr);
        }
        let app = router::local(state).into_make_service_with_connect_info::<SocketAddr>();
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        let http = affnet_netguard::tls::client_builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .unwrap();
        Server {
            base: format!("http://{addr}"),
            counting,
            http,
            task,
        }
    }

    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Reply {
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        if let Some(body) = body {
            request = request.json(&body);
        }
        self.reply(request).await
    }

    /// A request with its own headers (a `Host` pointing elsewhere...).
    pub async fn post_with_host(&self, path: &str, host: &str) -> Reply {
        let request = self
            .http
            .post(format!("{}{path}", self.base))
            .header("host", host);
        self.reply(request).await
    }

    async fn reply(&self, request: reqwest::RequestBuilder) -> Reply {
        let response = request.send().await.unwrap();
        let status = response.status();
        let location = response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let text = response.text().await.unwrap();
        let mut json = serde_json::from_str(&text).unwrap_or(Value::Null);
        if let Some(location) = location {
            json = json!({ "location": location });
        }
        Reply { status, text, json }
    }

    pub async fn ok(&self, method: &str, path: &str, body: Option<Value>) -> Value {
        let r = self.call(method, path, body).await;
        assert!(
            r.status.is_success(),
            "{method} {path}: {} {}",
            r.status,
            r.text
        );
        r.json
    }

    /// An integration made through the API, and one active offer of it.
    pub async fn integration_with_offer(&self, network: &str, settings: Value) -> (Value, Value) {
        let integration = self.integration(network, settings).await;
        let offer = self.offer(&integration).await;
        (integration, offer)
    }

    /// An integration made through the API, every credential of its network set.
    pub async fn integration(&self, network: &str, settings: Value) -> Value {
        let entry = affnet_core::Catalogue::embedded().network(network).unwrap();
        let credentials: serde_json::Map<String, Value> = entry
            .credentials
            .iter()
            .map(|c| (c.key.clone(), json!(format!("{API_KEY}-{}", c.key))))
            .collect();
        let body = json!({"network": network, "name": format!("{network} tester"),
            "credentials": credentials, "settings": settings});
        self.ok("POST", "/integrations", Some(body)).await
    }

    /// An active offer, with every parameter its network's offers take.
    pub async fn offer(&self, integration: &Value) -> Value {
        let network = integration["network"].as_str().unwrap();
        let entry = affnet_core::Catalogue::embedded().network(network).unwrap();
        let params: serde_json::Map<String, Value> = entry
            .params
            .iter()
            .map(|p| (p.key.clone(), json!("f".repeat(p.length.unwrap_or(6)))))
            .collect();
        let body = json!({
            "integration_id": integration["id"],
            "name": "Keto Diet",
            "tracking_url": "https://offers.example/go?click={click_id}",
            "payout": "20.00",
            "currency": "EUR",
            "payout_type": "cpa_flat",
            "params": params,
        });
        self.ok("POST", "/offers", Some(body)).await
    }

    /// A real click on `offer` (the click route's redirect): its click ID.
    pub async fn click(&self, offer: &Value) -> String {
        let r = self
            .call(
                "GET",
                &format!("/c/{}?msg=spring", offer["id"].as_str().unwrap()),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::FOUND, "{}", r.text);
        let location = r.json["location"].as_str().unwrap();
        location.rsplit("click=").next().unwrap().to_string()
    }

    /// Today's reports by offer and by day (the day's totals hold unmatched conversions too).
    /// Today's only: a report reads every shard of every day in its range, slow on moto.
    pub async fn reports(&self) -> Value {
        let today = chrono::Utc::now().date_naive();
        let report = |group: &str| format!("/reports?group_by={group}&from={today}&to={today}");
        json!({
            "offer": self.ok("GET", &report("offer"), None).await,
            "day": self.ok("GET", &report("day"), None).await,
        })
    }

    /// Every event of `kind` in the feed, oldest first.
    pub async fn events(&self, kind: &str) -> Vec<Value> {
        let mut all = Vec::new();
        let mut after = String::new();
        loop {
            let page = self
                .ok(
                    "GET",
                    &format!("/events?limit=100&type={kind}{after}"),
                    None,
                )
                .await;
            let items = page["items"].as_array().unwrap().clone();
            if items.is_empty() {
                return all;
            }
            all.extend(items);
            after = format!("&after={}", page["next_cursor"].as_str().unwrap());
        }
    }

    pub async fn conversion_ids(&self, integration: &Value) -> Vec<String> {
        let id = integration["id"].as_str().unwrap();
        let page = self
            .ok(
                "GET",
                &format!("/conversions?integration={id}&limit=100"),
                None,
            )
            .await;
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_string())
            .collect()
    }
}

/// The credential every tester integration is made with: it must never come back.
pub const API_KEY: &str = "secret-api-key-0123456789";
