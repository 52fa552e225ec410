//! The Lambda boundary: the real function binaries, each started under its own Runtime API
//! emulator ([`runtime_api`]) with DynamoDB behind a proxy that enforces the function's grants
//! from template.yaml ([`iam_proxy`]), fed API Gateway and EventBridge Scheduler events
//! ([`events`]).
#![allow(dead_code)]

pub mod events;
pub mod iam_proxy;
pub mod runtime_api;
pub mod stream;

use events::{Body, HttpResponse};
use iam_proxy::IamProxy;
use runtime_api::{InitFailure, Outcome, RuntimeApi};
use serde_json::{Value, json};
use serde_yaml_ng::Value as Yaml;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// The function crates the boundary tests run.
pub const FUNCTIONS: &[&str] = &[
    "api",
    "click",
    "postback",
    "offer-sync",
    "connection-test",
    "lead",
    "events",
];

/// The bus the events function is started with (`AFFNET_EVENT_BUS_NAME`).
pub const EVENT_BUS: &str = "affnet-test-events";

/// The click secret the functions sign with (at least 16 bytes).
pub const CLICK_SECRET: &str = "lambda-boundary-test-click-secret-0123456789";

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// `<target>/<profile>`: where this test binary's own build put the binaries.
fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    // <target>/<profile>/deps/<test binary>
    exe.parent().and_then(Path::parent).unwrap().to_path_buf()
}

/// Builds the function binaries once per test process, with the same cargo, target directory
/// and profile as this test binary (debug for the tests, release for the bench), or the
/// profile `AFFNET_FUNCTION_PROFILE` names (`lambda`: the packages' own); returns the folder
/// they are in.
pub fn function_binaries() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let mut profile = profile_dir();
        let target = profile.parent().unwrap().to_path_buf();
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let mut command = std::process::Command::new(cargo);
        command
            .current_dir(workspace_root())
            .args(["build", "--bins", "--quiet"])
            .env("CARGO_TARGET_DIR", &target);
        match std::env::var("AFFNET_FUNCTION_PROFILE") {
            Ok(named) if !named.trim().is_empty() => {
                command.args(["--profile", named.trim()]);
                profile = target.join(named.trim());
            }
            _ if profile.file_name().is_some_and(|p| p == "release") => {
                command.arg("--release");
            }
            _ => {}
        }
        for function in FUNCTIONS {
            command.args(["-p", &format!("affnet-fn-{function}")]);
        }
        let status = command
            .status()
            .expect("run cargo build for the function binaries");
        assert!(
            status.success(),
            "cargo build of the function binaries failed"
        );
        profile
    })
}

/// template.yaml, parsed (short tags kept as tagged values: only plain strings are read here).
pub fn template() -> &'static Yaml {
    static TEMPLATE: OnceLock<Yaml> = OnceLock::new();
    TEMPLATE.get_or_init(|| {
        let text = std::fs::read_to_string(workspace_root().join("template.yaml")).unwrap();
        serde_yaml_ng::from_str(&text).unwrap()
    })
}

fn as_list(value: Option<&Yaml>) -> Vec<&Yaml> {
    match value {
        Some(Yaml::Sequence(items)) => items.iter().collect(),
        Some(other) => vec![other],
        None => vec![],
    }
}

/// The filter of the event source mapping of the outbox (its one pattern), from template.yaml.
pub fn stream_filter() -> Value {
    mapping_filter("EventsStream")
}

/// The filter of the event source mapping of the counter ledger, from template.yaml.
pub fn ledger_filter() -> Value {
    mapping_filter("CountersStream")
}

fn mapping_filter(logical_id: &str) -> Value {
    let mapping = &template()["Resources"][logical_id];
    assert_eq!(
        mapping["Type"].as_str(),
        Some("AWS::Lambda::EventSourceMapping"),
        "template.yaml has no event source mapping {logical_id}"
    );
    let pattern = mapping["Properties"]["FilterCriteria"]["Filters"][0]["Pattern"]
        .as_str()
        .expect("a filter pattern");
    serde_json::from_str(pattern).unwrap()
}

/// The function resource whose `Metadata.BuildProperties.Binary` is `binary`.
fn function_resource(binary: &str) -> &'static Yaml {
    let resources = template()["Resources"].as_mapping().unwrap();
    resources
        .values()
        .find(|r| {
            r["Type"].as_str() == Some("AWS::Serverless::Function")
                && r["Metadata"]["BuildProperties"]["Binary"].as_str() == Some(binary)
        })
        .unwrap_or_else(|| panic!("template.yaml has no function for binary {binary}"))
}

/// The DynamoDB and Secrets Manager actions template.yaml grants the function, from every
/// `Allow` statement of its policies (read generically: whatever other statements and resources
/// the template adds).
pub fn granted_actions(binary: &str) -> BTreeSet<String> {
    let mut granted = BTreeSet::new();
    for policy in as_list(function_resource(binary)["Properties"].get("Policies")) {
        for statement in as_list(policy.get("Statement")) {
            if statement["Effect"].as_str() != Some("Allow") {
                continue;
            }
            for action in as_list(statement.get("Action")) {
                if let Some(action) = action
                    .as_str()
                    .filter(|a| a.starts_with("dynamodb:") || a.starts_with("secretsmanager:"))
                {
                    granted.insert(action.to_string());
                }
            }
        }
    }
    granted
}

/// The function's Lambda timeout (its own `Timeout`, else `Globals.Function.Timeout`).
pub fn lambda_timeout(binary: &str) -> Duration {
    let own = function_resource(binary)["Properties"].get("Timeout");
    let global = template()["Globals"]["Function"].get("Timeout");
    let seconds = own.or(global).and_then(Yaml::as_u64).unwrap_or(3);
    Duration::from_secs(seconds)
}

/// One function process under the emulator, with its DynamoDB proxy.
pub struct Function {
    pub name: &'static str,
    pub runtime: RuntimeApi,
    pub dynamodb: IamProxy,
    child: std::process::Child,
    pub log: PathBuf,
    /// When the process was spawned.
    pub started: Instant,
}

impl Function {
    /// Starts the function binary `name` on `table`; `env` adds or overrides variables
    /// (`("AFFNET_CLICK_SECRET", None)` removes one).
    pub async fn start(
        name: &'static str,
        moto: &str,
        table: &str,
        env: &[(&str, Option<&str>)],
    ) -> Function {
        let binary = function_binaries().join(name);
        let function_name = format!("affnet-test-{name}");
        let runtime = RuntimeApi::start(&function_name).await;
        let dynamodb = IamProxy::start(&function_name, moto, granted_actions(name)).await;
        let logs = profile_dir().join("lambda-boundary-logs");
        std::fs::create_dir_all(&logs).unwrap();
        let log = logs.join(format!("{name}-{}.log", ulid::Ulid::new()));
        let out = std::fs::File::create(&log).unwrap();
        let mut command = std::process::Command::new(&binary);
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("AWS_LAMBDA_RUNTIME_API", runtime.addr.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", &function_name)
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
            .env(
                "AWS_LAMBDA_LOG_GROUP_NAME",
                format!("/aws/lambda/{function_name}"),
            )
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "2026/12/01/[$LATEST]test")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_DEFAULT_REGION", "us-east-1")
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_SESSION_TOKEN", "test")
            .env("AWS_CONFIG_FILE", "/dev/null")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_ENDPOINT_URL", dynamodb.url())
            .env("AFFNET_STORE", "dynamodb")
            .env("AFFNET_TABLE", table)
            .env("AFFNET_CLICK_SECRET", CLICK_SECRET)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out);
        // What template.yaml sets on the events function (its bus is a stack resource).
        if name == "events" {
            command.env("AFFNET_EVENT_BUS_NAME", EVENT_BUS);
        }
        for (key, value) in env {
            match value {
                Some(value) => command.env(key, value),
                None => command.env_remove(key),
            };
        }
        let started = Instant::now();
        let child = command
            .spawn()
            .unwrap_or_else(|e| panic!("start {}: {e}", binary.display()));
        Function {
            name,
            runtime,
            dynamodb,
            child,
            log,
            started,
        }
    }

    /// How long the process took from spawn to its first poll for an invocation (its init),
    /// waiting up to `timeout`.
    pub async fn init_time(&self, timeout: Duration) -> Option<Duration> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(polled) = self.runtime.first_poll() {
                return Some(polled - self.started);
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        None
    }

    /// The function's output so far (JSON log lines).
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Invokes the function with `payload`, waiting at most its Lambda timeout.
    pub async fn invoke(&self, payload: Value) -> (Option<Outcome>, Duration) {
        let started = Instant::now();
        let outcome = self
            .runtime
            .invoke(payload, lambda_timeout(self.name))
            .await;
        (outcome, started.elapsed())
    }

    /// Invokes with an API Gateway event and returns the HTTP response and how long it took;
    /// panics (with the function's output) if the function answered nothing in time or failed.
    pub async fn http(&self, event: Value) -> (HttpResponse, Duration) {
        let (outcome, took) = self.invoke(event).await;
        match outcome {
            Some(Outcome::Response(value)) => (HttpResponse::from_lambda(&value), took),
            Some(Outcome::Error {
                error_type,
                message,
            }) => panic!(
                "{}: invocation error {error_type}: {message}\n{}",
                self.name,
                self.output()
            ),
            None => panic!(
                "{}: no answer within its Lambda timeout of {:?}\n{}",
                self.name,
                lambda_timeout(self.name),
                self.output()
            ),
        }
    }

    /// The init failure the function reported, if it reported one within `timeout`.
    pub async fn init_failure(&self, timeout: Duration) -> Option<InitFailure> {
        self.runtime.init_failure(timeout).await
    }

    /// Waits for the process to exit; its exit status.
    pub async fn exit_status(&mut self, timeout: Duration) -> Option<std::process::ExitStatus> {
        let started = Instant::now();
        while started.elapsed() < timeout {
            if let Some(status) = self.child.try_wait().ok().flatten() {
                return Some(status);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        None
    }
}

impl Drop for Function {
    fn drop(&mut self) {
        // Only this test's own child process.
        let _ = self.child.kill();
        let _ = self.child.wait();
        // A failing test shows what each of its functions logged (CI keeps no files).
        if std::thread::panicking() {
            eprintln!(
                "--- {} logged ({}):\n{}",
                self.name,
                self.log.display(),
                self.output()
            );
        }
    }
}

pub struct Seeded {
    pub integration: String,
    pub token: String,
    pub offer: String,
}

/// A TUNE integration and an offer, created through the api function.
pub async fn seed(api: &Function) -> Seeded {
    let (created, _) = api
        .http(events::http(
            "POST",
            "/integrations",
            "/integrations",
            "",
            Body::Json(json!({
                "network": "tune", "name": "TUNE main",
                "credentials": {"api_key": "NETxxxxxxxxxxxxxxxxxxxxxxxxxxx"},
                "settings": {"network_id": "demo"}
            })),
        ))
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let integration = created.json["id"].as_str().unwrap().to_string();
    let token = created.json["postback_token"].as_str().unwrap().to_string();
    let (offer, _) = api
        .http(events::http(
            "POST",
            "/offers",
            "/offers",
            "",
            Body::Json(json!({
                "integration_id": integration, "name": "Keto Diet", "payout": "15.00",
                "currency": "USD",
                "tracking_url": "https://demo.go2cloud.org/aff_c?offer_id=26&aff_click_id={click_id}"
            })),
        ))
        .await;
    assert_eq!(offer.status, 201, "{}", offer.body);
    Seeded {
        integration,
        token,
        offer: offer.json["id"].as_str().unwrap().to_string(),
    }
}

/// The click ID in a redirect's `Location`.
pub fn click_id_of(location: &str) -> String {
    let url = reqwest::Url::parse(location).unwrap();
    url.query_pairs()
        .find(|(k, _)| k == "aff_click_id")
        .map(|(_, v)| v.to_string())
        .unwrap_or_else(|| panic!("no aff_click_id in {location}"))
}
