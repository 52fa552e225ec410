//! Load benchmark of the local server: clicks/s or postbacks/s and latency percentiles, with N
//! concurrent keep-alive connections for a fixed time.
//!
//! ```sh
//! cargo bench -p affnet-app --bench load -- clicks    [--connections 32] [--seconds 10] [--threads 1]
//! cargo bench -p affnet-app --bench load -- postbacks [--connections 32] [--seconds 10] [--threads 1]
//! ```
//!
//! Builds and starts the real `affnet-local` release binary on a free port with a temporary
//! data directory (`RUST_LOG=warn`: a log line per request would be measured too), creates an
//! integration and an offer through the API, then fires requests. `--url http://host:port` uses
//! a running server instead. On one machine the load generator and the server share the cores:
//! `--threads` is this process's runtime threads.
//!
//! - clicks: `GET /c/{offer}?msg=m1&cr=c1&sub1=bench`, expecting 302.
//! - postbacks: `GET /postback/{integration}?token=..&oid=<click>&eid=<unique>&status=approve&pay=10&cc=USD`
//!   (a new conversion each: eid is unique), expecting 200; the click IDs come from 500 real
//!   clicks made first.

mod client;
mod server;
mod stats;

use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Clicks,
    Postbacks,
}

struct Args {
    mode: Mode,
    connections: usize,
    seconds: u64,
    threads: usize,
    url: Option<String>,
    /// Start the server with request logging on (`RUST_LOG=info`, lines to a file), as deployed.
    log: bool,
}

fn usage() -> ! {
    eprintln!(
        "usage: load clicks|postbacks [--connections N] [--seconds S] [--threads T] [--url URL] [--log]"
    );
    std::process::exit(2)
}

fn parse_args() -> Args {
    let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
    let mode = match args.next().as_deref() {
        Some("clicks") => Mode::Clicks,
        Some("postbacks") => Mode::Postbacks,
        _ => usage(),
    };
    let mut parsed = Args {
        mode,
        connections: 32,
        seconds: 10,
        threads: 1,
        url: None,
        log: false,
    };
    while let Some(flag) = args.next() {
        if flag == "--log" {
            parsed.log = true;
            continue;
        }
        let value = args.next().unwrap_or_else(|| usage());
        let number = || value.parse().unwrap_or_else(|_| usage());
        match flag.as_str() {
            "--connections" => parsed.connections = number(),
            "--seconds" => parsed.seconds = number() as u64,
            "--threads" => parsed.threads = number(),
            "--url" => parsed.url = Some(value.trim_end_matches('/').to_string()),
            _ => usage(),
        }
    }
    parsed
}

fn main() {
    let args = parse_args();
    let mut server = None;
    let base = match &args.url {
        Some(url) => url.clone(),
        None => {
            let started = server::Server::start(args.log);
            let url = started.url.clone();
            server = Some(started);
            url
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.max(1))
        .enable_all()
        .build()
        .expect("tokio runtime");
    let result = runtime.block_on(run(&args, &base));
    drop(server);
    if let Err(e) = result {
        eprintln!("load: {e}");
        std::process::exit(1);
    }
}

type Error = Box<dyn std::error::Error + Send + Sync>;

/// What each request of the run needs.
struct Target {
    mode: Mode,
    base: String,
    offer: String,
    integration: String,
    token: String,
    clicks: Vec<String>,
    /// Makes every postback's `eid` unique across workers, warm-up and run.
    next: std::sync::atomic::AtomicU64,
}

impl Target {
    /// The path and query of the next request.
    fn path(&self) -> String {
        match self.mode {
            Mode::Clicks => format!("/c/{}?msg=m1&cr=c1&sub1=bench", self.offer),
            Mode::Postbacks => {
                let seq = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let click = &self.clicks[seq as usize % self.clicks.len()];
                format!(
                    "/postback/{}?token={}&oid={click}&eid=bench-{seq}&status=approve&pay=10&cc=USD",
                    self.integration, self.token
                )
            }
        }
    }

    fn expected(&self) -> u16 {
        match self.mode {
            Mode::Clicks => 302,
            Mode::Postbacks => 200,
        }
    }
}

async fn run(args: &Args, base: &str) -> Result<(), Error> {
    let client = affnet_netguard::tls::client_builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(args.connections)
        .timeout(Duration::from_secs(10))
        .build()?;
    let target = Arc::new(server::setup(&client, base, args.mode).await?);
    // One second of warm-up (connections, caches), then the measured run.
    fire(&target, args.connections, Duration::from_secs(1)).await;
    let started = Instant::now();
    let workers = fire(&target, args.connections, Duration::from_secs(args.seconds)).await;
    let report = stats::Report::new(workers, started.elapsed());
    println!(
        "{} against {base}: {} connections, {} s, {} load-generator thread(s)",
        match args.mode {
            Mode::Clicks => "clicks",
            Mode::Postbacks => "postbacks",
        },
        args.connections,
        args.seconds,
        args.threads
    );
    report.print();
    if let Some(error) = &report.first_error {
        println!("first error: {error}");
    }
    Ok(())
}

/// A request not answered within this counts as an error (and its connection is dropped).
const TIMEOUT: Duration = Duration::from_secs(10);

/// `connections` workers, each on its own keep-alive connection sending one request at a time
/// until `length` has passed.
async fn fire(target: &Arc<Target>, connections: usize, length: Duration) -> Vec<stats::Worker> {
    let deadline = Instant::now() + length;
    let tasks: Vec<_> = (0..connections)
        .map(|_| {
            let target = target.clone();
            tokio::spawn(async move {
                let mut stats = stats::Worker::default();
                let mut connection = client::Connection::new(&target.base);
                while Instant::now() < deadline {
                    let path = target.path();
                    let sent = Instant::now();
                    let answer = tokio::time::timeout(TIMEOUT, connection.get(&path)).await;
                    let outcome = match answer {
                        Ok(Ok(status)) if status == target.expected() => Ok(()),
                        Ok(Ok(status)) => Err(format!("answered {status}")),
                        Ok(Err(e)) => Err(e),
                        Err(_) => {
                            connection = client::Connection::new(&target.base);
                            Err(format!("no answer within {TIMEOUT:?}"))
                        }
                    };
                    stats.record(sent.elapsed(), outcome);
                }
                stats
            })
        })
        .collect();
    let mut workers = Vec::with_capacity(tasks.len());
    for task in tasks {
        workers.push(task.await.expect("worker"));
    }
    workers
}
