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
        .filter(|a| !declared.contains(a.as_str()))
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
