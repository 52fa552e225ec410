//! A lead survives the process: the real `affnet-local` binary stores a lead, is killed
//! (SIGKILL) while the network has not answered its order yet, and after a restart on the same
//! data directory the lead is there, `queued` (the retry job sends it: see the lead cases of
//! shared/app); the landing page's repeated POST gets that same lead back and sends no second
//! order.

mod support;

use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use support::{Server, command};

const ADMIN: &str = "admin-crash-token";

/// A WebVork stand-in: records each request line; holds the answer while `hang` is set,
/// else answers WebVork's success `{"status":"ok","guid":"WV-1"}`.
struct Network {
    url: String,
    requests: Arc<Mutex<Vec<String>>>,
    hang: Arc<AtomicBool>,
}

impl Network {
    fn start() -> Network {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let hang = Arc::new(AtomicBool::new(true));
        let (seen, held) = (requests.clone(), hang.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (seen, held) = (seen.clone(), held.clone());
                std::thread::spawn(move || answer(stream, &seen, &held));
            }
        });
        Network {
            url,
            requests,
            hang,
        }
    }

    fn received(&self) -> Vec<String> {
        self.requests.lock().unwrap().clone()
    }
}

fn answer(mut stream: TcpStream, seen: &Mutex<Vec<String>>, hang: &AtomicBool) {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte).unwrap_or(0) == 0 {
            return;
        }
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head).to_string();
    seen.lock()
        .unwrap()
        .push(head.lines().next().unwrap_or_default().to_string());
    if hang.load(Ordering::SeqCst) {
        // Never answers: the caller is killed meanwhile.
        std::thread::sleep(Duration::from_secs(60));
        return;
    }
    let body = r#"{"status":"ok","guid":"WV-1"}"#;
    let reply = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(reply.as_bytes());
}

fn client() -> reqwest::Client {
    affnet_netguard::tls::client_builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

async fn call(
    base: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = client()
        .request(method, format!("{base}{path}"))
        .bearer_auth(ADMIN);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn server(data: &std::path::Path) -> Server {
    let mut cmd = command(data, "127.0.0.1:0");
    cmd.env("AFFNET_ADMIN_TOKEN", ADMIN)
        // The stand-in network is on loopback.
        .env("AFFNET_ALLOW_PRIVATE_NETWORK", "1")
        .env(
            "AFFNET_CLICK_SECRET",
            "crash-test-click-secret-0123456789abcdef",
        );
    Server::start(cmd)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lead_stored_before_a_crash_is_queued_after_it_and_not_sent_twice() {
    let data = tempfile::tempdir().unwrap();
    let network = Network::start();
    let first = server(data.path());
    let base = first.base.clone();
    let (status, integration) = call(
        &base,
        reqwest::Method::POST,
        "/integrations",
        Some(
            json!({"network": "webvork", "name": "WV", "timeout_ms": 30_000,
                    "credentials": {"api_key": "wv-crash-token-s3cr3t"},
                    "settings": {"api_url": network.url}}),
        ),
    )
    .await;
    assert_eq!(status, 201, "{integration}");
    let (status, offer) = call(
        &base,
        reqwest::Method::POST,
        "/offers",
        Some(
            json!({"integration_id": integration["id"], "name": "Keto", "payout": "10",
                    "currency": "EUR", "tracking_url": "https://landing.example/k?c={click_id}",
                    "params": {"webvork": "7"}}),
        ),
    )
    .await;
    assert_eq!(status, 201, "{offer}");
    // The click route gives the click ID in the redirect.
    let click = client()
        .get(format!("{base}/c/{}", offer["id"].as_str().unwrap()))
        .send()
        .await
        .unwrap();
    let location = click.headers()["location"].to_str().unwrap().to_string();
    let click_id = location.split("c=").nth(1).unwrap().to_string();
    let lead = json!({"click_id": click_id, "name": "Zofia Nowak", "phone": "+48 601 234 567",
                      "country": "PL"});

    // The lead is posted; the network holds its answer; the server dies mid-call.
    let posting = {
        let (base, lead) = (base.clone(), lead.clone());
        tokio::spawn(async move {
            let _ = client()
                .post(format!("{base}/leads"))
                .json(&lead)
                .send()
                .await;
        })
    };
    let started = Instant::now();
    while network.received().is_empty() {
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "the lead never reached the network"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut first = first;
    first.child.kill().unwrap(); // SIGKILL
    first.child.wait().unwrap();
    let _ = posting.await;

    let second = server(data.path());
    let base = second.base.clone();
    let (status, list) = call(&base, reqwest::Method::GET, "/leads", None).await;
    assert_eq!(status, 200, "{list}");
    let items = list["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "the stored lead survived: {list}");
    assert_eq!(items[0]["status"], "queued", "{list}");
    let lead_id = items[0]["id"].as_str().unwrap().to_string();

    // The landing page posts again (a retried form): the same lead, and no second order.
    network.hang.store(false, Ordering::SeqCst);
    let again = client()
        .post(format!("{base}/leads"))
        .json(&lead)
        .send()
        .await
        .unwrap();
    let code = again.status().as_u16();
    let again: Value = again.json().await.unwrap();
    assert_eq!(code, 200, "{again}");
    assert_eq!(again["lead_id"], lead_id.as_str(), "{again}");
    assert_eq!(again["status"], "queued", "{again}");
    let (_, list) = call(&base, reqwest::Method::GET, "/leads", None).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1, "{list}");
    assert_eq!(
        network.received().len(),
        1,
        "one order sent, before the crash"
    );
    second.stop();
}
