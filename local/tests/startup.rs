//! Starting the local server where it cannot run: a clear message on stderr and a failed exit.

mod support;

use std::time::Duration;
use support::{Server, command, run_to_exit};

#[test]
fn busy_port_names_the_address_and_affnet_listen() {
    let data = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let (status, stderr) = run_to_exit(command(data.path(), &addr), Duration::from_secs(30));
    assert_eq!(status.code(), Some(1), "stderr: {stderr}");
    assert!(
        stderr.contains(&format!("cannot listen on {addr}")),
        "stderr: {stderr}"
    );
    assert!(stderr.contains("already in use"), "stderr: {stderr}");
    assert!(stderr.contains("AFFNET_LISTEN"), "stderr: {stderr}");
    assert!(!stderr.contains("Os {"), "a raw OS error: {stderr}");
}

#[test]
fn second_server_on_one_data_dir_is_refused() {
    let data = tempfile::tempdir().unwrap();
    let first = Server::start(command(data.path(), "127.0.0.1:0"));
    let (status, stderr) =
        run_to_exit(command(data.path(), "127.0.0.1:0"), Duration::from_secs(30));
    assert_eq!(status.code(), Some(1), "stderr: {stderr}");
    let dir = data.path().display().to_string();
    assert!(
        stderr.contains(&format!("the data directory {dir} is in use")),
        "stderr: {stderr}"
    );
    assert!(stderr.contains("AFFNET_DATA_DIR"), "stderr: {stderr}");
    // The first server is untouched and still serves.
    let reply = std::process::Command::new("curl")
        .args(["-sf", &format!("{}/networks", first.base)])
        .output()
        .unwrap();
    assert!(reply.status.success());
    first.stop();

    // Once it has stopped, the directory is free again.
    let again = Server::start(command(data.path(), "127.0.0.1:0"));
    again.stop();
}

#[test]
fn relative_data_dir_is_logged_absolute() {
    let parent = tempfile::tempdir().unwrap();
    let mut cmd = command(std::path::Path::new("rel-data"), "127.0.0.1:0");
    cmd.current_dir(parent.path());
    let mut child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    use std::io::BufRead;
    let stdout = child.stdout.take().unwrap();
    let mut logged = None;
    for line in std::io::BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if let Some(rest) = line.split("data_dir=").nth(1) {
            logged = Some(rest.split_whitespace().next().unwrap().to_string());
        }
        if line.contains("addr=") {
            break;
        }
    }
    child.kill().ok();
    child.wait().ok();
    let want = parent.path().join("rel-data");
    assert_eq!(logged.as_deref(), Some(want.to_str().unwrap()));
    assert!(want.join("affnet.db").exists());
}

#[test]
fn invalid_connection_limit_names_the_variable() {
    let data = tempfile::tempdir().unwrap();
    for (name, value) in [
        ("AFFNET_HEADER_TIMEOUT_SECS", "0"),
        ("AFFNET_IDLE_TIMEOUT_SECS", "a minute"),
        ("AFFNET_MAX_CONNECTIONS", "-5"),
    ] {
        let mut cmd = command(data.path(), "127.0.0.1:0");
        cmd.env(name, value);
        let (status, stderr) = run_to_exit(cmd, Duration::from_secs(30));
        assert_eq!(status.code(), Some(1), "stderr: {stderr}");
        assert!(
            stderr.contains(&format!("{name} must be a whole number")),
            "stderr: {stderr}"
        );
        assert!(
            stderr.contains(&format!("not `{value}`")),
            "stderr: {stderr}"
        );
    }
}
