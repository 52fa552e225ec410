//! Every HTTP route: its method and path, the Lambda function that serves it, whether it is a
//! management route, and its handler. This list is the one source: the routers are built from
//! it (so a route cannot exist without its handler), and tests check that `template.yaml`
//! declares exactly these routes on exactly these functions.

use crate::state::AppState;
use crate::{
    click, connection_test, conversions, integrations, offer_sync, offers, postbacks, reports,
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
}

impl Function {
    pub const ALL: [Function; 5] = [
        Function::Api,
        Function::Click,
        Function::Postback,
        Function::OfferSync,
        Function::ConnectionTest,
    ];

    /// The binary's (and crate folder's) name.
    pub fn name(self) -> &'static str {
        match self {
            Function::Api => "api",
            Function::Click => "click",
            Function::Postback => "postback",
            Function::OfferSync => "offer-sync",
            Function::ConnectionTest => "connection-test",
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

pub const ROUTES: &[Route] = &[
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
    admin("GET", "/conversions", Function::Api, || {
        get(conversions::list)
    }),
    admin("GET", "/conversions/{id}", Function::Api, || {
        get(conversions::get)
    }),
    admin("GET", "/reports", Function::Api, || get(reports::report)),
    public("GET", "/c/{offer_id}", Function::Click, || {
        get(click::click)
    }),
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
    admin(
        "POST",
        "/integrations/{id}/test",
        Function::ConnectionTest,
        || post(connection_test::test),
    ),
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
        "GET",
        "/integrations/{id}/sync-logs",
        Function::OfferSync,
        || get(offer_sync::sync_logs),
    ),
];

pub fn of_function(function: Function) -> impl Iterator<Item = &'static Route> {
    ROUTES.iter().filter(move |r| r.function == function)
}
