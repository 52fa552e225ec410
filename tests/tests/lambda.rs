//! The functions at the Lambda boundary: the real binaries (built here with the same cargo and
//! target directory), each under a Lambda Runtime API emulator, fed API Gateway HTTP API
//! (payload 2.0) and EventBridge Scheduler events, with DynamoDB (moto) behind a proxy that
//! grants each function exactly what template.yaml grants it. See tests/lambda_harness/.
//!
//! Needs moto like the other DynamoDB tests (`AFFNET_TEST_DYNAMODB_ENDPOINT`, or `.venv`).

mod lambda_harness;

use affnet_app::routes::Function as Fn;
use affnet_store::testing::fresh_dynamo_store;
use affnet_store::{Condition, DynamoStore, Item, ItemStore, Key, Write};
use lambda_harness::events::{self, Body, postback_event};
use lambda_harness::iam_proxy::Stall;
use lambda_harness::runtime_api::Outcome;
use lambda_harness::{Function, click_id_of, lambda_timeout, seed};
use serde_json::{Value, json};
use std::time::Duration;

fn click_event(offer: &str) -> Value {
    events::http(
        "GET",
        "/c/{offer_id}",
        &format!("/c/{offer}"),
        "msg=m1&cr=c1&sub1=fb",
        Body::None,
    )
}

/// Every DynamoDB action a function asked for is one `affnet_app::iam` says its code may send
/// (which tests/tests/template.rs checks template.yaml grants).
fn asked_within_declared(function: &Function, declared: Fn) {
    let declared = affnet_app::iam::dynamodb_actions(declared);
    let asked = function.dynamodb.asked();
    let undeclared: Vec<_> = asked
        .iter()
        .filter(|a| a.starts_with("dynamodb:") && !declared.contains(a.as_str()))
        .collect();
    assert!(
        undeclared.is_empty(),
        "{} sent {undeclared:?}, which affnet_app::iam does not list",
        function.name
    );
}

async fn store_on(table: &str) -> DynamoStore {
    let moto = affnet_store::testing::moto_endpoint().await;
    DynamoStore::new(affnet_store::testing::test_client(&moto), table)
}

/// A click, then its conversion by a base64 form postback, while the click's totals item has
/// expired but is still in the table (DynamoDB's TTL deletion is lazy): the postback function,
/// granted no DeleteItem, must record it (issue #9, defect 1). A scheduled sync that fails
/// fails its invocation with a readable error type (defect 4).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_click_and_its_postback_over_an_expired_totals_item_within_the_grants() {
    let moto = affnet_store::testing::moto_endpoint().await;
    let table = fresh_dynamo_store().await.table().to_string();
    let api = Function::start("api", &moto, &table, &[]).await;
    let click = Function::start("click", &moto, &table, &[]).await;
    let postback = Function::start("postback", &moto, &table, &[]).await;
    let seeded = seed(&api).await;

    let (redirect, _) = click.http(click_event(&seeded.offer)).await;
    assert_eq!(redirect.status, 302, "{}", redirect.body);
    assert_eq!(redirect.header("cache-control"), Some("no-store"));
    let location = redirect.header("location").expect("a Location header");
    assert!(location.starts_with("https://demo.go2cloud.org/aff_c?offer_id=26&aff_click_id="));
    let click_id = click_id_of(location);

    // The click's totals, expired but not yet deleted by DynamoDB.
    let store = store_on(&table).await;
    let totals = Key::new(format!("CLICK#{click_id}"), "TOTALS");
    let mut expired = Item::new(totals.clone(), Value::Null);
    expired.version = 0;
    expired.expires_at = Some(chrono::Utc::now().timestamp() - 60);
    expired.counters.insert("conversions".into(), 100.into());
    store
        .write(vec![Write::Put {
            item: expired,
            when: Condition::Always,
        }])
        .await
        .unwrap();

    let form = format!(
        "token={}&aff_click_id={click_id}&transaction_id=T-1&payout=15.00&currency=USD",
        seeded.token
    );
    let (answer, _) = postback
        .http(postback_event(&seeded.integration, &form))
        .await;
    assert_eq!(
        answer.status,
        200,
        "{} (denied: {:?})\n{}",
        answer.body,
        postback.dynamodb.denied(),
        postback.output()
    );
    assert!(postback.dynamodb.denied().is_empty());
    let live = store.get(&totals).await.unwrap().expect("live totals");
    assert!(
        live.counters.values().all(|c| c.to_string() != "100"),
        "the expired totals were added to: {:?}",
        live.counters
    );

    let (conversions, _) = api
        .http(events::http(
            "GET",
            "/conversions",
            "/conversions",
            "",
            Body::None,
        ))
        .await;
    assert_eq!(conversions.status, 200, "{}", conversions.body);
    let items = conversions.json["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{}", conversions.body);
    assert_eq!(items[0]["offer_id"], json!(seeded.offer));
    assert_eq!(items[0]["message_id"], "m1");

    for (function, declared) in [
        (&api, Fn::Api),
        (&click, Fn::Click),
        (&postback, Fn::Postback),
    ] {
        assert!(
            function.dynamodb.denied().is_empty(),
            "{}: {:?}",
            function.name,
            function.dynamodb.denied()
        );
        asked_within_declared(function, declared);
    }

    scheduled_syncs(&moto, &table, &store, &seeded.integration).await;
}

/// A scheduled sync whose run fails (its TUNE host is refused) fails the invocation as
/// `SyncFailed`; one for an integration that is gone succeeds with no log.
async fn scheduled_syncs(moto: &str, table: &str, store: &DynamoStore, integration: &str) {
    let key = Key::new("INTEGRATION", integration);
    let mut item = store.get(&key).await.unwrap().expect("the integration");
    let version = item.version;
    let settings = &mut item.data["settings"];
    settings["api_domain"] = json!("127.0.0.1");
    settings["auto_sync"] = json!({"enabled": true});
    item.version += 1;
    store
        .write(vec![Write::Put {
            item,
            when: Condition::Version(version),
        }])
        .await
        .unwrap();

    let sync = Function::start("offer-sync", moto, table, &[]).await;
    let (outcome, _) = sync.invoke(events::scheduled_sync(integration)).await;
    match outcome {
        Some(Outcome::Error {
            error_type,
            message,
        }) => {
            assert_eq!(error_type, "SyncFailed", "{message}");
            assert!(message.contains(integration), "{message}");
        }
        other => panic!(
            "a failed scheduled sync answered {other:?}\n{}",
            sync.output()
        ),
    }
    let (outcome, _) = sync
        .invoke(events::scheduled_sync("01GONE0000000000000000000"))
        .await;
    match outcome {
        Some(Outcome::Response(value)) => assert_eq!(value["log"], Value::Null, "{value}"),
        other => panic!("{other:?}\n{}", sync.output()),
    }
    assert!(
        sync.dynamodb.denied().is_empty(),
        "{:?}",
        sync.dynamodb.denied()
    );
    asked_within_declared(&sync, Fn::OfferSync);
}

/// DynamoDB accepts requests and never answers (issue #9, defect 3): the click still redirects
/// (the README: a visitor is redirected even when storing fails) and the postback answers 503,
/// each within its function's Lambda timeout from template.yaml.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_dynamodb_still_redirects_clicks_and_refuses_postbacks_in_time() {
    let moto = affnet_store::testing::moto_endpoint().await;
    let table = fresh_dynamo_store().await.table().to_string();
    let api = Function::start("api", &moto, &table, &[]).await;
    let seeded = seed(&api).await;

    let click = Function::start("click", &moto, &table, &[]).await;
    // The offer is read; writing the click hangs.
    click.dynamodb.stall(Stall::Actions(
        ["TransactWriteItems", "PutItem", "UpdateItem"]
            .map(String::from)
            .into(),
    ));
    let (redirect, took) = click.http(click_event(&seeded.offer)).await;
    assert_eq!(redirect.status, 302, "{}", redirect.body);
    assert!(redirect.header("location").is_some());
    assert!(took < lambda_timeout("click"), "{took:?}");

    let postback = Function::start("postback", &moto, &table, &[]).await;
    postback.dynamodb.stall(Stall::Everything);
    let form = format!(
        "token={}&aff_click_id=x&transaction_id=T-2&payout=1&currency=USD",
        seeded.token
    );
    let (answer, took) = postback
        .http(postback_event(&seeded.integration, &form))
        .await;
    assert_eq!(answer.status, 503, "{}", answer.body);
    assert!(took < lambda_timeout("postback"), "{took:?}");
}

/// A postback body over the limit is refused with 413 before its token is looked at (issue #9,
/// defect 6): here with a wrong token, so a 401/403 would mean the order is wrong.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_oversized_postback_body_is_413_before_the_token_check() {
    let moto = affnet_store::testing::moto_endpoint().await;
    let table = fresh_dynamo_store().await.table().to_string();
    let postback = Function::start("postback", &moto, &table, &[]).await;
    let form = format!("token=wrong&comment={}", "a".repeat(17 * 1024));
    let (answer, _) = postback
        .http(postback_event("01HZX3V9Q8W7E6R5T4Y3M2K1N0", &form))
        .await;
    assert_eq!(answer.status, 413, "{}", answer.body);
    assert_eq!(
        answer.json["error"]["code"], "body_too_large",
        "{}",
        answer.body
    );
}

/// Init failures reach the Runtime API's `/runtime/init/error` with a readable type and reason,
/// and the process exits (issue #9, defects 5 and 7).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_failures_are_reported_to_the_runtime_api() {
    let moto = affnet_store::testing::moto_endpoint().await;
    let table = "affnet-unused";
    // (function, environment changes, what the reason must say)
    type Case = (
        &'static str,
        Vec<(&'static str, Option<&'static str>)>,
        &'static str,
    );
    let cases: [Case; 3] = [
        (
            "click",
            vec![("AFFNET_CLICK_SECRET", Some("short"))],
            "AFFNET_CLICK_SECRET",
        ),
        (
            "postback",
            vec![("AFFNET_CLICK_SECRET", None)],
            "AFFNET_CLICK_SECRET",
        ),
        (
            "api",
            vec![("AFFNET_ADMIN_TOKEN", Some("s3cret-token"))],
            "IAM authorizes",
        ),
    ];
    for (name, env, reason) in cases {
        let mut function = Function::start(name, &moto, table, &env).await;
        let failure = function
            .init_failure(Duration::from_secs(20))
            .await
            .unwrap_or_else(|| panic!("{name}: no init error reported\n{}", function.output()));
        assert_eq!(failure.header_type.as_deref(), Some("Runtime.InitError"));
        assert_eq!(failure.error_type, "ConfigError", "{name}: {failure:?}");
        assert!(failure.message.contains(reason), "{name}: {failure:?}");
        let status = function
            .exit_status(Duration::from_secs(10))
            .await
            .unwrap_or_else(|| panic!("{name}: still running after a failed init"));
        assert!(!status.success(), "{name}: {status}");
    }
}

/// Creates a Secrets Manager secret in moto (as the stack's `ClickSecret`); its ARN.
async fn create_secret(moto: &str, name: &str, value: &str) -> String {
    let reply = reqwest::Client::new()
        .post(moto)
        .header("x-amz-target", "secretsmanager.CreateSecret")
        .header("content-type", "application/x-amz-json-1.1")
        // moto routes by the signature's service; it does not check it.
        .header(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=test/20261203/us-east-1/secretsmanager/aws4_request, \
             SignedHeaders=host, Signature=0",
        )
        .body(json!({"Name": name, "SecretString": value}).to_string())
        .send()
        .await
        .unwrap();
    let body: Value = reply.json().await.unwrap();
    body["ARN"]
        .as_str()
        .unwrap_or_else(|| panic!("no secret created: {body}"))
        .to_string()
}

/// The click secret as template.yaml deploys it: no value in the environment, only
/// `AFFNET_CLICK_SECRET_ARN`, read at init with the function's `secretsmanager:GetSecretValue`
/// grant. A click ID minted by a function holding the plain key verifies in a postback function
/// that read the key from the secret; a secret that is missing or too short fails the init
/// through the Runtime API, naming the secret and never its value.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_click_secret_is_read_from_secrets_manager_at_init() {
    let moto = affnet_store::testing::moto_endpoint().await;
    let table = fresh_dynamo_store().await.table().to_string();
    let unique = ulid::Ulid::new();
    let arn = create_secret(
        &moto,
        &format!("affnet-click-{unique}"),
        lambda_harness::CLICK_SECRET,
    )
    .await;
    let from_secret = [
        ("AFFNET_CLICK_SECRET", None),
        ("AFFNET_CLICK_SECRET_ARN", Some(arn.as_str())),
    ];
    let api = Function::start("api", &moto, &table, &from_secret).await;
    let click = Function::start("click", &moto, &table, &[]).await;
    let postback = Function::start("postback", &moto, &table, &from_secret).await;
    let seeded = seed(&api).await;
    let (redirect, _) = click.http(click_event(&seeded.offer)).await;
    assert_eq!(redirect.status, 302, "{}", redirect.body);
    let click_id = click_id_of(redirect.header("location").unwrap());
    let form = format!(
        "token={}&aff_click_id={click_id}&transaction_id=T-SM&payout=5.00&currency=USD",
        seeded.token
    );
    let (answer, _) = postback
        .http(postback_event(&seeded.integration, &form))
        .await;
    assert_eq!(answer.status, 200, "{}\n{}", answer.body, postback.output());
    for function in [&api, &postback] {
        assert!(
            function
                .dynamodb
                .asked()
                .contains("secretsmanager:GetSecretValue"),
            "{} read its secret",
            function.name
        );
        assert!(function.dynamodb.denied().is_empty(), "{}", function.name);
    }
    assert!(!postback.output().contains(lambda_harness::CLICK_SECRET));

    let short = "tiny-v4l";
    let short_arn = create_secret(&moto, &format!("affnet-short-{unique}"), short).await;
    let missing = "arn:aws:secretsmanager:us-east-1:123456789012:secret:affnet-no-such-secret";
    for (arn, error_type) in [
        (missing, "ClickSecretError"),
        (short_arn.as_str(), "ConfigError"),
    ] {
        let env = [
            ("AFFNET_CLICK_SECRET", None),
            ("AFFNET_CLICK_SECRET_ARN", Some(arn)),
        ];
        let mut function = Function::start("click", &moto, &table, &env).await;
        let failure = function
            .init_failure(Duration::from_secs(20))
            .await
            .unwrap_or_else(|| panic!("{arn}: no init error reported\n{}", function.output()));
        assert_eq!(failure.error_type, error_type, "{failure:?}");
        assert!(failure.message.contains(arn), "{failure:?}");
        assert!(!failure.message.contains(short), "{failure:?}");
        assert!(!function.output().contains(short));
        assert!(
            function
                .exit_status(Duration::from_secs(10))
                .await
                .is_some()
        );
    }
}

/// A postback whose write reached DynamoDB but whose answer was lost on the way back (held past
/// the SDK's 1 s attempt timeout): the SDK sends the transaction again, and the conversion is
/// stored once, and counted once in the report, whatever the function answered; the network
/// sending it again (as it would after a 503) is a duplicate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postback_whose_answer_from_dynamodb_was_lost_is_recorded_once() {
    let moto = affnet_store::testing::moto_endpoint().await;
    let table = fresh_dynamo_store().await.table().to_string();
    let api = Function::start("api", &moto, &table, &[]).await;
    let click = Function::start("click", &moto, &table, &[]).await;
    let postback = Function::start("postback", &moto, &table, &[]).await;
    let seeded = seed(&api).await;
    let (redirect, _) = click.http(click_event(&seeded.offer)).await;
    let click_id = click_id_of(redirect.header("location").unwrap());
    let form = format!(
        "token={}&aff_click_id={click_id}&transaction_id=T-LOST&payout=15.00&currency=USD",
        seeded.token
    );
    postback.dynamodb.stall(Stall::LoseReplies {
        action: "TransactWriteItems".into(),
        times: 1,
        hold: Duration::from_millis(1_500),
    });
    let before = postback.dynamodb.forwarded();
    let (first, _) = postback
        .http(postback_event(&seeded.integration, &form))
        .await;
    assert!(
        first.status == 200 || first.status == 503,
        "{}: {}\n{}",
        first.status,
        first.body,
        postback.output()
    );
    assert!(
        postback.dynamodb.forwarded() - before >= 2,
        "the SDK sent the transaction again after the lost answer"
    );
    let (again, _) = postback
        .http(postback_event(&seeded.integration, &form))
        .await;
    assert_eq!(again.status, 200, "{}", again.body);

    let (conversions, _) = api
        .http(events::http(
            "GET",
            "/conversions",
            "/conversions",
            "",
            Body::None,
        ))
        .await;
    let items = conversions.json["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{}", conversions.body);
    let (report, _) = api
        .http(events::http(
            "GET",
            "/reports",
            "/reports",
            "group_by=offer",
            Body::None,
        ))
        .await;
    assert_eq!(report.status, 200, "{}", report.body);
    assert_eq!(
        report.json["rows"][0]["conversions"],
        json!(1),
        "{}",
        report.body
    );
    assert_eq!(
        report.json["rows"][0]["clicks"],
        json!(1),
        "{}",
        report.body
    );
}

/// `POST /leads` on the lead function as Lambda runs it, within its template grants: a lead for
/// a click of the marketer's offer is stored first and, since the network's host is private
/// (refused by the SSRF guard, strict on Lambda), answered 202 `queued` with the guard's words
/// on its attempt; posting it again gives that lead (200); bad input is 400 naming the field
/// and a forged click ID 403, with nothing stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lead_is_stored_before_it_is_sent_within_the_lead_functions_grants() {
    let moto = affnet_store::testing::moto_endpoint().await;
    let table = fresh_dynamo_store().await.table().to_string();
    // As template.yaml sets them on the api function: a CPA integration with status loading
    // gets its schedule (in moto's Scheduler, behind the same proxy).
    let scheduling = [
        (
            "AFFNET_SYNC_FUNCTION_ARN",
            Some("arn:aws:lambda:us-east-1:123456789012:function:affnet-test-offer-sync"),
        ),
        (
            "AFFNET_SCHEDULER_ROLE_ARN",
            Some("arn:aws:iam::123456789012:role/affnet-test-scheduler"),
        ),
    ];
    let api = Function::start("api", &moto, &table, &scheduling).await;
    let click = Function::start("click", &moto, &table, &[]).await;
    let lead = Function::start("lead", &moto, &table, &[]).await;
    let json_post =
        |route: &str, body: Value| events::http("POST", route, route, "", Body::Json(body));
    let (integration, _) = api
        .http(json_post(
            "/integrations",
            json!({"network": "webvork", "name": "WV",
                   "credentials": {"api_key": "wv-lambda-token-s3cr3t"},
                   "settings": {"api_url": "http://localhost:9"}}),
        ))
        .await;
    assert_eq!(integration.status, 201, "{}", integration.body);
    let (offer, _) = api
        .http(json_post(
            "/offers",
            json!({"integration_id": integration.json["id"], "name": "Keto", "payout": "10",
                   "currency": "EUR",
                   "tracking_url": "https://landing.example/k?aff_click_id={click_id}",
                   "params": {"webvork": "7"}}),
        ))
        .await;
    assert_eq!(offer.status, 201, "{}", offer.body);
    let (redirect, _) = click
        .http(click_event(offer.json["id"].as_str().unwrap()))
        .await;
    assert_eq!(redirect.status, 302, "{}", redirect.body);
    let click_id = click_id_of(redirect.header("location").unwrap());
    let order = json!({"click_id": click_id, "name": "Zofia Nowak", "phone": "+48 601 234 567",
                       "country": "PL"});

    let (first, _) = lead.http(json_post("/leads", order.clone())).await;
    assert_eq!(first.status, 202, "{}\n{}", first.body, lead.output());
    assert_eq!(first.json["status"], "queued", "{}", first.body);
    let lead_id = first.json["lead_id"].as_str().unwrap().to_string();
    let (again, _) = lead.http(json_post("/leads", order.clone())).await;
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(again.json["lead_id"], lead_id.as_str());

    let mut bad_phone = order.clone();
    bad_phone["phone"] = json!("call me");
    let (bad, _) = lead.http(json_post("/leads", bad_phone)).await;
    assert_eq!(bad.status, 400, "{}", bad.body);
    assert!(bad.body.contains("phone"), "{}", bad.body);
    let mut forged = order.clone();
    let last = if click_id.ends_with('A') { 'B' } else { 'A' };
    forged["click_id"] = json!(format!("{}{last}", &click_id[..click_id.len() - 1]));
    let (forged, _) = lead.http(json_post("/leads", forged)).await;
    assert_eq!(forged.status, 403, "{}", forged.body);

    let (stored, _) = api
        .http(events::http(
            "GET",
            "/leads/{lead_id}",
            &format!("/leads/{lead_id}"),
            "",
            Body::None,
        ))
        .await;
    assert_eq!(stored.status, 200, "{}", stored.body);
    assert_eq!(stored.json["status"], "queued", "{}", stored.body);
    let attempt = stored.json["attempts"][0].to_string();
    assert!(
        attempt.contains("non-public address"),
        "the guard's words: {attempt}"
    );
    let (all, _) = api
        .http(events::http("GET", "/leads", "/leads", "", Body::None))
        .await;
    assert_eq!(
        all.json["items"].as_array().unwrap().len(),
        1,
        "{}",
        all.body
    );
    assert!(
        lead.dynamodb.denied().is_empty(),
        "{:?}",
        lead.dynamodb.denied()
    );
    asked_within_declared(&lead, Fn::Lead);
    assert!(!lead.output().contains("Zofia") && !lead.output().contains("601 234"));
}
