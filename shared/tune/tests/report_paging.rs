//! The report methods against the mock TUNE server: TUNE's shapes (an array of `{"Stat": ...}`
//! rows, strings for numbers, `page`/`pageCount`), streamed page by page, and ranges split after
//! a 504.

use affnet_tune::mock::{MockTune, report_conversion, set_stat};
use affnet_tune::reports::{conversion_row, stats_row};
use affnet_tune::{ConversionRow, DateRange, ErrorKind, Mode, Report, ReportPage, TuneClient};
use futures::TryStreamExt;
use serde_json::Value;

fn day(s: &str) -> chrono::NaiveDate {
    s.parse().unwrap()
}

fn rows(days: &[&str], per_day: usize) -> Vec<Value> {
    let mut out = Vec::new();
    for d in days {
        for i in 0..per_day {
            out.push(report_conversion(
                &format!("102{d}{i:03}"),
                &format!("{d} 10:{i:02}:00"),
            ));
        }
    }
    out
}

async fn pages(
    client: &TuneClient,
    range: DateRange,
    limit: u32,
) -> Result<Vec<ReportPage<ConversionRow>>, affnet_tune::TuneError> {
    client
        .report_pages(Report::Conversions, range, limit, conversion_row)
        .try_collect()
        .await
}

#[tokio::test]
async fn conversion_pages_stream_in_order_with_the_asked_fields() {
    let tune = MockTune::start().await;
    let mut all = rows(&["2026-11-01", "2026-11-02"], 3);
    set_stat(
        &mut all[0],
        "ConversionsMobile",
        "affiliate_click_id",
        "CLICK1",
    );
    tune.mount_reports(Mode::Network, all).await;
    let client = TuneClient::new(tune.config(Mode::Network)).unwrap();
    let range = DateRange::new(day("2026-11-01"), day("2026-11-02"));
    let got = pages(&client, range, 4).await.unwrap();
    let summary: Vec<(u32, u32, u64, usize)> = got
        .iter()
        .map(|p| (p.page, p.page_count, p.count, p.rows.len()))
        .collect();
    assert_eq!(summary, [(1, 2, 6, 4), (2, 2, 6, 2)]);
    let first = &got[0].rows[0];
    assert_eq!(first.ad_id.as_deref(), Some("1022026-11-01000"));
    assert_eq!(first.click_id.as_deref(), Some("CLICK1"));
    assert_eq!(
        (first.payout.as_deref(), first.status.as_deref()),
        (Some("15.00000"), Some("approved"))
    );
    assert_eq!(first.datetime.as_deref(), Some("2026-11-01 10:00:00"));
    let queries = tune.request_queries().await;
    assert_eq!(queries.len(), 2);
    let has = |q: &Vec<(String, String)>, k: &str, v: &str| q.iter().any(|(a, b)| a == k && b == v);
    assert!(has(&queries[0], "Target", "Report") && has(&queries[0], "Method", "getConversions"));
    assert!(
        has(&queries[0], "fields[]", "Stat.ad_id")
            && has(
                &queries[0],
                "fields[]",
                "ConversionsMobile.affiliate_click_id"
            )
    );
    assert!(has(&queries[0], "sort[Stat.datetime]", "asc") && has(&queries[1], "page", "2"));
    // Only the days asked for.
    let one = pages(
        &client,
        DateRange::new(day("2026-11-02"), day("2026-11-02")),
        100,
    )
    .await
    .unwrap();
    assert_eq!(one[0].rows.len(), 3);
}

#[tokio::test]
async fn a_504_splits_the_range_until_tune_answers() {
    let tune = MockTune::start().await;
    let days = [
        "2026-11-01",
        "2026-11-02",
        "2026-11-03",
        "2026-11-04",
        "2026-11-05",
    ];
    let reports = tune.mount_reports(Mode::Affiliate, rows(&days, 2)).await;
    reports.set_max_days(Some(1));
    let client = TuneClient::new(tune.config(Mode::Affiliate)).unwrap();
    let range = DateRange::new(day("2026-11-01"), day("2026-11-05"));
    let got = pages(&client, range, 100).await.unwrap();
    let ranges: Vec<String> = got.iter().map(|p| p.range.to_string()).collect();
    assert_eq!(
        ranges,
        [
            "2026-11-01..2026-11-01",
            "2026-11-02..2026-11-02",
            "2026-11-03..2026-11-03",
            "2026-11-04..2026-11-04",
            "2026-11-05..2026-11-05"
        ]
    );
    let ids: Vec<String> = got
        .iter()
        .flat_map(|p| p.rows.iter().map(|r| r.ad_id.clone().unwrap()))
        .collect();
    assert_eq!(ids.len(), 10);
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "oldest first: {ids:?}");
    // 5 → 2 + 3 → (1 + 1) + (1 + 2) → ... : each 504 split once, none retried.
    let splits: u32 = got.iter().map(|p| p.splits).sum();
    assert_eq!(splits, 4);
    assert_eq!(tune.requests().await.len(), 5 + 4);
    // A single day TUNE cannot answer is an error (after the usual retries).
    reports.set_max_days(Some(0));
    let err = pages(
        &client,
        DateRange::new(day("2026-11-01"), day("2026-11-01")),
        100,
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ServerError);
}

#[tokio::test]
async fn stats_are_grouped_per_offer_day_and_currency() {
    let tune = MockTune::start().await;
    let mut all = rows(&["2026-11-01"], 3);
    set_stat(&mut all[2], "Stat", "conversion_status", "rejected");
    set_stat(&mut all[1], "Stat", "payout", "2.50000");
    tune.mount_reports(Mode::Network, all).await;
    let client = TuneClient::new(tune.config(Mode::Network)).unwrap();
    let range = DateRange::new(day("2026-11-01"), day("2026-11-01"));
    let got: Vec<ReportPage<affnet_tune::StatsRow>> = client
        .report_pages(Report::Stats, range, 100, stats_row)
        .try_collect()
        .await
        .unwrap();
    let row = &got[0].rows[0];
    assert_eq!(
        (
            row.offer_id.as_deref(),
            row.date.as_deref(),
            row.currency.as_deref()
        ),
        (Some("26"), Some("2026-11-01"), Some("USD"))
    );
    assert_eq!(
        (row.conversions.as_deref(), row.payout.as_deref()),
        (Some("2"), Some("17.50000"))
    );
}

#[tokio::test]
async fn report_errors_keep_the_key_out() {
    let tune = MockTune::start().await;
    tune.mount_reports(Mode::Network, Vec::new()).await;
    let mut config = tune.config(Mode::Network);
    config.api_key = "NETwrongwrongwrongwrongwrong00".into();
    let client = TuneClient::new(config).unwrap();
    let err = pages(
        &client,
        DateRange::new(day("2026-11-01"), day("2026-11-02")),
        10,
    )
    .await
    .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BadCredentials);
    assert!(!format!("{err} {err:?}").contains("NETwrongwrong"));
    let empty = {
        let client = TuneClient::new(tune.config(Mode::Network)).unwrap();
        pages(
            &client,
            DateRange::new(day("2026-11-01"), day("2026-11-02")),
            10,
        )
        .await
        .unwrap()
    };
    assert_eq!(
        (empty.len(), empty[0].rows.len(), empty[0].page_count),
        (1, 0, 0)
    );
}
