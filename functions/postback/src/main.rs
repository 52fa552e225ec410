//! Lambda function `postback`: builds configuration and clients once per container, then serves the
//! shared router for its routes (see shared/app/src/routes.rs).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    affnet_app::telemetry::init_lambda();
    let state = affnet_app::aws::state_from_env().await?;
    lambda_http::run(affnet_app::router::for_function(
        affnet_app::routes::Function::Postback,
        state,
    ))
    .await
}
