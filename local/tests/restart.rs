//! The README's promise, end to end on the real binary: start the local server, list networks,
//! create a TUNE and a LeadBit integration, restart, still see both; no secret in any response.

use serde_json::{Value, json};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

struct Server {
    child: Child,
    base: String,
}

impl Server {
    fn start(data_dir: &std::path::Path) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_affnet-local"))
            .env("AFFNET_LISTEN", "127.0.0.1:0")
            .env("AFFNET_DATA_DIR", data_dir)
            .env("AFFNET_ADMIN_TOKEN", "admin-test-token")
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .spawn()
            .expect("start affnet-local");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let base = loop {
            let line = lines.next().expect("server exited early").unwrap();
            if let Some(rest) = line.split("addr=").nth(1) {
                let addr = rest.split_whitespace().next().unwrap();
                break format!("http://{addr}");
            }
        };
        // Keep draining the log so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Server { child, base }
    }

    fn stop(mut self) {
        // SIGINT, like Ctrl-C: the server must shut down cleanly.
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-INT", &pid]).status().unwrap();
        let status = self.child.wait().unwrap();
        assert!(status.success(), "server exit status: {status}");
    }
}

const SECRETS: [&str; 2] = ["NETsecrettuneapikey000000001", "leadbit-secret-token-xyz"];

async fn request(method: reqwest::Method, url: String, body: Option<Value>) -> (u16, Value) {
    let client = affnet_netguard::tls::client_builder().build().unwrap();
    let mut req = client.request(method, url).bearer_auth("admin-test-token");
    if let Some(body) = body {
        req = req.json(&body);
    }
    let response = req.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    for secret in SECRETS {
        assert!(!text.contains(secret), "secret in response: {text}");
    }
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[tokio::test]
async fn integrations_survive_a_restart() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path());
    let (status, networks) = request(
        reqwest::Method::GET,
        format!("{}/networks", server.base),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert!(networks["networks"].as_array().unwrap().len() >= 2);

    let (status, _) = request(
        reqwest::Method::GET,
        format!("{}/integrations", server.base),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let unauthorized = affnet_netguard::tls::client_builder()
        .build()
        .unwrap()
        .get(format!("{}/integrations", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(unauthorized.status().as_u16(), 401);

    let (status, tune) = request(
        reqwest::Method::POST,
        format!("{}/integrations", server.base),
        Some(json!({"network": "tune", "name": "TUNE main", "credentials": {"api_key": SECRETS[0]}, "settings": {"network_id": "demo"}})),
    )
    .await;
    assert_eq!(status, 201, "{tune}");
    let (status, leadbit) = request(
        reqwest::Method::POST,
        format!("{}/integrations", server.base),
        Some(json!({"network": "leadbit", "name": "LeadBit", "credentials": {"api_key": SECRETS[1]}})),
    )
    .await;
    assert_eq!(status, 201, "{leadbit}");
    server.stop();

    let server = Server::start(data.path());
    let (status, list) = request(
        reqwest::Method::GET,
        format!("{}/integrations", server.base),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let items = list["items"].as_array().unwrap();
    let ids: Vec<&str> = items.iter().map(|i| i["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        [
            tune["id"].as_str().unwrap(),
            leadbit["id"].as_str().unwrap()
        ]
    );
    assert_eq!(items[0]["postback_token"], tune["postback_token"]);
    assert_eq!(items[1]["credentials_set"], json!(["api_key"]));
    server.stop();
}
