//! Lambda function `postback`: builds configuration and clients once per container, then serves the
//! shared router for its routes (see shared/app/src/routes.rs).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    affnet_app::telemetry::init_lambda();
    // Init failures (configuration, click secret) are reported to the Runtime API's init-error
    // endpoint before the process exits.
    affnet_app::aws::run_http::<affnet_app::routes::bin::Postback>().await
}
