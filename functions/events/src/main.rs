//! Lambda function `events`: invoked by the table's DynamoDB stream with the outbox items
//! (filtered by its event source mapping), publishes each event to the EventBridge bus and the
//! configured webhooks, and reports the records it could not send as batch item failures (see
//! shared/app/src/events/lambda.rs).

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    affnet_app::telemetry::init_lambda();
    // Init failures (configuration, secrets) are reported to the Runtime API's init-error
    // endpoint before the process exits.
    affnet_app::events::lambda::run().await
}
