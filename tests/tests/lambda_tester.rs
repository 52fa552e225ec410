//! The postback tester at the Lambda boundary: the real connection-test binary, granted only
//! what template.yaml grants it, sends the test postback to `AFFNET_PUBLIC_URL`, here a small
//! stand-in for API Gateway on a loopback port that turns each request into an HTTP API event
//! for the real postback binary. See tests/lambda_harness/.
//!
//! Needs moto like the other DynamoDB tests (`AFFNET_TEST_DYNAMODB_ENDPOINT`, or `.venv`).

mod lambda_harness;

use affnet_store::testing::fresh_dynamo_store;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use lambda_harness::events::{self, Body};
use lambda_harness::{Function, seed};
use serde_json::json;
use std::sync::Arc;

/// Our public routes' API Gateway, as far as the tester's GET needs it.
async fn gateway(State(postback): State<Arc<Function>>, request: Request) -> Response {
    let path = request.uri().path().to_string();
    let query = request.uri().query().unwrap_or("").to_string();
    let route = match path.starts_with("/postback/") {
        true => "/postback/{integration_id}",
        false => path.as_str(),
    };
    let event = events::http("GET", route, &path, &query, Body::None);
    let (answer, _) = postback.http(event).await;
    let status = axum::http::StatusCode::from_u16(answer.status).unwrap();
    (status, answer.body).into_response()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tester_sends_through_the_public_route_within_its_grants() {
    let moto = affnet_store::testing::moto_endpoint().await;
    let table = fresh_dynamo_store().await.table().to_string();
    let api = Function::start("api", &moto, &table, &[]).await;
    let postback = Arc::new(Function::start("postback", &moto, &table, &[]).await);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let public_url = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new()
        .fallback(gateway)
        .with_state(postback.clone());
    let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let env = [("AFFNET_PUBLIC_URL", Some(public_url.as_str()))];
    let tester = Function::start("connection-test", &moto, &table, &env).await;
    let seeded = seed(&api).await;

    let path = format!("/integrations/{}/test-postback", seeded.integration);
    let body = Body::Json(json!({"status": "pending", "payout": "9.90"}));
    let (answer, _) = tester
        .http(events::http(
            "POST",
            "/integrations/{id}/test-postback",
            &path,
            "",
            body,
        ))
        .await;
    assert_eq!(answer.status, 200, "{}\n{}", answer.body, tester.output());
    let a = &answer.json;
    assert_eq!(
        (a["http_status"].clone(), a["outcome"].clone()),
        (json!(200), json!("created")),
        "{a}"
    );
    assert!(
        a["url"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{public_url}/postback/"))
    );
    let id = a["conversion_id"].as_str().unwrap();
    let conversion_path = format!("/conversions/{id}");
    let (conversion, _) = api
        .http(events::http(
            "GET",
            "/conversions/{id}",
            &conversion_path,
            "",
            Body::None,
        ))
        .await;
    let c = &conversion.json;
    assert_eq!(
        (c["test"].clone(), c["status"].clone(), c["payout"].clone()),
        (json!(true), json!("pending"), json!("9.9")),
        "{c}"
    );
    assert_eq!(c["offer_id"], seeded.offer);

    for function in [&tester, postback.as_ref()] {
        let denied = function.dynamodb.denied();
        assert!(
            denied.is_empty(),
            "{}: {denied:?}\n{}",
            function.name,
            function.output()
        );
    }
    let declared = affnet_app::iam::dynamodb_actions(affnet_app::routes::Function::ConnectionTest);
    let asked = tester.dynamodb.asked();
    assert!(
        asked.iter().all(|a| declared.contains(a.as_str())),
        "{asked:?}"
    );
    assert!(asked.contains("dynamodb:PutItem"), "the labels: {asked:?}");
    server.abort();
}
