//! The server under test: the `affnet-local` release binary on a free port over a temporary
//! data directory, stopped when dropped; and the integration and offer the run uses.

use super::{Error, Mode, Target};
use serde_json::{Value, json};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Server {
    pub url: String,
    child: Child,
    _data: tempfile::TempDir,
}

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

impl Server {
    /// Builds (`cargo build --profile local -p affnet-local`, as the README runs it) and starts the server; with `log`, at
    /// `RUST_LOG=info` (a line per request, written to a file in its data directory).
    pub fn start(log: bool) -> Server {
        let root = workspace_root();
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut build = Command::new(cargo);
        build
            .args(["build", "--profile", "local", "-p", "affnet-local"])
            .current_dir(&root);
        // `cargo bench` gives this process its package's CARGO_* variables; build scripts that
        // watch them would rebuild half the tree if the nested build saw them.
        for (name, _) in std::env::vars_os() {
            let name = name.to_string_lossy().into_owned();
            if (name.starts_with("CARGO_")
                && !matches!(name.as_str(), "CARGO_HOME" | "CARGO_TARGET_DIR"))
                || name == "OUT_DIR"
            {
                build.env_remove(name);
            }
        }
        let built = build.status().expect("run cargo build");
        assert!(
            built.success(),
            "cargo build --profile local -p affnet-local failed"
        );
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("target"));
        let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let data = tempfile::tempdir().expect("temp data dir");
        let stdout = match log {
            true => Stdio::from(std::fs::File::create(data.path().join("server.log")).unwrap()),
            false => Stdio::inherit(),
        };
        let child = Command::new(target.join("local").join("affnet-local"))
            .env("AFFNET_LISTEN", format!("127.0.0.1:{port}"))
            .env("AFFNET_DATA_DIR", data.path())
            .env("RUST_LOG", if log { "info" } else { "warn" })
            .env_remove("AFFNET_ADMIN_TOKEN")
            .stdin(Stdio::null())
            .stdout(stdout)
            .spawn()
            .expect("start affnet-local");
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_err() {
            assert!(Instant::now() < deadline, "affnet-local did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
        eprintln!("affnet-local (pid {}) on 127.0.0.1:{port}", child.id());
        Server {
            url: format!("http://127.0.0.1:{port}"),
            child,
            _data: data,
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn post(client: &reqwest::Client, url: String, body: Value) -> Result<Value, Error> {
    let response = client.post(&url).json(&body).send().await?;
    let status = response.status();
    let text = response.text().await?;
    if !status.is_success() {
        return Err(format!("POST {url}: {status} {text}").into());
    }
    Ok(serde_json::from_str(&text)?)
}

fn string(value: &Value, field: &str) -> Result<String, Error> {
    value[field]
        .as_str()
        .map(String::from)
        .ok_or_else(|| format!("no `{field}` in {value}").into())
}

/// Clicks made before a postback run; the postbacks cycle through their click IDs.
const CLICKS_FOR_POSTBACKS: usize = 500;

/// An integration (Everad: a CPA network without API credentials) and an active offer on it;
/// for postbacks, real clicks on the offer whose IDs the postbacks carry.
pub async fn setup(client: &reqwest::Client, base: &str, mode: Mode) -> Result<Target, Error> {
    let integration = post(
        client,
        format!("{base}/integrations"),
        json!({"network": "everad", "name": "load bench"}),
    )
    .await?;
    let offer = post(
        client,
        format!("{base}/offers"),
        json!({
            "integration_id": string(&integration, "id")?,
            "name": "load bench",
            "tracking_url": "https://network.example/go?flow=1&sid1={click_id}",
            "payout": "10", "currency": "USD", "payout_type": "cpa_flat",
            "params": {"everad": "1"},
        }),
    )
    .await?;
    let offer = string(&offer, "id")?;
    let mut clicks = Vec::new();
    if mode == Mode::Postbacks {
        for _ in 0..CLICKS_FOR_POSTBACKS {
            let r = client
                .get(format!("{base}/c/{offer}?msg=m1"))
                .send()
                .await?;
            let location = r
                .headers()
                .get("location")
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| format!("click answered {} without Location", r.status()))?;
            let id = location.rsplit("sid1=").next().unwrap_or_default();
            clicks.push(id.to_string());
        }
    }
    Ok(Target {
        mode,
        base: base.to_string(),
        offer,
        integration: string(&integration, "id")?,
        token: string(&integration, "postback_token")?,
        clicks,
        next: Default::default(),
    })
}
