//! Offer paging, advertisers, tracking links and the connection test against the mock TUNE server.

use affnet_tune::mock::{AFFILIATE_KEY, MockTune, NETWORK_TOKEN, fixtures};
use affnet_tune::{Mode, OfferPage, OfferQuery, TuneClient, TuneError};
use futures::{StreamExt, TryStreamExt};
use rust_decimal::Decimal;
use std::str::FromStr;

async fn collect(client: &TuneClient, query: OfferQuery) -> Result<Vec<OfferPage>, TuneError> {
    client.offer_pages(query).try_collect().await
}

#[tokio::test]
async fn network_offers_page_by_page() {
    let tune = MockTune::start().await;
    tune.mount_offers(
        Mode::Network,
        (1..=7).map(fixtures::network_offer_row).collect(),
    )
    .await;
    let client = TuneClient::new(tune.config(Mode::Network)).unwrap();

    let pages = collect(&client, OfferQuery::default().with_limit(3))
        .await
        .unwrap();
    let summary: Vec<(u32, u32, u64, usize)> = pages
        .iter()
        .map(|p| (p.page, p.page_count, p.count, p.offers.len()))
        .collect();
    assert_eq!(summary, [(1, 3, 7, 3), (2, 3, 7, 3), (3, 3, 7, 1)]);
    let ids: Vec<&str> = pages
        .iter()
        .flat_map(|p| p.offers.iter().map(|o| o.remote_id.as_str()))
        .collect();
    assert_eq!(ids, ["1", "2", "3", "4", "5", "6", "7"]);

    let o = &pages[0].offers[1];
    assert_eq!(o.name, "Offer 2");
    assert_eq!(o.default_payout, Decimal::from_str("3.005").unwrap());
    assert_eq!(o.currency.as_deref(), Some("EUR"));
    assert_eq!(o.advertiser_id.as_deref(), Some("102"));
    assert_eq!(
        o.offer_url.as_deref(),
        Some("https://adv.example/click?o=2&tid={transaction_id}")
    );
    assert_eq!(o.payout_type, "cpa_flat");
    assert_eq!(pages[0].offers[0].currency, None);

    // Exactly one request per page, with the documented parameters.
    let queries = tune.request_queries().await;
    assert_eq!(queries.len(), 3);
    for (i, q) in queries.iter().enumerate() {
        let has = |k: &str, v: &str| q.iter().any(|(qk, qv)| qk == k && qv == v);
        assert!(has("NetworkToken", NETWORK_TOKEN));
        assert!(has("NetworkId", "demo"));
        assert!(has("Target", "Offer") && has("Method", "findAll"));
        assert!(has("limit", "3") && has("sort[id]", "asc"));
        assert!(has("page", &(i + 1).to_string()));
        assert!(!q.iter().any(|(k, _)| k == "api_key"));
    }
}

#[tokio::test]
async fn default_limit_is_500_and_status_filter_is_sent() {
    let tune = MockTune::start().await;
    let mut rows: Vec<_> = (1..=4).map(fixtures::network_offer_row).collect();
    rows[1]["Offer"]["status"] = "paused".into();
    rows[2]["Offer"]["status"] = "deleted".into();
    tune.mount_offers(Mode::Network, rows).await;
    let client = TuneClient::new(tune.config(Mode::Network)).unwrap();

    let pages = collect(
        &client,
        OfferQuery::default().with_statuses(["active", "paused"]),
    )
    .await
    .unwrap();
    assert_eq!(pages.len(), 1);
    let statuses: Vec<_> = pages[0].offers.iter().map(|o| o.status.as_str()).collect();
    assert_eq!(statuses, ["active", "paused", "active"]);
    let q = &tune.request_queries().await[0];
    assert!(q.contains(&("limit".into(), "500".into())));
    assert!(q.contains(&("filters[status][]".into(), "active".into())));
    assert!(q.contains(&("filters[status][]".into(), "paused".into())));
}

#[tokio::test]
async fn affiliate_offers_use_find_my_approved_offers() {
    let tune = MockTune::start().await;
    tune.mount_offers(
        Mode::Affiliate,
        (10..=14).map(fixtures::affiliate_offer_row).collect(),
    )
    .await;
    let client = TuneClient::new(tune.config(Mode::Affiliate)).unwrap();

    let pages = collect(&client, OfferQuery::default().with_limit(2))
        .await
        .unwrap();
    assert_eq!(pages.len(), 3);
    let o = &pages[0].offers[0];
    assert_eq!(o.remote_id, "10");
    assert_eq!(o.approval_status.as_deref(), Some("approved"));
    assert_eq!(o.percent_payout, Some(Decimal::from_str("10").unwrap()));
    assert_eq!(o.default_payout, Decimal::from_str("2.5").unwrap());
    assert_eq!(
        (o.offer_url.clone(), o.expiration_date.clone()),
        (None, None)
    );
    let q = &tune.request_queries().await[0];
    assert!(q.contains(&("api_key".into(), AFFILIATE_KEY.into())));
    assert!(q.contains(&("Method".into(), "findMyApprovedOffers".into())));
}

#[tokio::test]
async fn empty_page_ends_the_stream() {
    let tune = MockTune::start().await;
    tune.mount_offers(Mode::Network, Vec::new()).await;
    let client = TuneClient::new(tune.config(Mode::Network)).unwrap();
    let pages = collect(&client, OfferQuery::default()).await.unwrap();
    assert_eq!(pages.len(), 1);
    assert_eq!((pages[0].count, pages[0].page_count), (0, 0));
    assert!(pages[0].offers.is_empty());

    // A literal `data: []` page from a fixture.
    let tune = MockTune::start().await;
    tune.mount_body(None, fixtures::success(fixtures::empty_page()), None)
        .await;
    let client = TuneClient::new(tune.config(Mode::Network)).unwrap();
    let pages = collect(&client, OfferQuery::default()).await.unwrap();
    assert_eq!(pages.len(), 1);
    assert_eq!(tune.requests().await.len(), 1);
}

#[tokio::test]
async fn a_failing_page_ends_the_stream_with_the_error() {
    let tune = MockTune::start().await;
    tune.mount_offers(
        Mode::Network,
        (1..=6).map(fixtures::network_offer_row).collect(),
    )
    .await;
    let client = TuneClient::new(
        tune.config(Mode::Network)
            .with_retry(affnet_tune::RetryPolicy::none()),
    )
    .unwrap();
    let mut stream = Box::pin(client.offer_pages(OfferQuery::default().with_limit(2)));
    assert_eq!(stream.next().await.unwrap().unwrap().page, 1);
    // From now on, the API is disabled.
    tune.server().reset().await;
    tune.mount_body(None, fixtures::api_disabled_error(), None)
        .await;
    let err = stream.next().await.unwrap().unwrap_err();
    assert_eq!(err.kind(), affnet_tune::ErrorKind::ApiDisabled);
    assert!(stream.next().await.is_none());
}

#[tokio::test]
async fn legacy_envelope_and_string_page_numbers() {
    let tune = MockTune::start().await;
    let rows = [fixtures::network_offer_row(5)];
    let mut data = fixtures::paged(1, 1, 1, &rows);
    data["page"] = "1".into();
    data["pageCount"] = "1".into();
    data["count"] = "1".into();
    tune.mount_body(None, fixtures::legacy_success(data), None)
        .await;
    let client = TuneClient::new(tune.config(Mode::Network)).unwrap();
    let pages = collect(&client, OfferQuery::default()).await.unwrap();
    assert_eq!(pages.len(), 1);
    assert_eq!(pages[0].offers[0].remote_id, "5");
}

#[tokio::test]
async fn advertiser_names_and_fill() {
    let tune = MockTune::start().await;
    tune.mount_advertisers(&[("100", "ACME"), ("101", "Globex"), ("102", "Initech")])
        .await;
    tune.mount_offers(Mode::Network, vec![fixtures::network_offer_row(1)])
        .await;
    let client = TuneClient::new(tune.config(Mode::Network)).unwrap();
    let names = client.advertiser_names().await.unwrap();
    assert_eq!(names.len(), 3);
    let q = &tune.request_queries().await[0];
    assert!(q.contains(&("fields[]".into(), "id".into())));
    assert!(q.contains(&("fields[]".into(), "company".into())));

    let mut pages = collect(&client, OfferQuery::default()).await.unwrap();
    let offer = &mut pages[0].offers[0];
    offer.fill_advertiser_name(&names);
    assert_eq!(offer.advertiser_name.as_deref(), Some("Globex"));

    let affiliate = TuneClient::new(tune.config(Mode::Affiliate)).unwrap();
    assert_eq!(
        affiliate.advertiser_names().await.unwrap_err().kind(),
        affnet_tune::ErrorKind::WrongMode
    );
}

#[tokio::test]
async fn tracking_link_with_click_id_param() {
    let tune = MockTune::start().await;
    tune.mount_tracking_link().await;
    let client = TuneClient::new(tune.config(Mode::Affiliate)).unwrap();
    let link = client
        .generate_tracking_link("472", &[("aff_click_id", "{click_id}")])
        .await
        .unwrap();
    assert_eq!(
        link.click_url,
        "https://demo.go2cloud.org/aff_c?offer_id=472&aff_id=94&aff_click_id={click_id}"
    );
    assert_eq!(link.offer_id.as_deref(), Some("472"));
    let q = &tune.request_queries().await[0];
    assert!(q.contains(&("params[aff_click_id]".into(), "{click_id}".into())));
    assert!(q.contains(&("offer_id".into(), "472".into())));

    let network = TuneClient::new(tune.config(Mode::Network)).unwrap();
    assert!(network.generate_tracking_link("1", &[]).await.is_err());
}

#[tokio::test]
async fn connection_test_reports_offer_count() {
    let tune = MockTune::start().await;
    tune.mount_offers(
        Mode::Affiliate,
        (1..=9).map(fixtures::affiliate_offer_row).collect(),
    )
    .await;
    let client = TuneClient::new(tune.config(Mode::Affiliate)).unwrap();
    let info = client.test_connection().await.unwrap();
    assert_eq!(info.offer_count, 9);
    let q = &tune.request_queries().await[0];
    assert!(q.contains(&("limit".into(), "1".into())));
}
