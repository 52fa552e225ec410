//! Per network: the exact request a lead becomes (method, path, auth, field names and values,
//! the offer parameters, the click ID in the sub-ID field), against a local mock speaking the
//! network's reply format; and the handling of success, duplicate, validation error, auth
//! error, 5xx and timeout.

mod support;

use affnet_networks::{SendOutcome, Transient, adapter, spec};
use std::time::Duration;
use support::*;

/// Where an expected value is: the query (`q`), the body (`b`, dotted for JSON) or a header (`h`).
type Expect = (&'static str, &'static str, &'static str);

struct Case {
    slug: &'static str,
    credentials: &'static [(&'static str, &'static str)],
    params: &'static [(&'static str, &'static str)],
    method: &'static str,
    path: &'static str,
    expect: &'static [Expect],
    /// A success reply and the order id it carries.
    ok: (u16, &'static str, Option<&'static str>),
    /// The network's duplicate answer, where it has a documented one.
    duplicate: Option<(u16, &'static str)>,
    /// A validation refusal.
    invalid: (u16, &'static str),
}

const C: &str = CLICK;

const CASES: &[Case] = &[
    Case {
        slug: "kma",
        credentials: &[("api_key", KEY)],
        params: &[("kma", "CH42")],
        method: "POST",
        path: "/lead/add",
        expect: &[
            ("h", "authorization", "Bearer KEY-s3cr3t-0001"),
            ("b", "channel", "CH42"),
            ("b", "name", "Anna Maria"),
            ("b", "phone", "+491512345678"),
            ("b", "country", "DE"),
            ("b", "ip", "93.159.233.130"),
            ("b", "referer", "https://landing.example/keto"),
            ("b", "ua", "Mozilla/5.0"),
            ("b", "data1", C),
        ],
        ok: (200, r#"{"code":0,"order":98765}"#, Some("98765")),
        duplicate: Some((200, r#"{"code":8,"message":"duplicate order"}"#)),
        invalid: (200, r#"{"code":3,"message":"invalid phone"}"#),
    },
    Case {
        slug: "adcombo",
        credentials: &[("api_key", KEY)],
        params: &[("adcombo", "1234")],
        method: "GET",
        path: "/api/v2/order/create/",
        expect: &[
            ("q", "api_key", KEY),
            ("q", "offer_id", "1234"),
            ("q", "name", "Anna Maria"),
            ("q", "phone", "+491512345678"),
            ("q", "country_code", "DE"),
            ("q", "price", "49.90"),
            ("q", "ip", "93.159.233.130"),
            ("q", "subacc", C),
            ("q", "quantity", "2"),
        ],
        ok: (
            200,
            r#"{"code":"ok","msg":"created","order_id":5551}"#,
            Some("5551"),
        ),
        duplicate: None,
        invalid: (200, r#"{"code":"error","error":"bad phone"}"#),
    },
    Case {
        slug: "aff1",
        credentials: &[("api_key", KEY)],
        params: &[("aff1", "th_abc")],
        method: "POST",
        path: "/v3/lead.create",
        expect: &[
            ("b", "api_key", KEY),
            ("b", "target_hash", "th_abc"),
            ("b", "country_code", "DE"),
            ("b", "name", "Anna Maria"),
            ("b", "phone", "+491512345678"),
            ("b", "clickid", C),
            ("b", "user_agent", "Mozilla/5.0"),
            ("b", "call_language", "de"),
        ],
        ok: (200, r#"{"status":"ok"}"#, None),
        duplicate: None,
        invalid: (422, r#"{"message":"phone is invalid"}"#),
    },
    Case {
        slug: "affbay",
        credentials: &[("api_key", KEY)],
        params: &[("affbay", "slimfit")],
        method: "POST",
        path: "/api/make/contact",
        expect: &[
            ("b", "token", KEY),
            ("b", "first_name", "Anna"),
            ("b", "last_name", "Maria"),
            ("b", "phone", "+491512345678"),
            ("b", "click_id", C),
            ("b", "product", "slimfit"),
        ],
        ok: (
            200,
            r#"{"status":"contact: 617 created", "id":"617"}"#,
            Some("617"),
        ),
        duplicate: Some((200, r#"{"status":"double phone"}"#)),
        invalid: (200, r#"{"status":"invalid phone format"}"#),
    },
    Case {
        slug: "cpagetti",
        credentials: &[("api_key", KEY)],
        params: &[("cgt", "88")],
        method: "POST",
        path: "/order/register",
        expect: &[
            ("b", "api_key", KEY),
            ("b", "offer_id", "88"),
            ("b", "country", "DE"),
            ("b", "lang", "de"),
            ("b", "sub1", C),
        ],
        ok: (200, r#"{"id":4411}"#, Some("4411")),
        duplicate: None,
        invalid: (200, "-3"),
    },
    Case {
        slug: "drcash",
        credentials: &[("api_key", KEY)],
        params: &[("drcash", "stream-xyz")],
        method: "POST",
        path: "/v1/order",
        expect: &[
            ("h", "authorization", "Bearer KEY-s3cr3t-0001"),
            ("b", "stream_code", "stream-xyz"),
            ("b", "client.name", "Anna Maria"),
            ("b", "client.phone", "+491512345678"),
            ("b", "client.country", "DE"),
            ("b", "client.email", "anna@example.com"),
            ("b", "sub1", C),
        ],
        ok: (200, r#"{"uuid":"a1b2"}"#, Some("a1b2")),
        duplicate: None,
        invalid: (400, r#"{"message":"phone is not valid"}"#),
    },
    Case {
        slug: "everad",
        credentials: &[],
        params: &[("everad", "301")],
        method: "POST",
        path: "/conversion/new",
        expect: &[
            ("b", "campaign_id", "301"),
            ("b", "name", "Anna Maria"),
            ("b", "phone", "+491512345678"),
            ("b", "sid1", C),
            ("b", "country_code", "DE"),
        ],
        ok: (200, "{}", None),
        duplicate: Some((400, r#"{"message":"Duplicate order"}"#)),
        invalid: (400, r#"{"message":"phone is invalid"}"#),
    },
    Case {
        slug: "rocketprofit",
        credentials: &[],
        params: &[("rocket", "77")],
        method: "POST",
        path: "/conversion/new",
        expect: &[
            ("b", "campaign_id", "77"),
            ("b", "sid1", C),
            ("b", "country_code", "DE"),
        ],
        ok: (200, "{}", None),
        duplicate: Some((400, r#"{"message":"duplicate"}"#)),
        invalid: (400, r#"{"message":"bad phone"}"#),
    },
    Case {
        slug: "ikon",
        credentials: &[("user_id", USER), ("api_key", KEY)],
        params: &[("ikon", "fh12")],
        method: "POST",
        path: "/v2/external/lead/accept",
        expect: &[
            ("b", "api_key", KEY),
            ("b", "flow_hash", "fh12"),
            ("b", "geo", "DE"),
            ("b", "sub1", C),
        ],
        ok: (200, r#"{"id":"ik-1"}"#, Some("ik-1")),
        duplicate: Some((409, r#"{"message":"duplicate lead"}"#)),
        invalid: (400, r#"{"message":"geo not allowed"}"#),
    },
    Case {
        slug: "leadbit",
        credentials: &[("api_key", KEY)],
        params: &[("leadbit", "AbCd"), ("leadsite", "keto.example")],
        method: "POST",
        path: "/api/pub/new-order/KEY-s3cr3t-0001",
        expect: &[
            ("b", "flow_hash", "AbCd"),
            ("b", "landing", "keto.example"),
            ("b", "phone", "+491512345678"),
            ("b", "name", "Anna Maria"),
            ("b", "country", "DE"),
            ("b", "email", "anna@example.com"),
            ("b", "sub1", C),
        ],
        ok: (200, r#"{"status":"success","id":"lb-9"}"#, Some("lb-9")),
        duplicate: Some((438, r#"{"status":"error","message":"duplicate"}"#)),
        invalid: (
            403,
            r#"{"status":"error","message":"invalid parameter: phone"}"#,
        ),
    },
    Case {
        slug: "leadtrade",
        credentials: &[("api_key", KEY)],
        params: &[("leadtrade", "hash1"), ("leadaim", "5")],
        method: "POST",
        path: "/api/send_lead",
        expect: &[
            ("b", "hash", "hash1"),
            ("b", "aim", "5"),
            ("b", "productsum", "49.90"),
            ("b", "subid1", C),
        ],
        ok: (200, r#"{"ok":true}"#, None),
        duplicate: None,
        invalid: (400, r#"{"message":"no such aim"}"#),
    },
    Case {
        slug: "leadreaktor",
        credentials: &[("api_key", KEY)],
        params: &[("leadreaktor", "31")],
        method: "POST",
        path: "/api/order/create.php",
        expect: &[
            ("q", "api_key", KEY),
            ("b", "msisdn", "491512345678"),
            ("b", "offer_id", "31"),
            ("b", "url_params[sub1]", C),
        ],
        ok: (200, r#"{"status_code":200,"order_id":"r-5"}"#, Some("r-5")),
        duplicate: None,
        invalid: (200, r#"{"status_code":422,"message":"msisdn invalid"}"#),
    },
    Case {
        slug: "limonad",
        credentials: &[("api_key", KEY)],
        params: &[("limonad", "501")],
        method: "POST",
        path: "/api/v3/lead/add",
        expect: &[
            ("h", "x-token", KEY),
            ("b", "phone", "+491512345678"),
            ("b", "name", "Anna Maria"),
            ("b", "offerId", "501"),
            ("b", "clickid", C),
        ],
        ok: (200, r#"{"leadid":70001}"#, Some("70001")),
        duplicate: Some((400, r#"{"message":"Duplicate lead"}"#)),
        invalid: (400, r#"{"message":"offerId is required"}"#),
    },
    Case {
        slug: "luckyonline",
        credentials: &[("api_key", KEY)],
        params: &[("lucky", "ch-1")],
        method: "POST",
        path: "/api/v1/lead-create/webmaster",
        expect: &[
            ("q", "api_key", KEY),
            ("b", "campaign_hash", "ch-1"),
            ("b", "subid", C),
            ("b", "country", "DE"),
        ],
        ok: (
            200,
            r#"{"response":{"status":"success","id":12}}"#,
            Some("12"),
        ),
        duplicate: None,
        invalid: (200, r#"{"response":{"status":"error","message":"phone"}}"#),
    },
    Case {
        slug: "m1shop",
        credentials: &[("user_id", USER), ("api_key", KEY)],
        params: &[("m1", "600")],
        method: "POST",
        path: "/send_order/",
        expect: &[
            ("b", "ref", USER),
            ("b", "api_key", KEY),
            ("b", "product_id", "600"),
            ("b", "s", C),
        ],
        ok: (200, r#"{"result":"ok","id":3003}"#, Some("3003")),
        duplicate: Some((200, r#"{"result":"error","message":"duplicate order"}"#)),
        invalid: (200, r#"{"result":"error","message":"wrong phone"}"#),
    },
    Case {
        slug: "metacpa",
        credentials: &[],
        params: &[("meta", "f9"), ("metageo", "31697")],
        method: "POST",
        path: "/create",
        expect: &[
            ("b", "flow_id", "f9"),
            ("b", "geo", "31697"),
            ("b", "sub1", C),
        ],
        ok: (200, r#"{"id":"m-1"}"#, Some("m-1")),
        duplicate: None,
        invalid: (400, r#"{"message":"geo"}"#),
    },
    Case {
        slug: "monadlead",
        credentials: &[("api_key", KEY)],
        params: &[("monadlead", "12")],
        method: "POST",
        path: "/api/v1/orders/create/",
        expect: &[
            ("b", "api_key", KEY),
            ("b", "offer_id", "12"),
            ("b", "country_code", "DE"),
            ("b", "user_ip", "93.159.233.130"),
            ("b", "sub_1", C),
        ],
        ok: (200, r#"{"order_id":"mo-7"}"#, Some("mo-7")),
        duplicate: Some((200, r#"{"reason":"duplicate phone"}"#)),
        invalid: (200, r#"{"reason":"invalid phone"}"#),
    },
    Case {
        slug: "money4leads",
        credentials: &[("user_id", USER), ("api_key", KEY)],
        params: &[("m4l", "44")],
        method: "GET",
        path: "/order/add",
        expect: &[
            ("q", "access-token", KEY),
            ("q", "offerId", "44"),
            ("q", "partnerId", USER),
            ("q", "sub_id[]", C),
        ],
        ok: (
            200,
            r#"{"information":{"statusCode":200},"data":{"id":"m4-1"}}"#,
            Some("m4-1"),
        ),
        duplicate: None,
        invalid: (
            200,
            r#"{"information":{"statusCode":422,"message":"offer closed"}}"#,
        ),
    },
    Case {
        slug: "monsterleads",
        credentials: &[("api_key", KEY)],
        params: &[("monster", "code9")],
        method: "POST",
        path: "/method/order.add",
        expect: &[
            ("q", "api_key", KEY),
            ("q", "format", "json"),
            ("q", "code", "code9"),
            ("b", "tel", "+491512345678"),
            ("b", "client", "Anna Maria"),
            ("b", "subid", C),
            ("b", "geo", "DE"),
        ],
        ok: (200, r#"{"status":"ok","lead_hash":"h4sh"}"#, Some("h4sh")),
        duplicate: Some((
            200,
            r#"{"status":"error","error_code":438,"error":"duplicate"}"#,
        )),
        invalid: (
            200,
            r#"{"status":"error","error_code":401,"error":"bad tel"}"#,
        ),
    },
    Case {
        slug: "offerrum",
        credentials: &[("api_key", KEY)],
        params: &[("ad1", "fl5")],
        method: "POST",
        path: "/webmaster/order/",
        expect: &[
            ("q", "key", KEY),
            ("q", "flow", "fl5"),
            ("q", "subid", C),
            ("b", "phone", "+491512345678"),
        ],
        ok: (200, r#"{"id":"of-3"}"#, Some("of-3")),
        duplicate: None,
        invalid: (400, r#"{"message":"bad flow"}"#),
    },
    Case {
        slug: "shakes",
        credentials: &[("api_key", KEY)],
        params: &[("shakes", "9"), ("shakesurl", "https://l.example/a")],
        method: "POST",
        path: "/index.php",
        expect: &[
            ("q", "r", "/api/order/in"),
            ("q", "key", KEY),
            ("b", "countryCode", "DE"),
            ("b", "offerId", "9"),
            ("b", "landingUrl", "https://l.example/a"),
            ("b", "sub1", C),
            ("b", "userAgent", "Mozilla/5.0"),
        ],
        ok: (200, r#"{"status":"ok","orderId":"sh-1"}"#, Some("sh-1")),
        duplicate: None,
        invalid: (200, r#"{"status":"error","message":"phone"}"#),
    },
    Case {
        slug: "cpatl",
        credentials: &[("api_key", KEY)],
        params: &[("cpatl", "10"), ("cpatls", "st-2")],
        method: "POST",
        path: "/api/lead/send",
        expect: &[
            ("b", "key", KEY),
            ("b", "id", "ld_01TEST"),
            ("b", "offer_id", "10"),
            ("b", "stream_hid", "st-2"),
            ("b", "ip_address", "93.159.233.130"),
            ("b", "sub1", C),
        ],
        ok: (200, r#"{"id":123}"#, Some("123")),
        duplicate: Some((200, r#"{"errmsg":"duplicate"}"#)),
        invalid: (200, r#"{"errmsg":"phone is wrong"}"#),
    },
    Case {
        slug: "webvork",
        credentials: &[("api_key", KEY)],
        params: &[("webvork", "1")],
        method: "GET",
        path: "/v1/new-lead",
        expect: &[
            ("q", "token", KEY),
            ("q", "offer_id", "1"),
            ("q", "name", "Anna Maria"),
            ("q", "country", "DE"),
            ("q", "ip", "93.159.233.130"),
            ("q", "utm_medium", C),
        ],
        ok: (
            200,
            r#"{"status":"ok","guid":"B4778839-7F25-BD76-C65C-F8D9D6F41D4C"}"#,
            Some("B4778839-7F25-BD76-C65C-F8D9D6F41D4C"),
        ),
        duplicate: Some((200, r#"{"status":"error","msg":"duplicate lead"}"#)),
        invalid: (200, r#"{"status":"error","msg":"empty phone"}"#),
    },
    Case {
        slug: "whocpa",
        credentials: &[("user_id", USER), ("api_key", KEY)],
        params: &[("whocpa", "15")],
        method: "POST",
        path: "/lead/add",
        expect: &[
            ("b", "api_key", KEY),
            ("b", "offer_id", "15"),
            ("b", "subid1", C),
        ],
        ok: (200, r#"{"id":"w-1"}"#, Some("w-1")),
        duplicate: None,
        invalid: (422, r#"{"message":"phone"}"#),
    },
    Case {
        slug: "traffury",
        credentials: &[("user_id", USER), ("api_key", KEY)],
        params: &[("tfuo", "o1"), ("tfuf", "f1")],
        method: "POST",
        path: "/",
        expect: &[
            ("q", "webmasterID", USER),
            ("q", "token", KEY),
            ("b", "utm_campaign", C),
            ("b", "fio", "Anna Maria"),
            ("b", "goods[]", "o1"),
        ],
        ok: (200, r#"{"id":"t-1"}"#, Some("t-1")),
        duplicate: None,
        invalid: (400, r#"{"message":"phone"}"#),
    },
];

fn value_at(request: &wiremock::Request, place: &str, name: &str) -> Option<String> {
    match place {
        "q" => query(request)
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v),
        "b" => body(request)
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v),
        "h" => header(request, name),
        _ => unreachable!(),
    }
}

async fn send(
    case: &Case,
    status: u16,
    reply: &str,
    delay: Duration,
    timeout_ms: u64,
) -> (SendOutcome, wiremock::MockServer, String) {
    let api = spec::of(case.slug).unwrap_or_else(|| panic!("{} described", case.slug));
    let server = network(status, reply, delay).await;
    let creds = credentials(case.credentials);
    let uri = server.uri();
    let account = account(&creds, &uri, timeout_ms);
    let exchange = adapter(api)
        .send_lead(api, &account, &lead(case.params))
        .await
        .unwrap_or_else(|e| panic!("{}: {e}", case.slug));
    (exchange.result, server, exchange.reply)
}

#[tokio::test]
async fn every_network_gets_its_exact_request() {
    for case in CASES {
        let (outcome, server, reply) =
            send(case, case.ok.0, case.ok.1, Duration::ZERO, 2_000).await;
        let got = requests(&server).await;
        assert_eq!(got.len(), 1, "{}: one request", case.slug);
        let request = &got[0];
        assert_eq!(request.method.as_str(), case.method, "{}", case.slug);
        assert_eq!(request.url.path(), case.path, "{}", case.slug);
        for (place, name, value) in case.expect {
            assert_eq!(
                value_at(request, place, name).as_deref(),
                Some(*value),
                "{}: {place} {name}",
                case.slug
            );
        }
        // The click ID travels in the documented sub-ID field.
        let sub = spec::of(case.slug).unwrap().sub_id.as_deref().unwrap();
        let carried = ["q", "b"]
            .iter()
            .any(|p| value_at(request, p, sub).as_deref() == Some(CLICK));
        assert!(carried, "{}: click ID in `{sub}`", case.slug);
        assert_eq!(
            outcome,
            SendOutcome::Sent {
                order_id: case.ok.2.map(str::to_string)
            },
            "{}",
            case.slug
        );
        assert!(!reply.contains(KEY), "{}: the key is masked", case.slug);
    }
    assert!(CASES.len() >= 25);
}

#[tokio::test]
async fn duplicates_and_refusals_are_final_with_the_network_text() {
    for case in CASES {
        if let Some((status, reply)) = case.duplicate {
            let (outcome, _, _) = send(case, status, reply, Duration::ZERO, 2_000).await;
            assert!(
                matches!(outcome, SendOutcome::Duplicate { .. }),
                "{}: {outcome:?}",
                case.slug
            );
        }
        let (outcome, _, _) =
            send(case, case.invalid.0, case.invalid.1, Duration::ZERO, 2_000).await;
        match outcome {
            SendOutcome::Rejected { message, .. } => assert!(!message.is_empty(), "{}", case.slug),
            other => panic!(
                "{}: a validation error is a rejection, got {other:?}",
                case.slug
            ),
        }
    }
}

#[tokio::test]
async fn auth_errors_5xx_and_timeouts_are_retried() {
    for case in CASES {
        let (outcome, _, _) = send(
            case,
            401,
            r#"{"message":"wrong api key"}"#,
            Duration::ZERO,
            2_000,
        )
        .await;
        assert!(
            matches!(
                outcome,
                SendOutcome::Retry {
                    kind: Transient::Authentication,
                    ..
                }
            ),
            "{}: {outcome:?}",
            case.slug
        );
        let (outcome, _, _) = send(case, 503, "unavailable", Duration::ZERO, 2_000).await;
        assert!(
            matches!(
                outcome,
                SendOutcome::Retry {
                    kind: Transient::Server,
                    ..
                }
            ),
            "{}: {outcome:?}",
            case.slug
        );
        let (outcome, _, _) = send(case, 429, "slow down", Duration::ZERO, 2_000).await;
        assert!(
            matches!(
                outcome,
                SendOutcome::Retry {
                    kind: Transient::RateLimited,
                    ..
                }
            ),
            "{}: {outcome:?}",
            case.slug
        );
    }
    // Timeouts: every network, all at once (each one waits out the 200 ms timeout).
    let mut waits = tokio::task::JoinSet::new();
    for case in CASES {
        waits.spawn(async move {
            let (outcome, _server, _) =
                send(case, 200, case.ok.1, Duration::from_millis(1_500), 200).await;
            (case.slug, outcome)
        });
    }
    let mut timed_out = 0;
    while let Some(done) = waits.join_next().await {
        let (slug, outcome) = done.unwrap();
        assert!(
            matches!(
                outcome,
                SendOutcome::Retry {
                    kind: Transient::Timeout,
                    ..
                }
            ),
            "{slug}: {outcome:?}"
        );
        timed_out += 1;
    }
    assert_eq!(timed_out, CASES.len());
}

/// Credentials with `+`, a space, `/`, `"` and non-ASCII, echoed by the network as they are,
/// JSON-escaped, percent-encoded and HTML-escaped: neither the attempt's reply nor the texts of
/// the outcome (stored on the lead) hold any form of them.
#[tokio::test]
async fn replies_echoing_the_key_in_any_form_are_masked() {
    // Networks whose lead call carries no credential have nothing to mask.
    for case in CASES.iter().filter(|c| !c.credentials.is_empty()) {
        let api = spec::of(case.slug).unwrap();
        let creds = odd_credentials(case.credentials);
        for body in echo_replies(&creds) {
            for status in [200, 400, 401, 503] {
                let server = network(status, &body, Duration::ZERO).await;
                let uri = server.uri();
                let account = account(&creds, &uri, 2_000);
                let Ok(exchange) = adapter(api)
                    .send_lead(api, &account, &lead(case.params))
                    .await
                else {
                    continue;
                };
                let what = format!("{} HTTP {status}", case.slug);
                assert!(exchange.reply.contains("***"), "{what}: {}", exchange.reply);
                assert_masked(&exchange.reply, &creds, &what);
                assert_masked(&format!("{:?}", exchange.result), &creds, &what);
            }
        }
    }
}
