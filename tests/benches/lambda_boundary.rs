//! Init and warm-invocation times of the release function binaries at the Lambda boundary: the
//! same Runtime API emulator, API Gateway events and IAM-enforcing DynamoDB proxy (moto behind
//! it) as tests/tests/lambda.rs.
//!
//! ```sh
//! cargo bench -p affnet-tests --bench lambda_boundary        # or: -- ROUNDS INVOCATIONS
//! ```
//!
//! - init: from spawning the process to its first `GET /invocation/next` (config, clients,
//!   catalogue, router), ROUNDS cold starts per function;
//! - warm: INVOCATIONS clicks (a new click each) and postbacks (a new conversion each) on one
//!   warm process, each split into the time the invocation took end to end and the part of it
//!   spent waiting for DynamoDB (moto, a Python server, is far slower than DynamoDB: the
//!   function's own time is the difference). Waiting is the time at least one of the function's
//!   requests was in the DynamoDB proxy, an attempt the SDK gave up on included (until it gave
//!   up): a moto stall is moto's time, not the function's.
//!
//! Needs moto like the tests (`AFFNET_TEST_DYNAMODB_ENDPOINT`, or the `.venv`).

#[path = "../tests/lambda_harness/mod.rs"]
mod lambda_harness;

use affnet_store::testing::fresh_dynamo_store;
use lambda_harness::events::{self, Body, HttpResponse};
use lambda_harness::{Function, click_id_of, seed};
use std::time::{Duration, Instant};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

fn summary(name: &str, mut total: Vec<Duration>, mut own: Vec<Duration>) {
    total.sort();
    own.sort();
    println!(
        "{name}: n={} end to end p50 {} p99 {}; without DynamoDB p50 {} p99 {} max {}",
        total.len(),
        ms(percentile(&total, 0.5)),
        ms(percentile(&total, 0.99)),
        ms(percentile(&own, 0.5)),
        ms(percentile(&own, 0.99)),
        ms(*own.last().unwrap()),
    );
}

/// One invocation: its end-to-end time, the part not spent waiting for DynamoDB, and the
/// DynamoDB requests it sent (more than one for a postback: an attempt was retried).
async fn timed(
    function: &Function,
    event: serde_json::Value,
) -> (HttpResponse, Duration, Duration, u64) {
    let (from, arrived) = (Instant::now(), function.dynamodb.arrived());
    let (answer, took) = function.http(event).await;
    let waited = function.dynamodb.waited_within(from, Instant::now());
    let requests = function.dynamodb.arrived() - arrived;
    (answer, took, took.saturating_sub(waited), requests)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .map(|a| {
            a.parse()
                .expect("usage: lambda_boundary [ROUNDS [INVOCATIONS]]")
        })
        .collect();
    let rounds = args.first().copied().unwrap_or(10);
    let invocations = args.get(1).copied().unwrap_or(300);
    let moto = affnet_store::testing::moto_endpoint().await;
    let table = fresh_dynamo_store().await.table().to_string();
    lambda_harness::function_binaries();

    for name in lambda_harness::FUNCTIONS {
        let mut inits = Vec::new();
        for _ in 0..rounds {
            let function = Function::start(name, &moto, &table, &[]).await;
            let init = function.init_time(Duration::from_secs(10)).await;
            inits.push(init.unwrap_or_else(|| panic!("{name}: no poll\n{}", function.output())));
        }
        inits.sort();
        println!(
            "init {name}: n={rounds} p50 {} max {}",
            ms(percentile(&inits, 0.5)),
            ms(*inits.last().unwrap())
        );
    }

    let api = Function::start("api", &moto, &table, &[]).await;
    let click = Function::start("click", &moto, &table, &[]).await;
    let postback = Function::start("postback", &moto, &table, &[]).await;
    let seeded = seed(&api).await;
    let (integration, token, offer) = (seeded.integration, seeded.token, seeded.offer);
    let click_event = || {
        events::http(
            "GET",
            "/c/{offer_id}",
            &format!("/c/{offer}"),
            "msg=m1&cr=c1&sub1=fb",
            Body::None,
        )
    };
    // The first invocation of each pays for connections and caches: not a warm one.
    let (first, _) = click.http(click_event()).await;
    assert_eq!(first.status, 302, "{}", first.body);
    let mut click_ids = vec![click_id_of(first.header("location").unwrap())];
    let (mut total, mut own) = (Vec::new(), Vec::new());
    for _ in 0..invocations {
        let (answer, took, mine, _) = timed(&click, click_event()).await;
        assert_eq!(answer.status, 302, "{}", answer.body);
        click_ids.push(click_id_of(answer.header("location").unwrap()));
        total.push(took);
        own.push(mine);
    }
    summary("warm click", total, own);

    let (mut total, mut own, mut own_first_time) = (Vec::new(), Vec::new(), Vec::new());
    let mut stalls = 0;
    for (n, click_id) in click_ids.iter().enumerate() {
        let form = format!(
            "token={token}&aff_click_id={click_id}&transaction_id=T-{n}&payout=15.00&currency=USD"
        );
        let event = events::http(
            "POST",
            "/postback/{integration_id}",
            &format!("/postback/{integration}"),
            "",
            Body::Form(&form),
        );
        // moto now and then stalls past the postback's DynamoDB timeouts (3 attempts of 1 s):
        // the function answers 503 and, as a network would, the postback is sent again. Only
        // the delivery that was stored is timed; the stalls are counted.
        let (mut answer, mut took, mut mine, mut requests) = timed(&postback, event.clone()).await;
        for _ in 0..3 {
            if answer.status != 503 {
                break;
            }
            stalls += 1;
            (answer, took, mine, requests) = timed(&postback, event.clone()).await;
        }
        assert_eq!(answer.status, 200, "{}", answer.body);
        if n > 0 {
            total.push(took);
            own.push(mine);
            if requests == 1 {
                own_first_time.push(mine);
            }
        }
    }
    let requests = postback.dynamodb.arrived();
    // A retried attempt's own time includes the SDK's backoff sleep (jittered, up to 50 ms).
    own_first_time.sort();
    println!(
        "warm postbacks answered by their first DynamoDB attempt: n={} without DynamoDB p50 {} p99 {} max {}",
        own_first_time.len(),
        ms(percentile(&own_first_time, 0.5)),
        ms(percentile(&own_first_time, 0.99)),
        ms(*own_first_time.last().unwrap()),
    );
    summary("warm postback (a new conversion each)", total, own);
    println!(
        "postback DynamoDB requests: {requests} for {} postbacks (1 cold lookup of the integration); \
         503s while moto stalled, sent again: {stalls}",
        click_ids.len()
    );
}
