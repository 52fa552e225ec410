//! Webhooks on the real binary: the local server delivers each event to `AFFNET_WEBHOOK_URLS`,
//! signed with `AFFNET_WEBHOOK_SECRET`, and after a restart resumes from the cursor it kept in
//! its data directory (nothing delivered twice, nothing skipped); without the secret it refuses
//! to start.

mod support;

use affnet_app::events::receiver::Receiver;
use affnet_core::event::signature;
use serde_json::{Value, json};
use std::process::Command;
use std::time::Duration;
use support::{Server, command, run_to_exit};

const SECRET: &str = "whsec-local-test-0123456789";

fn with_webhook(mut cmd: Command, receiver: &Receiver) -> Command {
    cmd.env("AFFNET_WEBHOOK_URLS", receiver.url.as_str())
        .env("AFFNET_WEBHOOK_SECRET", SECRET)
        .env("AFFNET_ALLOW_PRIVATE_NETWORK", "1")
        .env("AFFNET_EVENTS_SETTLE_SECS", "0");
    cmd
}

async fn postback(base: &str, integration: &Value, eid: &str) {
    let url = format!(
        "{base}/api/sale/status.json?id={}-{}&eid={eid}&status=new&pay=4&cc=USD",
        integration["id"].as_str().unwrap(),
        integration["postback_token"].as_str().unwrap()
    );
    let client = affnet_netguard::tls::client_builder().build().unwrap();
    let answer: Value = client.get(url).send().await.unwrap().json().await.unwrap();
    assert_eq!(answer["outcome"], "created", "{answer}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_reach_the_webhook_signed_and_resume_after_a_restart() {
    let receiver = Receiver::start(0).await;
    let dir = tempfile::tempdir().unwrap();
    let start = || Server::start(with_webhook(command(dir.path(), "127.0.0.1:0"), &receiver));
    let server = start();
    let integration: Value = affnet_netguard::tls::client_builder().build().unwrap()
        .post(format!("{}/integrations", server.base))
        .json(&json!({"network": "monadlead", "name": "MonadLead", "credentials": {"api_key": "monadlead-test-key"}}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(integration["id"].is_string(), "{integration}");
    postback(&server.base, &integration, "L-1").await;
    let accepted = receiver.wait_for(1).await;
    assert_eq!(accepted.len(), 1, "{:?}", receiver.received());
    let now = chrono::Utc::now().timestamp();
    let header = accepted[0].header(signature::HEADER);
    assert_eq!(
        signature::verify(SECRET.as_bytes(), header, &accepted[0].body, now, 300),
        Ok(())
    );
    assert_eq!(accepted[0].json()["data"]["transaction_id"], "L-1");
    server.stop();

    let server = start();
    postback(&server.base, &integration, "L-2").await;
    let accepted = receiver.wait_for(2).await;
    assert_eq!(accepted.len(), 2, "{:?}", receiver.received());
    assert_eq!(accepted[1].json()["data"]["transaction_id"], "L-2");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.accepted().len(), 2, "nothing delivered twice");
    server.stop();
}

#[test]
fn webhook_urls_without_a_secret_refuse_to_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = command(dir.path(), "127.0.0.1:0");
    cmd.env("AFFNET_WEBHOOK_URLS", "https://hooks.example.com/affnet")
        .env_remove("AFFNET_WEBHOOK_SECRET");
    let (status, stderr) = run_to_exit(cmd, Duration::from_secs(20));
    assert!(!status.success());
    assert!(stderr.contains("AFFNET_WEBHOOK_SECRET"), "{stderr}");
}
