//! `affnet-local`: the whole product on one socket, over the embedded store. The routers are the
//! very ones the Lambda functions serve.

use affnet_app::{AppState, Config, router, telemetry};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    telemetry::init_local();
    let config = Config::from_env();
    let listen = std::env::var("AFFNET_LISTEN").unwrap_or_else(|_| "127.0.0.1:3000".into());
    let data_dir =
        PathBuf::from(std::env::var("AFFNET_DATA_DIR").unwrap_or_else(|_| ".affnet".into()));
    let db = data_dir.join("affnet.db");
    let store = Arc::new(affnet_store::SqliteStore::open(&db)?);
    if config.admin_token.is_none() {
        tracing::warn!(
            "AFFNET_ADMIN_TOKEN is not set: the management API is open to anyone who can reach {listen}"
        );
    }
    // Automatic offer sync runs in-process here (EventBridge Scheduler on AWS).
    let scheduler = affnet_app::schedule_local::LocalScheduler::new();
    let state = AppState::new(store, config).with_scheduler(scheduler.clone());
    scheduler.start(state.clone()).await?;
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    tracing::info!(addr = %listener.local_addr()?, store = %db.display(), "affnet local server listening");
    axum::serve(
        listener,
        router::local(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown_signal())
    .await?;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutting down: finishing requests in flight");
}
