//! Lambda function `offer-sync`: builds configuration and clients once per container, then
//! serves its routes (see shared/app/src/routes.rs) and EventBridge Scheduler's invocations
//! `{"integration_id": ...}` (see shared/app/src/lambda_offer_sync.rs).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    affnet_app::telemetry::init_lambda();
    // Init failures (configuration, click secret) are reported to the Runtime API's init-error
    // endpoint before the process exits.
    affnet_app::aws::run_offer_sync().await
}
