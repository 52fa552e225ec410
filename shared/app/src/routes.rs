//! Every HTTP route: its method and path, the Lambda function that serves it, whether it is a
//! management route, and its handler. Each function has its table ([`API`], [`CLICK`],
//! [`POSTBACK`], [`OFFER_SYNC`], [`CONNECTION_TEST`], [`LEAD`], [`EVENTS`]) and [`ROUTES`] is all
//! of them, made at compile time: the one list the routers are built from (so a route cannot exist without its
//! handler), and against which tests check that `template.yaml` declares exactly these routes on
//! exactly these functions.
//!
//! Why one table per function: so that a binary links only its function's handlers and the
//! clients they use. A binary names its function by a type ([`bin`]), whose table is a constant
//! (`aws::run_http::<bin::Click>()`): when the function was a value read at run time, every
//! binary linked every table (the postback binary measured as large as offer-sync's, with TUNE's
//! report methods in it). Nothing a Lambda runs may read [`ROUTES`] (see [`ADMIN_PATHS`]).

use crate::state::AppState;
use crate::{
    click, connection_test, conversions, events, health, integrations, leads, offer_sync, offers,
    postback_tester, postbacks, reconcile, reports,
};
use axum::routing::{MethodRouter, delete, get, patch, post};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Management API: `Authorization: Bearer $AFFNET_ADMIN_TOKEN` locally, IAM on AWS.
    Admin,
    /// Called by browsers (clicks) or networks (postbacks): no admin auth.
    Public,
}

/// The Lambda functions: crate `functions/<name>`, binary `<name>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Function {
    Api,
    Click,
    Postback,
    OfferSync,
    ConnectionTest,
    Lead,
    /// Publishes the outbox from the table's stream (no HTTP routes).
    Events,
}

impl Function {
    pub const ALL: [Function; 7] = [
        Function::Api,
        Function::Click,
        Function::Postback,
        Function::OfferSync,
        Function::ConnectionTest,
        Function::Lead,
        Function::Events,
    ];

    /// The binary's (and crate folder's) name.
    pub fn name(self) -> &'static str {
        match self {
            Function::Api => "api",
            Function::Click => "click",
            Function::Postback => "postback",
            Function::OfferSync => "offer-sync",
            Function::ConnectionTest => "connection-test",
            Function::Lead => "lead",
            Function::Events => "events",
        }
    }

    pub fn from_name(name: &str) -> Option<Function> {
        Function::ALL.into_iter().find(|f| f.name() == name)
    }
}

impl std::fmt::Display for Function {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Builds the route's axum handler for its method.
pub type Handler = fn() -> MethodRouter<AppState>;

#[derive(Clone, Copy)]
pub struct Route {
    pub method: &'static str,
    /// axum / API Gateway path syntax: `/integrations/{id}`.
    pub path: &'static str,
    pub function: Function,
    pub access: Access,
    pub handler: Handler,
}

impl std::fmt::Debug for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} ({}, {:?})",
            self.method, self.path, self.function, self.access
        )
    }
}

const fn admin(
    method: &'static str,
    path: &'static str,
    function: Function,
    handler: Handler,
) -> Route {
    Route {
        method,
        path,
        function,
        access: Access::Admin,
        handler,
    }
}

const fn public(
    method: &'static str,
    path: &'static str,
    function: Function,
    handler: Handler,
) -> Route {
    Route {
        method,
        path,
        function,
        access: Access::Public,
        handler,
    }
}

/// The management API (`api`): networks, integrations, offers, conversions, reports, events.
pub const API: &[Route] = &[
    admin("GET", "/networks", Function::Api, || {
        get(integrations::list_networks)
    }),
    admin("POST", "/integrations", Function::Api, || {
        post(integrations::create)
    }),
    admin("GET", "/integrations", Function::Api, || {
        get(integrations::list)
    }),
    admin("GET", "/integrations/{id}", Function::Api, || {
        get(integrations::get)
    }),
    admin("PATCH", "/integrations/{id}", Function::Api, || {
        patch(integrations::patch)
    }),
    admin("DELETE", "/integrations/{id}", Function::Api, || {
        delete(integrations::delete)
    }),
    admin(
        "POST",
        "/integrations/{id}/rotate-token",
        Function::Api,
        || post(integrations::rotate_token),
    ),
    admin("POST", "/offers", Function::Api, || post(offers::create)),
    admin("GET", "/offers", Function::Api, || get(offers::list)),
    admin("GET", "/offers/{id}", Function::Api, || get(offers::get)),
    admin("PATCH", "/offers/{id}", Function::Api, || {
        patch(offers::patch)
    }),
    admin(
        "GET",
        "/integrations/{id}/postback-url",
        Function::Api,
        || get(postbacks::postback_url),
    ),
    admin("GET", "/integrations/{id}/postbacks", Function::Api, || {
        get(postbacks::list_logs)
    }),
    admin("GET", "/integrations/{id}/health", Function::Api, || {
        get(health::get)
    }),
    admin("GET", "/conversions", Function::Api, || {
        get(conversions::list)
    }),
    admin("GET", "/conversions/{id}", Function::Api, || {
        get(conversions::get)
    }),
    admin("GET", "/reports", Function::Api, || get(reports::report)),
    admin("GET", "/leads", Function::Api, || get(leads::list)),
    admin("GET", "/leads/{id}", Function::Api, || get(leads::get)),
    admin("GET", "/events", Function::Api, || get(events::feed::list)),
];

/// Leads posted by landing pages (`lead`): stored, then sent to the offer's network.
pub const LEAD: &[Route] = &[public("POST", "/leads", Function::Lead, || {
    post(leads::create)
})];

/// The click redirect (`click`).
pub const CLICK: &[Route] = &[public("GET", "/c/{offer_id}", Function::Click, || {
    get(click::click)
})];

/// Conversion postbacks from networks (`postback`).
pub const POSTBACK: &[Route] = &[
    public(
        "GET",
        "/postback/{integration_id}",
        Function::Postback,
        || get(postbacks::receive),
    ),
    public(
        "POST",
        "/postback/{integration_id}",
        Function::Postback,
        || post(postbacks::receive),
    ),
    public("GET", "/api/sale/status.json", Function::Postback, || {
        get(postbacks::receive_altercpa)
    }),
    public("POST", "/api/sale/status.json", Function::Postback, || {
        post(postbacks::receive_altercpa)
    }),
    public("GET", "/api/comp/status.json", Function::Postback, || {
        get(postbacks::receive_altercpa)
    }),
    public("POST", "/api/comp/status.json", Function::Postback, || {
        post(postbacks::receive_altercpa)
    }),
];

/// The connection test and the postback tester (`connection-test`): both call out, so both
/// run where the 29 s timeout is.
pub const CONNECTION_TEST: &[Route] = &[
    admin(
        "POST",
        "/integrations/{id}/test",
        Function::ConnectionTest,
        || post(connection_test::test),
    ),
    admin(
        "POST",
        "/integrations/{id}/test-postback",
        Function::ConnectionTest,
        || post(postback_tester::test_postback),
    ),
];

/// Offer sync from TUNE and reconciliation with its reports (`offer-sync`; their scheduled
/// invocations are not routes).
pub const OFFER_SYNC: &[Route] = &[
    admin(
        "GET",
        "/integrations/{id}/remote-offers",
        Function::OfferSync,
        || get(offer_sync::remote_offers),
    ),
    admin(
        "POST",
        "/integrations/{id}/sync",
        Function::OfferSync,
        || post(offer_sync::sync_now),
    ),
    admin(
        "POST",
        "/integrations/{id}/status-sync",
        Function::OfferSync,
        || post(leads::status_sync::sync_now),
    ),
    admin(
        "GET",
        "/integrations/{id}/sync-logs",
        Function::OfferSync,
        || get(offer_sync::sync_logs),
    ),
    admin(
        "POST",
        "/integrations/{id}/reconcile",
        Function::OfferSync,
        || post(reconcile::reconcile_now),
    ),
    admin(
        "GET",
        "/integrations/{id}/reconciliations",
        Function::OfferSync,
        || get(reconcile::list_runs),
    ),
    admin(
        "GET",
        "/integrations/{id}/reconciliations/{run_id}",
        Function::OfferSync,
        || get(reconcile::get_run),
    ),
];

/// The events publisher (`events`): invoked by the table's stream, no routes.
pub const EVENTS: &[Route] = &[];

impl Function {
    /// This function's routes. Inlined, so that a call with a constant function references that
    /// table only (and the linker drops the other functions' handlers).
    #[inline(always)]
    pub const fn routes(self) -> &'static [Route] {
        match self {
            Function::Api => API,
            Function::Click => CLICK,
            Function::Postback => POSTBACK,
            Function::OfferSync => OFFER_SYNC,
            Function::ConnectionTest => CONNECTION_TEST,
            Function::Lead => LEAD,
            Function::Events => EVENTS,
        }
    }
}

/// A function served over HTTP, chosen by its type at compile time: its [`Self::ROUTES`] is a
/// constant, so a binary generic over it references that table only.
pub trait HttpFunction {
    const FUNCTION: Function;
    const ROUTES: &'static [Route] = Self::FUNCTION.routes();
}

/// One type per Lambda binary that serves HTTP (`functions/<name>/src/main.rs`).
pub mod bin {
    use super::{Function, HttpFunction};

    macro_rules! http_functions {
        ($($name:ident),* $(,)?) => {$(
            #[doc = concat!("The `", stringify!($name), "` function.")]
            pub struct $name;
            impl HttpFunction for $name {
                const FUNCTION: Function = Function::$name;
            }
        )*};
    }

    http_functions!(Api, Click, Postback, OfferSync, ConnectionTest, Lead);
}

const ROUTE_COUNT: usize = {
    let mut n = 0;
    let mut i = 0;
    while i < Function::ALL.len() {
        n += Function::ALL[i].routes().len();
        i += 1;
    }
    n
};

/// Every function's routes, in [`Function::ALL`] order. Fails to compile when a table holds a
/// route of another function.
const ALL_ROUTES: [Route; ROUTE_COUNT] = {
    let mut all = [API[0]; ROUTE_COUNT];
    let mut n = 0;
    let mut i = 0;
    while i < Function::ALL.len() {
        let function = Function::ALL[i];
        let table = function.routes();
        let mut j = 0;
        while j < table.len() {
            assert!(
                table[j].function as u8 == function as u8,
                "a route sits in another function's table"
            );
            all[n] = table[j];
            n += 1;
            j += 1;
        }
        i += 1;
    }
    all
};

/// Every route of every function: the local server's router and the template tests.
pub const ROUTES: &[Route] = &ALL_ROUTES;

const ADMIN_PATH_COUNT: usize = {
    let mut n = 0;
    let mut i = 0;
    while i < ALL_ROUTES.len() {
        if matches!(ALL_ROUTES[i].access, Access::Admin) {
            n += 1;
        }
        i += 1;
    }
    n
};

/// The paths of every management route (repeated per method), computed at compile time: a
/// function can read these without linking the handlers [`ROUTES`] refers to.
pub const ADMIN_PATHS: [&str; ADMIN_PATH_COUNT] = {
    let mut paths = [""; ADMIN_PATH_COUNT];
    let mut n = 0;
    let mut i = 0;
    while i < ALL_ROUTES.len() {
        if matches!(ALL_ROUTES[i].access, Access::Admin) {
            paths[n] = ALL_ROUTES[i].path;
            n += 1;
        }
        i += 1;
    }
    paths
};

pub fn of_function(function: Function) -> impl Iterator<Item = &'static Route> {
    function.routes().iter()
}
