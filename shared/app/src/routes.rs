//! Every HTTP route, which Lambda function serves it and whether it is a management route.
//!
//! This list is the one source: each function's router is checked against it, and a test checks
//! that `template.yaml` declares exactly these routes on exactly these functions.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Management API: `Authorization: Bearer $AFFNET_ADMIN_TOKEN` locally, IAM on AWS.
    Admin,
    /// Called by browsers (clicks) or networks (postbacks): no admin auth.
    Public,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub method: &'static str,
    /// axum / API Gateway path syntax: `/integrations/{id}`.
    pub path: &'static str,
    /// The Lambda function (crate `functions/<function>`, binary `<function>`).
    pub function: &'static str,
    pub access: Access,
}

const fn admin(method: &'static str, path: &'static str, function: &'static str) -> Route {
    Route {
        method,
        path,
        function,
        access: Access::Admin,
    }
}

const fn public(method: &'static str, path: &'static str, function: &'static str) -> Route {
    Route {
        method,
        path,
        function,
        access: Access::Public,
    }
}

pub const FUNCTIONS: &[&str] = &["api", "click", "postback", "offer-sync", "connection-test"];

pub const ROUTES: &[Route] = &[
    admin("GET", "/networks", "api"),
    admin("POST", "/integrations", "api"),
    admin("GET", "/integrations", "api"),
    admin("GET", "/integrations/{id}", "api"),
    admin("PATCH", "/integrations/{id}", "api"),
    admin("DELETE", "/integrations/{id}", "api"),
    admin("POST", "/integrations/{id}/rotate-token", "api"),
    admin("POST", "/offers", "api"),
    admin("GET", "/offers", "api"),
    admin("GET", "/offers/{id}", "api"),
    admin("PATCH", "/offers/{id}", "api"),
    admin("GET", "/integrations/{id}/postback-url", "api"),
    admin("GET", "/integrations/{id}/postbacks", "api"),
    admin("GET", "/conversions", "api"),
    admin("GET", "/conversions/{id}", "api"),
    admin("GET", "/reports", "api"),
    public("GET", "/c/{offer_id}", "click"),
    public("GET", "/postback/{integration_id}", "postback"),
    public("POST", "/postback/{integration_id}", "postback"),
    public("GET", "/api/sale/status.json", "postback"),
    public("POST", "/api/sale/status.json", "postback"),
    public("GET", "/api/comp/status.json", "postback"),
    public("POST", "/api/comp/status.json", "postback"),
    admin("POST", "/integrations/{id}/test", "connection-test"),
    admin("GET", "/integrations/{id}/remote-offers", "offer-sync"),
    admin("POST", "/integrations/{id}/sync", "offer-sync"),
    admin("GET", "/integrations/{id}/sync-logs", "offer-sync"),
];

pub fn of_function(function: &str) -> impl Iterator<Item = &'static Route> + '_ {
    ROUTES.iter().filter(move |r| r.function == function)
}
