//! `affnet-local`: the whole product on one socket, over the embedded store. The routers are the
//! very ones the Lambda functions serve.

use affnet_app::config::{ConfigError, LocalConfig};
use affnet_app::{AppState, Config, router, telemetry};
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

mod serve;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    telemetry::init_local();
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Startup failures go to stderr, apart from the log lines on stdout.
            eprintln!("affnet-local: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    // First, before the store and the listener take descriptors.
    let descriptors = serve::raise_descriptor_limit();
    let LocalConfig {
        listen,
        data_dir,
        header_timeout,
        idle_timeout,
        max_connections,
    } = LocalConfig::from_env()?;
    let limits = serve::Limits {
        header_timeout,
        idle_timeout,
        max_connections: serve::connection_cap(max_connections, descriptors),
    };
    std::fs::create_dir_all(&data_dir).map_err(|e| {
        format!(
            "cannot create the data directory {} ({e}); AFFNET_DATA_DIR sets it",
            data_dir.display()
        )
    })?;
    let data_dir = std::path::absolute(&data_dir)?;
    // Held until the process ends: one server per data directory.
    let _lock = lock_data_dir(&data_dir)?;
    tracing::info!(data_dir = %data_dir.display(), "data directory");
    let config = Config::from_env_or(|| {
        local_click_secret(&data_dir).map_err(|e| {
            ConfigError(format!(
                "the local click secret in {} ({e})",
                data_dir.display()
            ))
        })
    })?;
    let db = data_dir.join("affnet.db");
    let store = Arc::new(affnet_store::SqliteStore::open(&db)?);
    // Bind before anything starts running, so a busy port fails fast.
    let listener = tokio::net::TcpListener::bind(&listen)
        .await
        .map_err(|e| bind_error(&listen, &e))?;
    if config.admin_token.is_none() {
        tracing::warn!(
            "AFFNET_ADMIN_TOKEN is not set: the management API is open to anyone who can reach {listen}"
        );
    }
    // Automatic offer sync, reconciliation and each integration's status loading run
    // in-process here (EventBridge Scheduler on AWS).
    let scheduler = affnet_app::schedule_local::LocalScheduler::new();
    let state = AppState::new(store, config)
        .with_scheduler(scheduler.clone())
        .with_own_address(listener.local_addr()?);
    // Data of an older layout (one totals item per dimension and day, one index partition).
    let migrated = state.repo.migrate_to_sharded().await?;
    if migrated != affnet_store::migrate::Migrated::default() {
        tracing::info!(
            totals = migrated.totals,
            conversions = migrated.conversions,
            "moved stored data to the sharded layout"
        );
    }
    scheduler.start(state.clone()).await?;
    // Lead retries, erasure of personal data and the silence watch: every minute, in-process
    // here (EventBridge Scheduler invokes the offer-sync function for them on AWS). Status
    // loading is not on this tick: the scheduler above runs it per integration.
    let _lead_jobs = affnet_app::leads::jobs::spawn_local(state.clone(), Duration::from_secs(60));
    // Webhook deliveries drain the event feed here (the events function does on AWS).
    let deliveries = affnet_app::events::drain::start(&state)?;
    let shutdown = shutdown_signal()?;
    tracing::info!(
        max_connections = limits.max_connections,
        descriptor_limit = descriptors,
        header_timeout_secs = header_timeout.as_secs(),
        idle_timeout_secs = idle_timeout.as_secs(),
        "connection limits"
    );
    tracing::info!(addr = %listener.local_addr()?, store = %db.display(), "affnet local server listening");
    serve::serve(listener, router::local(state), limits, shutdown).await;
    if let Some(deliveries) = deliveries {
        deliveries.stop(Duration::from_secs(10)).await;
    }
    tracing::info!("stopped");
    Ok(())
}

/// What a failed bind means, with the address and how to change it.
fn bind_error(listen: &str, e: &std::io::Error) -> String {
    let why = match e.kind() {
        std::io::ErrorKind::AddrInUse => {
            "the address is already in use (another affnet-local, or another program)".to_string()
        }
        std::io::ErrorKind::AddrNotAvailable => {
            "the address is not one of this machine's".to_string()
        }
        std::io::ErrorKind::PermissionDenied => {
            "permission denied (ports below 1024 need privileges)".to_string()
        }
        _ => e.to_string(),
    };
    format!(
        "cannot listen on {listen}: {why}; set AFFNET_LISTEN to another address, e.g. AFFNET_LISTEN=127.0.0.1:3001"
    )
}

/// Takes the data directory's lock file (an advisory OS lock, released when the process ends,
/// however it ends): a second server on the same store is refused instead of sharing it.
fn lock_data_dir(data_dir: &Path) -> Result<std::fs::File, String> {
    use fs4::FileExt;
    let path = data_dir.join("lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| format!("cannot open the lock file {} ({e})", path.display()))?;
    match FileExt::try_lock(&file) {
        Ok(()) => Ok(file),
        Err(fs4::TryLockError::WouldBlock) => Err(format!(
            "the data directory {} is in use by another affnet-local (it holds {}); stop that server, or set AFFNET_DATA_DIR to another directory",
            data_dir.display(),
            path.display()
        )),
        Err(e) => Err(format!("cannot lock {} ({e})", path.display())),
    }
}

/// The click secret of a local installation: made once, kept in the data directory (readable by
/// its owner only), so click IDs stay valid across restarts.
fn local_click_secret(data_dir: &Path) -> std::io::Result<String> {
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

/// Resolves on Ctrl-C or SIGTERM. The handlers are installed when this is called, not when the
/// future is first polled, so a signal right after the "listening" line still stops cleanly.
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    #[cfg(unix)]
    let wait = {
        use tokio::signal::unix::{SignalKind, signal};
        let mut interrupt = signal(SignalKind::interrupt())?;
        let mut term = signal(SignalKind::terminate())?;
        async move {
            tokio::select! {
                _ = interrupt.recv() => {},
                _ = term.recv() => {},
            }
        }
    };
    #[cfg(not(unix))]
    let wait = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    Ok(async move {
        wait.await;
        tracing::info!("shutting down: finishing requests in flight");
    })
}
