//! `affnet-local`: the whole product on one socket, over the embedded store. The routers are the
//! very ones the Lambda functions serve.

use affnet_app::{AppState, Config, router, telemetry};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    telemetry::init_local();
    let listen = std::env::var("AFFNET_LISTEN").unwrap_or_else(|_| "127.0.0.1:3000".into());
    let data_dir =
        PathBuf::from(std::env::var("AFFNET_DATA_DIR").unwrap_or_else(|_| ".affnet".into()));
    std::fs::create_dir_all(&data_dir)?;
    let config = match std::env::var("AFFNET_CLICK_SECRET") {
        Ok(_) => Config::from_env()?,
        Err(_) => Config::from_env_with_click_secret(&local_click_secret(&data_dir)?)?,
    };
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

/// The click secret of a local installation: made once, kept in the data directory (readable by
/// its owner only), so click IDs stay valid across restarts.
fn local_click_secret(data_dir: &std::path::Path) -> std::io::Result<String> {
    let path = data_dir.join("click-secret");
    match std::fs::read_to_string(&path) {
        Ok(secret) => Ok(secret.trim().to_string()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let secret = affnet_core::ids::random_hex(32);
            let mut options = std::fs::OpenOptions::new();
            options.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
            std::io::Write::write_all(&mut options.open(&path)?, secret.as_bytes())?;
            tracing::info!(path = %path.display(), "created the local click secret");
            Ok(secret)
        }
        Err(e) => Err(e),
    }
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
