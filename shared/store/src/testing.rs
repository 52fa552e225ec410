//! Test support: a DynamoDB-compatible endpoint (moto) and fresh tables on it.
//!
//! `AFFNET_TEST_DYNAMODB_ENDPOINT` names a running endpoint (the test command starts one);
//! without it the first test that asks starts `moto_server` itself, once per test binary, and
//! a watchdog shell stops it when the test process is gone. Without moto, tests that need it
//! fail: they never skip.
//!
//! moto does not apply a request atomically (two concurrent `UpdateItem ADD`s on a new item can
//! lose one; a cancelled transaction restores a snapshot of the whole table, undoing concurrent
//! writes). DynamoDB does, so the test client sends one request at a time per test process, which
//! is exactly the per-request atomicity the adapter relies on; requests of concurrent tasks still
//! interleave freely.

use crate::DynamoStore;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::{HttpRequest, HttpResponse};
use aws_smithy_runtime_api::client::result::ConnectorError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tokio::sync::OnceCell;

pub const ENDPOINT_VAR: &str = "AFFNET_TEST_DYNAMODB_ENDPOINT";

const NO_MOTO: &str = "DynamoDB tests need moto and could not find `moto_server` (looked in \
     <workspace>/.venv/bin and on PATH). Run the README's test command, `./scripts/test.sh` (it \
     installs moto into ./.venv), or `pip install 'moto[server]'`, or set \
     AFFNET_TEST_DYNAMODB_ENDPOINT to a running DynamoDB-compatible endpoint.";

static MOTO: OnceCell<String> = OnceCell::const_new();

/// The DynamoDB endpoint for tests: `AFFNET_TEST_DYNAMODB_ENDPOINT`, or a `moto_server` this
/// process starts (once) on a free loopback port. Panics if neither is available.
pub async fn moto_endpoint() -> String {
    if let Some(endpoint) = std::env::var(ENDPOINT_VAR).ok().filter(|e| !e.is_empty()) {
        return endpoint;
    }
    MOTO.get_or_init(start_moto).await.clone()
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("..")
}

fn find_moto() -> Option<PathBuf> {
    let venv = workspace_root()
        .join(".venv")
        .join("bin")
        .join("moto_server");
    if venv.is_file() {
        return Some(venv);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("moto_server"))
        .find(|candidate| candidate.is_file())
}

fn free_port() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind a loopback port");
    listener.local_addr().expect("bound address").port()
}

/// Runs `moto_server ARGS` in the background and stops it as soon as process `$1` (this test
/// process) is gone, however that process ends.
const WATCHDOG: &str = r#"parent=$1; shift
"$@" &
moto=$!
trap 'kill "$moto" 2>/dev/null' EXIT HUP INT TERM
while kill -0 "$parent" 2>/dev/null && kill -0 "$moto" 2>/dev/null; do sleep 1; done
"#;

async fn start_moto() -> String {
    let moto = find_moto().unwrap_or_else(|| panic!("{NO_MOTO}"));
    let mut last_log = String::new();
    // A port picked free may be taken before moto binds it: then try another.
    for _ in 0..3 {
        let port = free_port();
        let log_path = std::env::temp_dir().join(format!("affnet-moto-{port}.log"));
        let log = std::fs::File::create(&log_path).expect("create the moto log file");
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(WATCHDOG)
            .arg("affnet-moto-watchdog")
            .arg(std::process::id().to_string())
            .arg(&moto)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone the log handle"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("could not start {}: {e}", moto.display()));
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok() {
                // Reaps the watchdog should moto stop before this process does.
                std::thread::spawn(move || child.wait());
                return format!("http://127.0.0.1:{port}");
            }
            if child.try_wait().ok().flatten().is_some() || Instant::now() > deadline {
                let _ = child.kill();
                last_log = std::fs::read_to_string(&log_path).unwrap_or_default();
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    panic!(
        "{} did not start; its output:\n{last_log}\n{NO_MOTO}",
        moto.display()
    );
}

/// The HTTP transport of test clients: one request at a time in this process (see the module
/// docs), plain HTTP to the local endpoint.
#[derive(Debug, Clone)]
struct OneAtATime {
    http: reqwest::Client,
}

static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

impl OneAtATime {
    async fn send(&self, request: HttpRequest) -> Result<HttpResponse, ConnectorError> {
        let _turn = TURN.lock().await;
        affnet_netguard::aws_http::send(&self.http, request).await
    }
}

impl HttpConnector for OneAtATime {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let this = self.clone();
        HttpConnectorFuture::new(async move { this.send(request).await })
    }
}

impl HttpClient for OneAtATime {
    fn http_connector(
        &self,
        _settings: &HttpConnectorSettings,
        _components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(self.clone())
    }
}

/// A client to `endpoint` with fake static credentials, region us-east-1, sending one request at
/// a time (see the module docs), for tests.
pub fn test_client(endpoint: &str) -> Client {
    let http = affnet_netguard::tls::client_builder()
        .timeout(Duration::from_secs(30))
        .build()
        .expect("an HTTP client");
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .http_client(OneAtATime { http })
        // Waiting for the one connection reads as a stalled stream to the SDK; the reqwest
        // timeout above bounds each request instead.
        .stalled_stream_protection(
            aws_sdk_dynamodb::config::StalledStreamProtectionConfig::disabled(),
        )
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new("test", "test", None, None, "affnet-test"))
        .build();
    Client::from_conf(config)
}

/// A store on a new, uniquely named table on the test endpoint.
pub async fn fresh_dynamo_store() -> DynamoStore {
    let client = test_client(&moto_endpoint().await);
    let table = format!(
        "affnet-test-{}",
        ulid::Ulid::new().to_string().to_lowercase()
    );
    DynamoStore::create_table(&client, &table)
        .await
        .unwrap_or_else(|e| panic!("create test table {table}: {e}"));
    DynamoStore::new(client, table)
}
