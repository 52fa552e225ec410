//! Routers built from the route registry: one per Lambda function, and all of them at once for
//! the local server. Same handlers, two hosts.

use crate::http::{MAX_JSON_BODY, method_not_allowed, require_admin, route_not_found};
use crate::routes::{self, Access, Route};
use crate::state::AppState;
use crate::{
    click, connection_test, conversions, integrations, offer_sync, offers, postbacks, reports,
};
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::from_fn_with_state;
use axum::routing::{MethodRouter, on};

fn method_filter(method: &str) -> axum::routing::MethodFilter {
    use axum::routing::MethodFilter as M;
    match method {
        "GET" => M::GET,
        "POST" => M::POST,
        "PATCH" => M::PATCH,
        "PUT" => M::PUT,
        "DELETE" => M::DELETE,
        other => panic!("route registry uses unsupported method {other}"),
    }
}

/// The handler of each registered route. A route without one is a programming error, caught by
/// the router tests.
fn handler(route: &Route) -> MethodRouter<AppState> {
    let filter = method_filter(route.method);
    match (route.method, route.path) {
        ("GET", "/networks") => on(filter, integrations::list_networks),
        ("POST", "/integrations") => on(filter, integrations::create),
        ("GET", "/integrations") => on(filter, integrations::list),
        ("GET", "/integrations/{id}") => on(filter, integrations::get),
        ("PATCH", "/integrations/{id}") => on(filter, integrations::patch),
        ("DELETE", "/integrations/{id}") => on(filter, integrations::delete),
        ("POST", "/integrations/{id}/rotate-token") => on(filter, integrations::rotate_token),
        ("POST", "/offers") => on(filter, offers::create),
        ("GET", "/offers") => on(filter, offers::list),
        ("GET", "/offers/{id}") => on(filter, offers::get),
        ("PATCH", "/offers/{id}") => on(filter, offers::patch),
        ("GET", "/integrations/{id}/postback-url") => on(filter, postbacks::postback_url),
        ("GET", "/integrations/{id}/postbacks") => on(filter, postbacks::list_logs),
        ("GET", "/conversions") => on(filter, conversions::list),
        ("GET", "/conversions/{id}") => on(filter, conversions::get),
        ("GET", "/reports") => on(filter, reports::report),
        ("GET", "/c/{offer_id}") => on(filter, click::click),
        ("GET" | "POST", "/postback/{integration_id}") => on(filter, postbacks::receive),
        ("GET" | "POST", "/api/sale/status.json" | "/api/comp/status.json") => {
            on(filter, postbacks::receive_altercpa)
        }
        ("POST", "/integrations/{id}/test") => on(filter, connection_test::test),
        ("GET", "/integrations/{id}/remote-offers") => on(filter, offer_sync::remote_offers),
        ("POST", "/integrations/{id}/sync") => on(filter, offer_sync::sync_now),
        ("GET", "/integrations/{id}/sync-logs") => on(filter, offer_sync::sync_logs),
        _ => on(filter, integrations::not_implemented),
    }
}

fn build<'a>(routes: impl Iterator<Item = &'a Route>, state: AppState) -> Router {
    let mut admin = Router::new();
    let mut public = Router::new();
    let mut has_admin = false;
    for route in routes {
        match route.access {
            Access::Admin => {
                admin = admin.route(route.path, handler(route));
                has_admin = true;
            }
            Access::Public => public = public.route(route.path, handler(route)),
        }
    }
    if has_admin {
        admin = admin.route_layer(from_fn_with_state(state.clone(), require_admin));
    }
    admin
        .merge(public)
        .fallback(route_not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(MAX_JSON_BODY))
        .layer(axum::middleware::from_fn(crate::telemetry::log_request))
        .with_state(state)
}

/// The router one Lambda function serves.
pub fn for_function(function: &str, state: AppState) -> Router {
    assert!(
        routes::FUNCTIONS.contains(&function),
        "unknown function {function}"
    );
    build(routes::of_function(function), state)
}

/// Every route of every function: the local server.
pub fn local(state: AppState) -> Router {
    build(routes::ROUTES.iter(), state)
}
