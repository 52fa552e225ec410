//! OmniCPA as its vendor SDK (OmniApi 3.x) speaks: one form field `request` holding
//! `{"token", "data", "dataSign"}` with `dataSign = sha1(json_encode([secret, data]))` in PHP's
//! encoding, and replies `{"data", "dataSign"}` signed the same way. The expected signatures here
//! are computed from literal PHP-encoded text, not by the adapter's encoder.

mod support;

use affnet_networks::{SendOutcome, TestOutcome, Transient, adapter, spec};
use serde_json::Value;
use sha1::{Digest, Sha1};
use std::time::Duration;
use support::*;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const FLOW: &str = "F-1";

fn sha1_hex(text: &str) -> String {
    hex::encode(Sha1::digest(text.as_bytes()))
}

/// A reply as the SDK's `response()` writes it: `data` and its signature with `secret`.
fn signed_reply(data: &str, secret: &str) -> String {
    let sign = sha1_hex(&format!("[\"{secret}\",{data}]"));
    format!(r#"{{"data":{data},"dataSign":"{sign}"}}"#)
}

async fn omni(status: u16, body: String, delay: Duration) -> MockServer {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(status)
                .set_body_string(body)
                .insert_header("content-type", "application/json")
                .set_delay(delay),
        )
        .mount(&server)
        .await;
    server
}

fn creds() -> std::collections::BTreeMap<String, String> {
    credentials(&[("api_key", KEY), ("key", SECRET), ("flow_id", FLOW)])
}

/// The `request` field of what the mock received, and its `data` as sent (raw text).
async fn request_of(server: &MockServer) -> (String, Value, String) {
    let got = requests(server).await;
    assert_eq!(got.len(), 1);
    let form = body(&got[0]);
    assert_eq!(
        form.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(),
        ["request"]
    );
    let text = form[0].1.clone();
    #[derive(serde::Deserialize)]
    struct Envelope<'a> {
        #[serde(borrow)]
        data: &'a serde_json::value::RawValue,
    }
    let raw = serde_json::from_str::<Envelope>(&text)
        .unwrap()
        .data
        .get()
        .to_string();
    let json: Value = serde_json::from_str(&text).unwrap();
    (got[0].url.path().to_string(), json, raw)
}

#[tokio::test]
async fn a_lead_goes_in_a_signed_request_and_the_signed_reply_gives_the_order() {
    let data = r#"{"success":true,"result":{"id":9001},"notice":[]}"#;
    let server = omni(200, signed_reply(data, SECRET), Duration::ZERO).await;
    let api = spec::of("omnicpa").unwrap();
    let creds = creds();
    let uri = server.uri();
    let mut lead = lead(&[("omni", "5"), ("omnilang", "ENG")]);
    lead.name = "Анна Мария".into();
    let exchange = adapter(api)
        .send_lead(api, &account(&creds, &uri, 2_000), &lead)
        .await
        .unwrap();
    assert_eq!(
        exchange.result,
        SendOutcome::Sent {
            order_id: Some("9001".into())
        }
    );
    let (path, request, raw) = request_of(&server).await;
    assert_eq!(path, "/api/User/3.0/createOrder");
    assert_eq!(request["token"], KEY);
    let data = &request["data"];
    for (field, want) in [
        ("product_id", "5"),
        ("promo_language", "ENG"),
        ("traffic_flow_id", FLOW),
        ("fio", "Анна Мария"),
        ("phone", "+491512345678"),
        ("country", "DE"),
        ("pbid", CLICK),
        ("ip", "93.159.233.130"),
        ("useragent", "Mozilla/5.0"),
        ("price", "49.90"),
    ] {
        assert_eq!(data[field], want, "{field}: {data}");
    }
    // Optional parameters the offer lacks are left out.
    assert!(data.get("special_price").is_none() && data.get("pay_action").is_none());
    // PHP's encoding: `/` escaped, non-ASCII as lower-case \uXXXX; the signature is over it.
    assert!(raw.contains(r#""useragent":"Mozilla\/5.0""#), "{raw}");
    assert!(
        raw.contains(r#""fio":"\u0410\u043d\u043d\u0430 \u041c\u0430\u0440\u0438\u044f""#),
        "{raw}"
    );
    assert_eq!(
        request["dataSign"],
        sha1_hex(&format!("[\"{SECRET}\",{raw}]"))
    );
    assert!(!exchange.reply.contains(SECRET));
}

#[tokio::test]
async fn refusals_and_failures_read_as_the_sdk_reads_them() {
    let api = spec::of("omnicpa").unwrap();
    let creds = creds();
    let refused =
        r#"{"success":false,"error":{"203103":"Invalid phone number"},"errorCode":false}"#;
    let forged = signed_reply(r#"{"success":true,"result":{"id":1}}"#, "not-the-secret");
    let cases: Vec<(u16, String, Duration, SendOutcome)> = vec![
        (
            200,
            signed_reply(refused, SECRET),
            Duration::ZERO,
            SendOutcome::Rejected {
                code: Some("203103".into()),
                message: "Invalid phone number".into(),
            },
        ),
        (
            200,
            forged,
            Duration::ZERO,
            SendOutcome::Retry {
                kind: Transient::Server,
                message: String::new(),
            },
        ),
        (
            403,
            "Forbidden".into(),
            Duration::ZERO,
            SendOutcome::Retry {
                kind: Transient::Authentication,
                message: String::new(),
            },
        ),
        (
            401,
            String::new(),
            Duration::ZERO,
            SendOutcome::Retry {
                kind: Transient::Authentication,
                message: String::new(),
            },
        ),
        (
            503,
            "busy".into(),
            Duration::ZERO,
            SendOutcome::Retry {
                kind: Transient::Server,
                message: String::new(),
            },
        ),
        (
            200,
            signed_reply(r#"{"success":true,"result":{"id":2}}"#, SECRET),
            Duration::from_millis(1_500),
            SendOutcome::Retry {
                kind: Transient::Timeout,
                message: String::new(),
            },
        ),
    ];
    for (status, reply, delay, want) in cases {
        let server = omni(status, reply, delay).await;
        let uri = server.uri();
        let got = adapter(api)
            .send_lead(
                api,
                &account(&creds, &uri, 500),
                &lead(&[("omni", "5"), ("omnilang", "ENG")]),
            )
            .await
            .unwrap()
            .result;
        match (&got, &want) {
            (SendOutcome::Retry { kind, message }, SendOutcome::Retry { kind: k, .. }) => {
                assert_eq!(kind, k, "HTTP {status}: {message}");
                if status == 200 && *k == Transient::Server {
                    assert!(message.contains("dataSign"), "{message}");
                }
            }
            _ => assert_eq!(got, want, "HTTP {status}"),
        }
    }

    // Without the secret nothing is sent.
    let server = omni(200, String::new(), Duration::ZERO).await;
    let uri = server.uri();
    let no_secret = credentials(&[("api_key", KEY), ("flow_id", FLOW)]);
    let err = adapter(api)
        .send_lead(
            api,
            &account(&no_secret, &uri, 500),
            &lead(&[("omni", "5")]),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("credentials.key"), "{err}");
    assert!(requests(&server).await.is_empty());
}

#[tokio::test]
async fn the_connection_test_asks_the_balance_with_empty_signed_data() {
    let api = spec::of("omnicpa").unwrap();
    let creds = creds();
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/User/3.0/getBalance"))
        .respond_with(ResponseTemplate::new(200).set_body_string(signed_reply(
            r#"{"balance":"12.50","success":true,"notice":[]}"#,
            SECRET,
        )))
        .mount(&server)
        .await;
    let uri = server.uri();
    let ok = adapter(api)
        .test_connection(api, &account(&creds, &uri, 2_000))
        .await
        .unwrap();
    assert!(
        matches!(ok.result, TestOutcome::Ok { .. }),
        "{:?}",
        ok.result
    );
    let (_, request, raw) = request_of(&server).await;
    // An empty PHP array is `[]`, and so is its signature's input.
    assert_eq!(raw, "[]");
    assert_eq!(request["dataSign"], sha1_hex(&format!("[\"{SECRET}\",[]]")));

    // A reply signed with another secret: the key is wrong.
    let wrong = omni(
        200,
        signed_reply(r#"{"success":true}"#, "other"),
        Duration::ZERO,
    )
    .await;
    let uri = wrong.uri();
    let got = adapter(api)
        .test_connection(api, &account(&creds, &uri, 2_000))
        .await
        .unwrap();
    match got.result {
        TestOutcome::Authentication { fix, .. } => {
            assert!(fix.contains("credentials.key"), "{fix}")
        }
        other => panic!("{other:?}"),
    }
}
