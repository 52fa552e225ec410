//! Every route of the registry is served by its function's router and by the local router, and
//! no function serves another function's routes.

mod support;

use affnet_app::Config;
use affnet_app::router;
use affnet_app::routes::{Function, ROUTES};
use serde_json::json;
use support::{call, sqlite_state};

fn concrete(path: &str) -> String {
    // Fill `{param}` segments with a sample value.
    path.split('/')
        .map(|seg| {
            if seg.starts_with('{') {
                "01SAMPLE"
            } else {
                seg
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

fn routed(code: &serde_json::Value) -> bool {
    code != "route_not_found" && code != "method_not_allowed"
}

#[tokio::test]
async fn each_function_serves_exactly_its_routes() {
    for function in Function::ALL {
        let app = router::for_function(function, sqlite_state(Config::for_tests()));
        for route in ROUTES {
            let body = (route.method != "GET" && route.method != "DELETE").then(|| json!({}));
            let reply = call(&app, route.method, &concrete(route.path), body).await;
            let served = routed(&reply.json["error"]["code"]);
            assert_eq!(
                served,
                route.function == function,
                "{} {} on function {function}: {} {}",
                route.method,
                route.path,
                reply.status,
                reply.text
            );
        }
    }
}

#[tokio::test]
async fn the_local_router_serves_every_route() {
    let app = router::local(sqlite_state(Config::for_tests()));
    for route in ROUTES {
        let body = (route.method != "GET" && route.method != "DELETE").then(|| json!({}));
        let reply = call(&app, route.method, &concrete(route.path), body).await;
        assert!(
            routed(&reply.json["error"]["code"]),
            "{} {}: {}",
            route.method,
            route.path,
            reply.text
        );
    }
}
