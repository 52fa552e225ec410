//! Hostile traffic on the real binary: clients that send a request head slowly, connections left
//! idle, and more idle connections than the process has descriptors for. Bounds are generous
//! (CI runs on two loaded cores): each test fails on a server without the limits by waiting
//! out its bound, not by missing a tight margin.

mod support;

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};
use support::{Server, command, command_with_descriptor_limit, command_with_soft_descriptor_limit};

/// Far beyond every timeout the tests set: a server that never closes fails here.
const BOUND: Duration = Duration::from_secs(30);

/// Waits up to `within` for the server to close `stream`: how long it took, or `None`.
/// The server must not answer anything first.
fn closed_within(stream: &mut TcpStream, within: Duration) -> Option<Duration> {
    let started = Instant::now();
    stream.set_read_timeout(Some(within)).unwrap();
    let mut buf = [0u8; 1024];
    match stream.read(&mut buf) {
        Ok(0) => Some(started.elapsed()),
        Ok(n) => panic!(
            "the server answered: {}",
            String::from_utf8_lossy(&buf[..n])
        ),
        Err(e) if e.kind() == ErrorKind::ConnectionReset => Some(started.elapsed()),
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => None,
        Err(e) => panic!("reading from the server: {e}"),
    }
}

/// Sends `GET /networks` and reads the whole response (head and `content-length` body).
fn get_networks(stream: &mut TcpStream) -> String {
    stream.set_read_timeout(Some(BOUND)).unwrap();
    stream
        .write_all(b"GET /networks HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        .unwrap();
    let mut response = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf).expect("a response");
        assert!(n > 0, "closed before the whole response");
        response.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&response).to_string();
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse::<usize>().unwrap())
                })
                .expect("content-length");
            if response.len() >= end + 4 + length {
                return text;
            }
        }
    }
}

#[test]
fn a_slow_header_sender_is_disconnected_after_the_header_timeout() {
    let data = tempfile::tempdir().unwrap();
    let mut cmd = command(data.path(), "127.0.0.1:0");
    cmd.env("AFFNET_HEADER_TIMEOUT_SECS", "1");
    let server = Server::start(cmd);
    let mut stream = TcpStream::connect(server.addr()).unwrap();
    stream
        .write_all(b"GET /networks HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        .unwrap();
    let closed = closed_within(&mut stream, BOUND);
    assert!(closed.is_some(), "still open after {BOUND:?}");
    server.stop();
}

#[test]
fn a_header_trickled_a_byte_at_a_time_is_cut_off_all_the_same() {
    let data = tempfile::tempdir().unwrap();
    let mut cmd = command(data.path(), "127.0.0.1:0");
    cmd.env("AFFNET_HEADER_TIMEOUT_SECS", "1");
    let server = Server::start(cmd);
    let mut stream = TcpStream::connect(server.addr()).unwrap();
    stream
        .write_all(b"GET /networks HTTP/1.1\r\nX-Slow: ")
        .unwrap();
    let started = Instant::now();
    let mut closed = false;
    while !closed && started.elapsed() < BOUND {
        // Every byte arrives well within the timeout; the head as a whole never does.
        closed = stream.write_all(b"a").is_err()
            || closed_within(&mut stream, Duration::from_millis(200)).is_some();
    }
    assert!(closed, "still open after {BOUND:?} of trickling");
    server.stop();
}

#[test]
fn an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() {
    let data = tempfile::tempdir().unwrap();
    let mut cmd = command(data.path(), "127.0.0.1:0");
    cmd.env("AFFNET_HEADER_TIMEOUT_SECS", "1")
        .env("AFFNET_IDLE_TIMEOUT_SECS", "4");
    let server = Server::start(cmd);
    let mut stream = TcpStream::connect(server.addr()).unwrap();
    let response = get_networks(&mut stream);
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(!response.to_ascii_lowercase().contains("connection: close"));
    // The idle timeout closes it, not the (shorter) header timeout: the server's clock starts
    // before the response reaches this side, so allow half.
    let closed = closed_within(&mut stream, BOUND).expect("an idle connection still open");
    assert!(closed >= Duration::from_secs(2), "closed after {closed:?}");
    server.stop();
}

#[test]
fn idle_connections_beyond_the_descriptor_limit_do_not_lock_out_a_new_client() {
    let data = tempfile::tempdir().unwrap();
    let mut cmd = command_with_descriptor_limit(data.path(), "127.0.0.1:0", 256);
    cmd.env("AFFNET_HEADER_TIMEOUT_SECS", "2");
    let server = Server::start(cmd);
    assert!(
        server.log.lock().unwrap().contains("max_connections=192"),
        "256 descriptors less the reserve"
    );
    // More idle connections than the process has descriptors: the kernel completes them all
    // (listen backlog) whether or not the server accepts them.
    let idle: Vec<TcpStream> = (0..300)
        .map(|_| TcpStream::connect(server.addr()).unwrap())
        .collect();
    assert!(
        server.wait_for_log("connection cap reached", BOUND),
        "no cap warning; log:\n{}",
        server.log.lock().unwrap()
    );
    let started = Instant::now();
    let mut fresh = TcpStream::connect(server.addr()).unwrap();
    let response = get_networks(&mut fresh);
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(started.elapsed() < BOUND);
    let log = server.log.lock().unwrap().clone();
    assert!(
        !log.contains("cannot accept"),
        "ran out of descriptors:\n{log}"
    );
    drop((idle, fresh));
    server.stop();
}

/// `curl -sS <args>`: its stdout.
fn curl(args: &[&str]) -> String {
    let out = std::process::Command::new("curl")
        .arg("-sS")
        .args(args)
        .output()
        .expect("curl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn handlers_still_see_the_client_address() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(command(data.path(), "127.0.0.1:0"));
    let created = curl(&[
        "-X",
        "POST",
        &format!("{}/integrations", server.base),
        "-H",
        "content-type: application/json",
        "-d",
        r#"{"network": "leadbit", "name": "LB", "credentials": {"api_key": "k"},
            "settings": {"ip_allowlist": ["10.0.0.0/8"]}}"#,
    ]);
    let created: serde_json::Value = serde_json::from_str(&created).unwrap();
    let (id, token) = (&created["id"], &created["postback_token"]);
    let id = format!("{}-{}", id.as_str().unwrap(), token.as_str().unwrap());
    let answer = curl(&[&format!(
        "{}/api/sale/status.json?id={id}&oid=x&status=confirm",
        server.base
    )]);
    // The postback's source address is the connection's (ConnectInfo), checked against the list.
    assert!(
        answer.contains("127.0.0.1 is not in this integration's ip_allowlist"),
        "{answer}"
    );
    server.stop();
}

/// Started with a low soft descriptor limit under a higher hard one, the server raises the soft
/// limit to the hard one before it opens anything, and says so in its start line.
#[test]
fn the_soft_descriptor_limit_is_raised_to_the_hard_one_at_start() {
    let hard: u64 = String::from_utf8(
        std::process::Command::new("bash")
            .args(["-c", "ulimit -H -n"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap()
    .trim()
    .parse()
    .expect("a numeric hard limit");
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(command_with_soft_descriptor_limit(
        data.path(),
        "127.0.0.1:0",
        128,
    ));
    assert!(
        server.wait_for_log("connection limits", BOUND),
        "{}",
        server.log.lock().unwrap()
    );
    let log = server.log.lock().unwrap().clone();
    let limit: u64 = log
        .split("descriptor_limit=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no descriptor_limit in the log:\n{log}"));
    assert_eq!(
        limit, hard,
        "the soft limit (128) was raised to the hard one"
    );
    assert!(hard <= 128 || limit > 128);
    server.stop();
}
