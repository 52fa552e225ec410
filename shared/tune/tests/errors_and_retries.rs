//! Every error shape, retries, timeouts, transport failures, the SSRF guard end to end and the
//! read-only Test Query, against the mock TUNE server (127.0.0.1 only).

use affnet_tune::guard::{HostLookup, LookupFuture};
use affnet_tune::mock::{AFFILIATE_KEY, MockTune, NETWORK_TOKEN, fixtures};
use affnet_tune::{ErrorKind, Mode, Params, RetryPolicy, TuneClient, TuneConfig, TuneError};
use serde_json::json;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use wiremock::ResponseTemplate;

const FIND_ALL: Option<(&str, &str)> = Some(("Offer", "findAll"));

async fn find_all(client: &TuneClient) -> Result<serde_json::Value, TuneError> {
    client
        .call("Offer", "findAll", &Params::new().limit(1).page(1))
        .await
}

/// Fails unless the error text and Debug form are free of both mock keys.
fn assert_no_secret(err: &TuneError) {
    let shown = format!("{err} | {err:?}");
    assert!(!shown.contains(NETWORK_TOKEN), "{shown}");
    assert!(!shown.contains(AFFILIATE_KEY), "{shown}");
}

async fn error_for(body: serde_json::Value) -> TuneError {
    let tune = MockTune::start().await;
    tune.mount_body(None, body, None).await;
    let client = TuneClient::new(tune.config(Mode::Network)).unwrap();
    let err = find_all(&client).await.unwrap_err();
    assert_no_secret(&err);
    err
}

#[tokio::test]
async fn in_band_error_shapes_are_classified() {
    let cases = [
        (fixtures::api_disabled_error(), ErrorKind::ApiDisabled),
        (
            fixtures::ip_not_whitelisted_error(),
            ErrorKind::IpNotWhitelisted,
        ),
        (fixtures::bad_api_key_error(), ErrorKind::BadCredentials),
        (
            fixtures::network_id_invalid_error(),
            ErrorKind::WrongNetworkId,
        ),
        (fixtures::error("Row id is negative"), ErrorKind::Api),
        (
            fixtures::legacy_error("API access disabled"),
            ErrorKind::ApiDisabled,
        ),
        (
            fixtures::top_level_error("Unsupported output format in URL"),
            ErrorKind::Api,
        ),
    ];
    for (body, kind) in cases {
        let err = error_for(body.clone()).await;
        assert_eq!(err.kind(), kind, "{body}");
    }
    let err = error_for(fixtures::error("Row id is negative")).await;
    assert_eq!(err.tune_message(), Some("Row id is negative"));
    assert_eq!(err.to_string(), "TUNE error: Row id is negative");
}

#[tokio::test]
async fn bad_network_token_is_reported_without_the_token() {
    let tune = MockTune::start().await;
    tune.mount_offers(Mode::Network, vec![]).await;
    let wrong = "NETwrongtoken0000000000000000";
    let mut config = tune.config(Mode::Network);
    config.api_key = wrong.into();
    let client = TuneClient::new(config).unwrap();
    let err = find_all(&client).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BadCredentials);
    assert_eq!(
        err.tune_message(),
        Some("NetworkToken *** is not authenticated")
    );
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains(wrong));
    // Not retried: one request only.
    assert_eq!(tune.requests().await.len(), 1);
}

#[tokio::test]
async fn bad_affiliate_key_and_wrong_network_id() {
    let tune = MockTune::start().await;
    tune.mount_offers(Mode::Affiliate, vec![]).await;
    let mut config = tune.config(Mode::Affiliate);
    config.api_key = "f".repeat(64);
    let err = TuneClient::new(config)
        .unwrap()
        .test_connection()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BadCredentials);

    let mut config = tune.config(Mode::Affiliate);
    config.network_id = "othernet".into();
    let err = TuneClient::new(config)
        .unwrap()
        .test_connection()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::WrongNetworkId);
    assert_eq!(err.tune_message(), Some("Network id is not valid"));
}

#[tokio::test]
async fn rate_limit_then_success_is_retried_after_the_window() {
    let tune = MockTune::start().await;
    tune.mount_body(FIND_ALL, fixtures::rate_limit_error(), Some(1))
        .await;
    tune.mount_offers(Mode::Network, vec![fixtures::network_offer_row(1)])
        .await;
    let mut retry = affnet_tune::mock::fast_retry();
    retry.rate_limit_delay = Duration::from_millis(300);
    let client = TuneClient::new(tune.config(Mode::Network).with_retry(retry)).unwrap();
    let started = Instant::now();
    let data = find_all(&client).await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "waited the rate-limit delay"
    );
    assert_eq!(data["count"], 1);
    assert_eq!(tune.requests().await.len(), 2);
}

#[tokio::test]
async fn persistent_rate_limit_gives_up_after_bounded_retries() {
    let tune = MockTune::start().await;
    tune.mount_body(None, fixtures::rate_limit_error(), None)
        .await;
    let client = TuneClient::new(tune.config(Mode::Network)).unwrap();
    let err = find_all(&client).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::RateLimited);
    assert_eq!(err.tune_message(), Some(fixtures::RATE_LIMIT_MESSAGE));
    assert_eq!(tune.requests().await.len(), 3, "1 try + 2 retries");
}

#[tokio::test]
async fn server_error_then_success() {
    let tune = MockTune::start().await;
    tune.mount_status(FIND_ALL, 502, Some(2)).await;
    tune.mount_offers(Mode::Network, vec![fixtures::network_offer_row(1)])
        .await;
    let client = TuneClient::new(tune.config(Mode::Network)).unwrap();
    assert!(find_all(&client).await.is_ok());
    assert_eq!(tune.requests().await.len(), 3);

    let tune = MockTune::start().await;
    tune.mount_status(None, 503, None).await;
    let client = TuneClient::new(tune.config(Mode::Network)).unwrap();
    assert_eq!(
        find_all(&client).await.unwrap_err(),
        TuneError::ServerError { status: 503 }
    );
    assert_eq!(tune.requests().await.len(), 3);
}

#[tokio::test]
async fn other_http_statuses_and_malformed_bodies() {
    let tune = MockTune::start().await;
    tune.mount_status(None, 403, None).await;
    let client = TuneClient::new(tune.config(Mode::Network)).unwrap();
    assert_eq!(
        find_all(&client).await.unwrap_err(),
        TuneError::HttpStatus { status: 403 }
    );
    assert_eq!(tune.requests().await.len(), 1, "not retried");

    let tune = MockTune::start().await;
    let html = ResponseTemplate::new(200).set_body_raw("<html>maintenance</html>", "text/html");
    tune.mount_template(None, html, None).await;
    let client = TuneClient::new(tune.config(Mode::Network)).unwrap();
    assert_eq!(
        find_all(&client).await.unwrap_err().kind(),
        ErrorKind::Malformed
    );

    let tune = MockTune::start().await;
    tune.mount_body(
        None,
        json!({"response": {"status": 1, "data": "x".repeat(2000)}}),
        None,
    )
    .await;
    let client = TuneClient::new(tune.config(Mode::Network).with_max_response_bytes(1000)).unwrap();
    let err = find_all(&client).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Malformed);
    assert!(err.to_string().contains("larger than 1000 bytes"));
}

#[tokio::test]
async fn slow_answers_time_out() {
    let tune = MockTune::start().await;
    let body = fixtures::success(fixtures::empty_page());
    // 10 s late: a wide gap between the 200 ms cut and the answer, so a loaded machine
    // cannot blur the two.
    tune.mount_delayed(None, body, Duration::from_secs(10), None)
        .await;
    let config = tune
        .config(Mode::Network)
        .with_timeout_ms(200)
        .with_retry(RetryPolicy::none());
    let client = TuneClient::new(config).unwrap();
    let started = Instant::now();
    let err = find_all(&client).await.unwrap_err();
    assert_eq!(err, TuneError::Timeout { timeout_ms: 200 });
    assert_eq!(err.to_string(), "TUNE did not answer within 200 ms");
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn slow_then_fast_succeeds_on_retry() {
    let tune = MockTune::start().await;
    let body = fixtures::success(fixtures::empty_page());
    tune.mount_delayed(FIND_ALL, body.clone(), Duration::from_secs(3), Some(1))
        .await;
    tune.mount_body(FIND_ALL, body, None).await;
    let client = TuneClient::new(tune.config(Mode::Network).with_timeout_ms(300)).unwrap();
    assert!(find_all(&client).await.is_ok());
    assert_eq!(tune.requests().await.len(), 2);
}

#[tokio::test]
async fn connection_refused_is_a_connect_error() {
    // Bind then drop a listener to get a port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = TuneConfig::new(Mode::Network, "demo", NETWORK_TOKEN)
        .with_api_domain(format!("http://127.0.0.1:{port}"))
        .with_allow_private_network(true)
        .with_retry(RetryPolicy::none());
    let err = find_all(&TuneClient::new(config).unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Connect, "{err}");
    assert_no_secret(&err);
}

#[tokio::test]
async fn tls_to_a_plain_http_server_is_a_tls_error() {
    let tune = MockTune::start().await;
    let https = tune.uri().replace("http://", "https://");
    let config = TuneConfig::new(Mode::Network, "demo", NETWORK_TOKEN)
        .with_api_domain(https)
        .with_allow_private_network(true)
        .with_retry(RetryPolicy::none());
    let err = find_all(&TuneClient::new(config).unwrap())
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Tls, "{err}");
    assert_no_secret(&err);
}

/// Answers every lookup with fixed addresses, or fails like NXDOMAIN.
struct FakeDns(Option<Vec<IpAddr>>);

impl HostLookup for FakeDns {
    fn lookup(&self, _host: &str) -> LookupFuture {
        let answer = self.0.clone();
        Box::pin(async move {
            answer.ok_or_else(|| {
                std::io::Error::other(
                    "failed to lookup address information: Name or service not known",
                )
            })
        })
    }
}

fn strict_client(dns: FakeDns) -> TuneClient {
    let config = TuneConfig::new(Mode::Network, "demo", NETWORK_TOKEN)
        .with_api_domain("api.hasoffers.example")
        .with_timeout_ms(2_000)
        .with_retry(RetryPolicy::none())
        .with_lookup(Arc::new(dns));
    TuneClient::new(config).unwrap()
}

#[tokio::test]
async fn dns_failure_is_reported_as_dns() {
    let err = find_all(&strict_client(FakeDns(None))).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Dns, "{err}");
    assert!(err.to_string().contains("demo.api.hasoffers.example"));
}

#[tokio::test]
async fn rebinding_to_private_addresses_is_refused() {
    let answers: [&[&str]; 4] = [
        &["127.0.0.1"],
        &["169.254.169.254"],
        &["::ffff:10.0.0.1"],
        // One public address does not excuse a private one.
        &["203.0.114.1", "192.168.0.10"],
    ];
    for ips in answers {
        let ips: Vec<IpAddr> = ips.iter().map(|s| s.parse().unwrap()).collect();
        let err = find_all(&strict_client(FakeDns(Some(ips.clone()))))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AddressRefused, "{ips:?}: {err}");
        assert_no_secret(&err);
    }
}

#[tokio::test]
async fn strict_mode_refuses_private_base_urls() {
    let tune = MockTune::start().await;
    let config = tune.config(Mode::Network).with_allow_private_network(false);
    assert_eq!(
        TuneClient::new(config).unwrap_err().kind(),
        ErrorKind::InvalidConfig
    );
}

#[tokio::test]
async fn read_only_test_query() {
    let tune = MockTune::start().await;
    tune.mount_offers(
        Mode::Network,
        (1..=3).map(fixtures::network_offer_row).collect(),
    )
    .await;
    let client = TuneClient::new(tune.config(Mode::Network)).unwrap();
    let data = client
        .call_read_only(
            "Offer",
            "findAll",
            json!({"fields": ["id", "name"], "filters": {"status": "active"}, "limit": 2}),
        )
        .await
        .unwrap();
    assert_eq!(data["count"], 3);
    assert_eq!(data["pageCount"], 2);
    let q = &tune.request_queries().await[0];
    assert!(q.contains(&("fields[]".into(), "name".into())));
    assert!(q.contains(&("filters[status]".into(), "active".into())));

    for (t, m) in [
        ("Offer", "create"),
        ("Affiliate_Offer", "generateTrackingLink"),
        ("Offer", "setPayout"),
    ] {
        let err = client.call_read_only(t, m, json!({})).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotReadOnly);
    }
    for params in [
        json!({"NetworkToken": "x"}),
        json!({"Method": {"x": "delete"}}),
        json!({"api key": "x"}),
    ] {
        let err = client
            .call_read_only("Offer", "findAll", params)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidConfig);
    }
    assert_eq!(
        tune.requests().await.len(),
        1,
        "refused calls never reach TUNE"
    );
}

#[tokio::test]
async fn request_echo_is_never_returned() {
    let tune = MockTune::start().await;
    tune.mount_offers(Mode::Network, vec![fixtures::network_offer_row(1)])
        .await;
    let client = TuneClient::new(tune.config(Mode::Network)).unwrap();
    let data = client
        .call_read_only("Offer", "findAll", json!({}))
        .await
        .unwrap();
    assert!(!data.to_string().contains(NETWORK_TOKEN));
    assert!(data.get("1").is_some(), "unpaged rows keyed by id: {data}");
}
