//! Routers built from the route registry: one per Lambda function, and all of them at once for
//! the local server. Same handlers, two hosts.

use crate::http::{MAX_JSON_BODY, method_not_allowed, require_admin, route_not_found};
use crate::routes::{self, Access, Function, Route};
use crate::state::AppState;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::from_fn_with_state;

fn build<'a>(routes: impl Iterator<Item = &'a Route>, state: AppState) -> Router {
    let mut admin = Router::new();
    let mut public = Router::new();
    let mut has_admin = false;
    for route in routes {
        match route.access {
            Access::Admin => {
                admin = admin.route(route.path, (route.handler)());
                has_admin = true;
            }
            Access::Public => public = public.route(route.path, (route.handler)()),
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

/// The router of one function's routes: a Lambda passes its constant table
/// ([`routes::HttpFunction::ROUTES`]), so it links only those handlers.
pub fn for_routes(routes: &'static [Route], state: AppState) -> Router {
    build(routes.iter(), state)
}

/// The router one function serves, the function chosen at run time (tests): this links every
/// function's table, so no Lambda calls it.
pub fn for_function(function: Function, state: AppState) -> Router {
    build(function.routes().iter(), state)
}

/// Every route of every function: the local server.
pub fn local(state: AppState) -> Router {
    build(routes::ROUTES.iter(), state)
}
