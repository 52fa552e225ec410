//! Logging setup for both hosts. Request logs carry method, path, status and latency, never the
//! query string or body (postback tokens and credentials travel there).

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// `RUST_LOG` as a list of `level` and `target=level` directives (`info`,
/// `info,affnet_app=debug`); `info` when unset. A directive list that does not parse is named on
/// stderr and `info` is used. (`Targets`, not `EnvFilter`: span and field filters are not needed
/// here, and EnvFilter's regex engine was a tenth of a package.)
pub fn filter_from(value: Option<&str>) -> Targets {
    let default = || Targets::new().with_default(tracing::Level::INFO);
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => default(),
        Some(text) => text.parse().unwrap_or_else(|e| {
            eprintln!("RUST_LOG={text:?} is not a list of level or target=level directives ({e}); logging at info");
            default()
        }),
    }
}

fn filter() -> Targets {
    filter_from(std::env::var("RUST_LOG").ok().as_deref())
}

/// JSON lines, as CloudWatch's JSON log format expects.
pub fn init_lambda() {
    let lines = tracing_subscriber::fmt::layer()
        .json()
        .with_current_span(false)
        .with_ansi(false)
        .without_time(); // CloudWatch stamps each line
    tracing_subscriber::registry()
        .with(lines)
        .with(filter())
        .init();
}

/// Human-readable lines on stdout.
pub fn init_local() {
    use std::io::IsTerminal;
    let lines = tracing_subscriber::fmt::layer()
        .with_target(false)
        .with_ansi(std::io::stdout().is_terminal());
    tracing_subscriber::registry()
        .with(lines)
        .with(filter())
        .init();
}

pub async fn log_request(request: Request, next: Next) -> Response {
    // Under RUST_LOG=warn (a busy server) the line is never written: skip gathering it.
    if !tracing::enabled!(tracing::Level::INFO) {
        return next.run(request).await;
    }
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    tracing::info!(
        %method,
        %path,
        status = response.status().as_u16(),
        micros = started.elapsed().as_micros() as u64,
        "request"
    );
    response
}

#[cfg(test)]
mod tests {
    use super::filter_from;
    use tracing::Level;
    use tracing_subscriber::filter::LevelFilter;

    #[test]
    fn rust_log_directives_set_levels_per_target() {
        let filter = filter_from(Some("warn,affnet_app=debug"));
        assert!(filter.would_enable("affnet_app::postbacks", &Level::DEBUG));
        assert!(!filter.would_enable("affnet_store", &Level::INFO));
        assert!(filter.would_enable("affnet_store", &Level::WARN));
    }

    #[test]
    fn unset_empty_or_unreadable_rust_log_means_info() {
        for value in [None, Some(""), Some("  "), Some("info,affnet=loud")] {
            let filter = filter_from(value);
            assert!(filter.would_enable("affnet_app", &Level::INFO), "{value:?}");
            assert!(
                !filter.would_enable("affnet_app", &Level::DEBUG),
                "{value:?}"
            );
        }
        assert_eq!(
            filter_from(Some("off")).default_level(),
            Some(LevelFilter::OFF)
        );
    }
}
