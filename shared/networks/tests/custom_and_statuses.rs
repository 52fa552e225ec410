//! LeadRock's two steps and `sign`, TerraLeads' `check_sum` and envelope; status loading by ids
//! (WebVork, MonsterLeads, TerraLeads) and by pages of a window (WhoCPA, Traffic Light,
//! LimonAD); connection tests; the SSRF guard on every adapter.

mod support;

use affnet_networks::{LeadRef, SendOutcome, TestOutcome, adapter, spec};
use serde_json::{Value, json};
use sha1::{Digest, Sha1};
use std::time::Duration;
use support::*;
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

fn sha1_hex(text: &str) -> String {
    hex::encode(Sha1::digest(text.as_bytes()))
}

#[tokio::test]
async fn leadrock_takes_a_track_id_then_signs_the_form() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/URL-77B0D-B345B"))
        .and(query_param("ajax", "1"))
        .respond_with(ResponseTemplate::new(200).set_body_string("track-0042"))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v2/lead/save"))
        .respond_with(ResponseTemplate::new(200).set_body_string(r#"{"data":{"id":555}}"#))
        .mount(&server)
        .await;
    let api = spec::of("leadrock").unwrap();
    let creds = credentials(&[("key", KEY), ("secret", SECRET)]);
    let uri = server.uri();
    let flow = format!("{uri}/URL-77B0D-B345B");
    let lead = lead(&[("leadrock", flow.as_str())]);
    let exchange = adapter(api)
        .send_lead(api, &account(&creds, &uri, 2_000), &lead)
        .await
        .unwrap();
    assert_eq!(
        exchange.result,
        SendOutcome::Sent {
            order_id: Some("555".into())
        }
    );
    let got = requests(&server).await;
    assert_eq!(got.len(), 2);
    let track = query(&got[0]);
    assert!(
        track.contains(&("sub1".into(), CLICK.into()))
            && track.contains(&("api_key".into(), KEY.into()))
    );
    let form = body(&got[1]);
    let field = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    assert_eq!(field("track_id").as_deref(), Some("track-0042"));
    assert_eq!(field("user_phone").as_deref(), Some("+491512345678"));
    assert_eq!(field("flow_url"), Some(flow.clone()));
    // sign = sha1(the form before `sign`, as sent, + secret)
    let raw = String::from_utf8(got[1].body.clone()).unwrap();
    let (unsigned, sign) = raw.rsplit_once("&sign=").unwrap();
    assert_eq!(sign, sha1_hex(&format!("{unsigned}{SECRET}")));
    assert!(!exchange.reply.contains(SECRET));

    // A flow URL on another host is refused before anything is sent.
    let elsewhere = support::lead(&[("leadrock", "http://evil.example/URL-1")]);
    let err = adapter(api)
        .send_lead(api, &account(&creds, &uri, 2_000), &elsewhere)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("params.leadrock"));
}

#[tokio::test]
async fn terraleads_signs_the_json_body_with_its_key() {
    let server = network(200, r#"{"status":"ok","data":{"id":901}}"#, Duration::ZERO).await;
    let api = spec::of("terraleads").unwrap();
    let creds = credentials(&[("user_id", USER), ("api_key", KEY)]);
    let uri = server.uri();
    let exchange = adapter(api)
        .send_lead(
            api,
            &account(&creds, &uri, 2_000),
            &lead(&[("terra", "1502")]),
        )
        .await
        .unwrap();
    assert_eq!(
        exchange.result,
        SendOutcome::Sent {
            order_id: Some("901".into())
        }
    );
    let got = requests(&server).await;
    assert_eq!(got[0].url.path(), "/api/lead/create");
    let raw = String::from_utf8(got[0].body.clone()).unwrap();
    let sum = query(&got[0])
        .into_iter()
        .find(|(k, _)| k == "check_sum")
        .unwrap()
        .1;
    assert_eq!(sum, sha1_hex(&format!("{raw}{KEY}")));
    let json: Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(json["user_id"], json!(7731));
    assert_eq!(json["data"]["offer_id"], "1502");
    assert_eq!(json["data"]["sub_id"], CLICK);

    // An IP the network does not know: refused, said to be an IP whitelist matter.
    let server = network(
        200,
        r#"{"status":"error","error":"IP 1.2.3.4 is not allowed"}"#,
        Duration::ZERO,
    )
    .await;
    let uri = server.uri();
    let test = adapter(api)
        .test_connection(api, &account(&creds, &uri, 2_000))
        .await
        .unwrap();
    match test.result {
        TestOutcome::Authentication { detail, fix } => {
            assert!(detail.contains("not allowed"));
            assert!(fix.contains("IP whitelist"));
        }
        other => panic!("{other:?}"),
    }
}

/// How a LeadRock or TerraLeads reply reads, for every kind of answer.
fn kind(outcome: &SendOutcome) -> String {
    match outcome {
        SendOutcome::Sent { .. } => "sent".into(),
        SendOutcome::Duplicate { .. } => "duplicate".into(),
        SendOutcome::Rejected { .. } => "rejected".into(),
        SendOutcome::Retry { kind, .. } => format!("retry {}", kind.as_str()),
    }
}

#[tokio::test]
async fn leadrock_duplicates_refusals_and_failures() {
    let api = spec::of("leadrock").unwrap();
    let creds = credentials(&[("key", KEY), ("secret", SECRET)]);
    // (the flow URL's status and body, the save call's status, body and delay in ms, the kind)
    type Case<'a> = ((u16, &'a str), (u16, &'a str, u64), &'a str);
    let cases: &[Case] = &[
        (
            (200, "t-1"),
            (400, r#"{"message":"Duplicate lead"}"#, 0),
            "duplicate",
        ),
        (
            (200, "t-1"),
            (400, r#"{"message":"Phone is invalid"}"#, 0),
            "rejected",
        ),
        (
            (200, "t-1"),
            (401, r#"{"message":"bad api_key"}"#, 0),
            "retry authentication",
        ),
        ((200, "t-1"), (502, "bad gateway", 0), "retry server"),
        (
            (200, "t-1"),
            (200, r#"{"data":{"id":1}}"#, 1_500),
            "retry timeout",
        ),
        // The first step fails: nothing is saved.
        (
            (503, "busy"),
            (200, r#"{"data":{"id":1}}"#, 0),
            "retry server",
        ),
        ((200, ""), (200, r#"{"data":{"id":1}}"#, 0), "retry server"),
    ];
    for ((track_status, track_body), (status, body, delay), want) in cases {
        let server = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path("/URL-1"))
            .respond_with(ResponseTemplate::new(*track_status).set_body_string(*track_body))
            .mount(&server)
            .await;
        Mock::given(method("POST"))
            .and(path("/api/v2/lead/save"))
            .respond_with(
                ResponseTemplate::new(*status)
                    .set_body_string(*body)
                    .set_delay(Duration::from_millis(*delay)),
            )
            .mount(&server)
            .await;
        let uri = server.uri();
        let flow = format!("{uri}/URL-1");
        let got = adapter(api)
            .send_lead(
                api,
                &account(&creds, &uri, 500),
                &lead(&[("leadrock", &flow)]),
            )
            .await
            .unwrap()
            .result;
        assert_eq!(
            kind(&got),
            *want,
            "{track_status} {track_body:?} / {status} {body}: {got:?}"
        );
        let saves = requests(&server)
            .await
            .iter()
            .filter(|r| r.method.as_str() == "POST")
            .count();
        assert_eq!(
            saves,
            usize::from(*track_status == 200 && !track_body.is_empty())
        );
    }
}

#[tokio::test]
async fn terraleads_duplicates_refusals_and_failures() {
    let api = spec::of("terraleads").unwrap();
    let creds = credentials(&[("user_id", USER), ("api_key", KEY)]);
    let cases: &[(u16, &str, u64, &str)] = &[
        (
            200,
            r#"{"status":"error","error":"Duplicate lead"}"#,
            0,
            "duplicate",
        ),
        (
            200,
            r#"{"status":"error","error":"Invalid phone"}"#,
            0,
            "rejected",
        ),
        // A field's refusal whose text merely holds "ip" is not an auth error.
        (
            200,
            r#"{"status":"error","error":"Invalid description"}"#,
            0,
            "rejected",
        ),
        (
            200,
            r#"{"status":"error","error":"Wrong check_sum"}"#,
            0,
            "retry authentication",
        ),
        (
            200,
            r#"{"status":"error","error":"IP 1.2.3.4 is not allowed"}"#,
            0,
            "retry authentication",
        ),
        (500, "oops", 0, "retry server"),
        (429, "slow down", 0, "retry rate_limited"),
        (
            200,
            r#"{"status":"ok","data":{"id":1}}"#,
            1_500,
            "retry timeout",
        ),
    ];
    for (status, body, delay, want) in cases {
        let server = network(*status, body, Duration::from_millis(*delay)).await;
        let uri = server.uri();
        let got = adapter(api)
            .send_lead(
                api,
                &account(&creds, &uri, 500),
                &lead(&[("terra", "1502")]),
            )
            .await
            .unwrap()
            .result;
        assert_eq!(kind(&got), *want, "{status} {body}: {got:?}");
    }
}

fn refs(ids: &[(&str, &str)]) -> Vec<LeadRef> {
    ids.iter()
        .map(|(order, click)| LeadRef {
            order_id: Some(order.to_string()),
            click_id: click.to_string(),
        })
        .collect()
}

#[tokio::test]
async fn webvork_statuses_are_asked_by_guid_in_batches() {
    let reply = r#"[{"guid":"G1","status":"confirmed","money":9,"currency":"EUR"},{"guid":"G2","status":"rejected","money":4,"currency":"EUR"}]"#;
    let server = network(200, reply, Duration::ZERO).await;
    let api = spec::of("webvork").unwrap();
    let creds = credentials(&[("api_key", KEY)]);
    let uri = server.uri();
    let leads: Vec<LeadRef> = (0..150)
        .map(|i| LeadRef {
            order_id: Some(format!("G{i}")),
            click_id: format!("c{i}"),
        })
        .collect();
    let report = adapter(api)
        .load_statuses(
            api,
            &account(&creds, &uri, 2_000),
            &leads,
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    assert_eq!(report.requests, 2, "100 per request");
    let got = requests(&server).await;
    let guids: Vec<String> = query(&got[0])
        .into_iter()
        .filter(|(k, _)| k == "guids[]")
        .map(|(_, v)| v)
        .collect();
    assert_eq!(guids.len(), 100);
    assert_eq!(got[0].url.path(), "/v1/get-lead-status");
    assert!(query(&got[0]).contains(&("token".into(), KEY.into())));
    let first = &report.statuses[0];
    assert_eq!(
        (first.id.as_str(), first.raw_status.as_str()),
        ("G1", "confirmed")
    );
    assert_eq!(first.payout, Some("9".parse().unwrap()));
    assert_eq!(first.currency.as_deref(), Some("EUR"));
}

#[tokio::test]
async fn monsterleads_lists_hashes_joined() {
    let reply = r#"{"status":"ok","data":[{"lead_hash":"h1","status_name":"approved"},{"lead_hash":"h2","status_name":"aborted","cancel_reason":5}]}"#;
    let server = network(200, reply, Duration::ZERO).await;
    let api = spec::of("monsterleads").unwrap();
    let creds = credentials(&[("api_key", KEY)]);
    let uri = server.uri();
    let report = adapter(api)
        .load_statuses(
            api,
            &account(&creds, &uri, 2_000),
            &refs(&[("h1", "a"), ("h2", "b")]),
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    let got = requests(&server).await;
    let q = query(&got[0]);
    assert!(q.contains(&("lead_list".into(), "h1,h2".into())));
    assert!(q.contains(&("search_by".into(), "hash".into())));
    assert_eq!(report.statuses.len(), 2);
    assert_eq!(report.statuses[1].raw_status, "aborted");
}

#[tokio::test]
async fn terraleads_statuses_are_asked_one_signed_request_per_lead() {
    let server = network(
        200,
        r#"{"status":"ok","data":{"id":7,"status":"confirm"}}"#,
        Duration::ZERO,
    )
    .await;
    let api = spec::of("terraleads").unwrap();
    let creds = credentials(&[("user_id", USER), ("api_key", KEY)]);
    let uri = server.uri();
    let report = adapter(api)
        .load_statuses(
            api,
            &account(&creds, &uri, 2_000),
            &refs(&[("7", "a"), ("8", "b")]),
            chrono::Utc::now(),
        )
        .await
        .unwrap();
    assert_eq!(report.requests, 2);
    let got = requests(&server).await;
    let raw = String::from_utf8(got[1].body.clone()).unwrap();
    assert_eq!(
        serde_json::from_str::<Value>(&raw).unwrap()["data"]["id"],
        "8"
    );
    let sum = query(&got[1])
        .into_iter()
        .find(|(k, _)| k == "check_sum")
        .unwrap()
        .1;
    assert_eq!(sum, sha1_hex(&format!("{raw}{KEY}")));
    assert_eq!(report.statuses[0].raw_status, "confirm");
}

/// A window-mode network: page 1 full, page 2 short, no page 3.
async fn paged(
    api_slug: &str,
    items_path: &str,
    item: fn(usize) -> Value,
    per_page_param: &str,
) -> (affnet_networks::StatusReport, Vec<wiremock::Request>) {
    let server = MockServer::start().await;
    let wrap = |list: Vec<Value>| {
        if items_path.is_empty() {
            json!(list)
        } else {
            json!({ items_path: list })
        }
    };
    Mock::given(query_param("page", "1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(wrap((0..100).map(item).collect())))
        .mount(&server)
        .await;
    Mock::given(query_param("page", "2"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(wrap((100..130).map(item).collect())),
        )
        .mount(&server)
        .await;
    let api = spec::of(api_slug).unwrap();
    let creds = credentials(&[("user_id", USER), ("api_key", KEY)]);
    let uri = server.uri();
    let since = "2026-10-01T00:00:00Z".parse().unwrap();
    let report = adapter(api)
        .load_statuses(api, &account(&creds, &uri, 2_000), &[], since)
        .await
        .unwrap();
    let got = requests(&server).await;
    assert!(
        query(&got[0]).contains(&(per_page_param.into(), "100".into())),
        "{api_slug}"
    );
    (report, got)
}

#[tokio::test]
async fn window_networks_page_until_a_short_page() {
    let (report, got) = paged(
        "whocpa",
        "data",
        |i| json!({"id": i, "subid1": format!("c{i}"), "status": 1, "money": "2.5"}),
        "per_page",
    )
    .await;
    assert_eq!(
        (report.requests, report.statuses.len()),
        (2, 130),
        "{:?}",
        report.errors
    );
    assert_eq!(report.statuses[0].raw_status, "1");
    assert!(query(&got[0]).contains(&("d_created_from".into(), "2026-10-01".into())));
    assert!(query(&got[0]).contains(&("api_key".into(), KEY.into())));
    assert_eq!(got[0].url.path(), "/api/lead/");

    let (report, got) = paged(
        "cpatl",
        "",
        |i| json!({"id": i, "sub1": format!("c{i}"), "status": 2}),
        "limit",
    )
    .await;
    assert_eq!(report.statuses.len(), 130, "{:?}", report.errors);
    assert_eq!(got[0].url.path(), "/api/lead/feed");
    assert!(query(&got[0]).contains(&("key".into(), KEY.into())));

    let (report, got) = paged(
        "limonad",
        "data",
        |i| json!({"clickid": format!("c{i}"), "status": "approve"}),
        "limit",
    )
    .await;
    assert_eq!(report.statuses.len(), 130, "{:?}", report.errors);
    assert_eq!(header(&got[0], "x-token").as_deref(), Some(KEY));
}

#[tokio::test(start_paused = true)]
async fn requests_are_paced_to_the_network_rate_limit() {
    // LimonAD: 100 a minute, so one every 600 ms.
    let mut pace =
        affnet_networks::generic::Pace::new(spec::of("limonad").unwrap().requests_per_minute);
    let started = tokio::time::Instant::now();
    for _ in 0..5 {
        pace.wait().await;
    }
    assert_eq!(started.elapsed(), Duration::from_millis(4 * 600));
}

#[tokio::test]
async fn connection_tests_read_only_and_report_the_network_words() {
    // Every network whose read-only call is data (TerraLeads and OmniCPA sign theirs: their
    // own tests).
    let slugs: Vec<&str> = spec::all()
        .iter()
        .filter(|a| a.test.is_some() && a.adapter == spec::Adapter::Generic)
        .map(|a| a.slug.as_str())
        .collect();
    assert_eq!(slugs.len(), 11, "{slugs:?}");
    for slug in slugs {
        let api = spec::of(slug).unwrap();
        let creds = credentials(&[("user_id", USER), ("api_key", KEY)]);
        let server = network(200, r#"{"status":"ok","data":[]}"#, Duration::ZERO).await;
        let uri = server.uri();
        let test = adapter(api)
            .test_connection(api, &account(&creds, &uri, 2_000))
            .await
            .unwrap();
        assert!(
            matches!(test.result, TestOutcome::Ok { .. }),
            "{slug}: {:?}",
            test.result
        );
        let got = requests(&server).await;
        assert_eq!(got.len(), 1);
        // The key went with it (query, header or body).
        let carried = query(&got[0]).iter().any(|(_, v)| v == KEY)
            || got[0]
                .headers
                .values()
                .any(|v| v.to_str().is_ok_and(|v| v.contains(KEY)))
            || body(&got[0]).iter().any(|(_, v)| v == KEY);
        assert!(carried, "{slug}: the key is sent");
        // Not the lead call: another path, or (Shakes) another route parameter.
        if let Some(send) = api.send.as_ref() {
            let route =
                |q: &[(String, String)]| q.iter().find(|(k, _)| k == "r").map(|(_, v)| v.clone());
            let send_route = send
                .query
                .get("r")
                .map(|r| r.trim_start_matches("const:").to_string());
            assert_ne!(
                (got[0].url.path().to_string(), route(&query(&got[0]))),
                (send.path.clone(), send_route),
                "{slug}: a test never creates a lead"
            );
        }

        let server = network(403, r#"{"message":"wrong token"}"#, Duration::ZERO).await;
        let uri = server.uri();
        let test = adapter(api)
            .test_connection(api, &account(&creds, &uri, 2_000))
            .await
            .unwrap();
        match test.result {
            TestOutcome::Authentication { detail, .. } => {
                assert!(detail.contains("wrong token"), "{slug}")
            }
            other => panic!("{slug}: {other:?}"),
        }
        let server = network(502, "bad gateway", Duration::ZERO).await;
        let uri = server.uri();
        let test = adapter(api)
            .test_connection(api, &account(&creds, &uri, 2_000))
            .await
            .unwrap();
        assert!(
            matches!(test.result, TestOutcome::Connection { .. }),
            "{slug}"
        );
    }
}

#[tokio::test]
async fn the_ssrf_guard_covers_every_adapter() {
    let creds = credentials(&[
        ("user_id", USER),
        ("api_key", KEY),
        ("key", KEY),
        ("secret", SECRET),
    ]);
    for api in spec::all().iter().filter(|a| a.send.is_some()) {
        for target in [
            "http://127.0.0.1:9",
            "http://169.254.169.254",
            "http://[::1]:9",
            "http://10.0.0.1",
        ] {
            let mut account = account(&creds, target, 500);
            account.allow_private = false;
            let params: Vec<(String, String)> = affnet_networks::params_needed(api)
                .into_iter()
                .map(|p| (p.clone(), format!("{target}/URL-1")))
                .collect();
            let params: Vec<(&str, &str)> = params
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect();
            let result = adapter(api).send_lead(api, &account, &lead(&params)).await;
            assert!(result.is_err(), "{}: {target} must be refused", api.slug);
        }
        // A host name that resolves to loopback is refused when connecting.
        let mut account = account(&creds, "http://localhost:9", 500);
        account.allow_private = false;
        let params: Vec<(String, String)> = affnet_networks::params_needed(api)
            .into_iter()
            .map(|p| (p, "http://localhost:9/URL-1".to_string()))
            .collect();
        let params: Vec<(&str, &str)> = params
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let exchange = adapter(api)
            .send_lead(api, &account, &lead(&params))
            .await
            .unwrap();
        assert!(
            matches!(
                exchange.result,
                SendOutcome::Retry {
                    kind: affnet_networks::Transient::Connection,
                    ..
                }
            ),
            "{}: {:?}",
            api.slug,
            exchange.result
        );
    }
}

#[test]
fn coverage_and_grades() {
    let send = spec::all().iter().filter(|a| a.send.is_some()).count();
    let statuses: Vec<&str> = spec::all()
        .iter()
        .filter(|a| a.statuses.is_some())
        .map(|a| a.slug.as_str())
        .collect();
    // Every network whose lead API the reference documents (grades D, V, C: 29) sends, but
    // MarketCall, whose public affiliate API has no lead call (it pays for calls).
    let documented: Vec<&str> = spec::all()
        .iter()
        .filter(|a| matches!(a.grade, spec::Grade::D | spec::Grade::V | spec::Grade::C))
        .map(|a| a.slug.as_str())
        .collect();
    assert_eq!(documented.len(), 29, "{documented:?}");
    for api in spec::all()
        .iter()
        .filter(|a| documented.contains(&a.slug.as_str()))
    {
        match api.slug.as_str() {
            "marketcall" => assert!(api.send.is_none() && api.no_send.is_some()),
            slug => assert!(api.send.is_some(), "{slug} sends leads"),
        }
    }
    assert_eq!(send, 28, "{send} networks send leads");
    for slug in [
        "whocpa",
        "webvork",
        "monsterleads",
        "terraleads",
        "cpatl",
        "limonad",
    ] {
        assert!(statuses.contains(&slug), "{slug} loads statuses");
    }
    assert_eq!(affnet_networks::capabilities("zcpa").grade, "P");
    assert_eq!(affnet_networks::capabilities("apileads").grade, "—");
    assert_eq!(affnet_networks::capabilities("whocpa").grade, "D");
}

/// A connection test's detail and a status run's errors hold no form of a credential the
/// network echoed (as is, JSON-escaped, percent-encoded, HTML-escaped).
#[tokio::test]
async fn test_details_and_status_errors_never_hold_a_credential() {
    let creds = odd_credentials(&[("user_id", USER), ("api_key", KEY)]);
    for body in echo_replies(&creds) {
        for slug in ["kma", "webvork", "whocpa", "terraleads", "monsterleads"] {
            let api = spec::of(slug).unwrap();
            for status in [403, 502] {
                let server = network(status, &body, Duration::ZERO).await;
                let uri = server.uri();
                let test = adapter(api)
                    .test_connection(api, &account(&creds, &uri, 2_000))
                    .await
                    .unwrap();
                let what = format!("{slug} test HTTP {status}");
                assert_masked(&format!("{:?} {}", test.result, test.reply), &creds, &what);
                if let TestOutcome::Authentication { detail, .. } = &test.result {
                    assert!(detail.contains("***"), "{what}: {detail}");
                }
            }
            if api.statuses.is_none() {
                continue;
            }
            let server = network(500, &body, Duration::ZERO).await;
            let uri = server.uri();
            let report = adapter(api)
                .load_statuses(
                    api,
                    &account(&creds, &uri, 2_000),
                    &refs(&[("7", "a")]),
                    chrono::Utc::now(),
                )
                .await
                .unwrap();
            let what = format!("{slug} statuses");
            assert!(!report.errors.is_empty(), "{what}");
            assert_masked(&report.errors.join("\n"), &creds, &what);
        }
    }
}
