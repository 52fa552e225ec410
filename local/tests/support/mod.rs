//! Running the real `affnet-local` binary: start it and read its address from the log, or run it
//! to its exit with a deadline.

#![allow(dead_code)] // each test file uses a part

use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The binary with a data directory and `AFFNET_LISTEN`, its other settings cleared.
pub fn command(data_dir: &Path, listen: &str) -> Command {
    configure(
        Command::new(env!("CARGO_BIN_EXE_affnet-local")),
        data_dir,
        listen,
    )
}

/// Like [`command`], under `ulimit -n <descriptors>` (soft and hard).
pub fn command_with_descriptor_limit(data_dir: &Path, listen: &str, descriptors: u32) -> Command {
    let mut cmd = Command::new("bash");
    cmd.args([
        "-c",
        &format!("ulimit -n {descriptors} && exec \"$0\""),
        env!("CARGO_BIN_EXE_affnet-local"),
    ]);
    configure(cmd, data_dir, listen)
}

/// Like [`command`], with only the soft descriptor limit lowered (`ulimit -S -n <soft>`): the
/// hard limit stays, so the server may raise the soft one.
pub fn command_with_soft_descriptor_limit(data_dir: &Path, listen: &str, soft: u32) -> Command {
    let mut cmd = Command::new("bash");
    cmd.args([
        "-c",
        &format!("ulimit -S -n {soft} && exec \"$0\""),
        env!("CARGO_BIN_EXE_affnet-local"),
    ]);
    configure(cmd, data_dir, listen)
}

fn configure(mut cmd: Command, data_dir: &Path, listen: &str) -> Command {
    cmd.env("AFFNET_LISTEN", listen)
        .env("AFFNET_DATA_DIR", data_dir)
        .env("RUST_LOG", "info")
        .env_remove("AFFNET_ADMIN_TOKEN")
        .env_remove("AFFNET_CLICK_SECRET")
        .env_remove("AFFNET_PUBLIC_URL")
        .env_remove("AFFNET_HEADER_TIMEOUT_SECS")
        .env_remove("AFFNET_IDLE_TIMEOUT_SECS")
        .env_remove("AFFNET_MAX_CONNECTIONS")
        .env_remove("AFFNET_WEBHOOK_URLS")
        .env_remove("AFFNET_WEBHOOK_SECRET");
    cmd
}

pub struct Server {
    pub child: Child,
    /// `http://127.0.0.1:<port>`
    pub base: String,
    /// Its log (stdout) so far.
    pub log: Arc<Mutex<String>>,
}

impl Server {
    /// Starts the command and waits for its "listening" line (`addr=...`).
    pub fn start(mut cmd: Command) -> Server {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start affnet-local");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let mut so_far = String::new();
        let base = loop {
            let Some(line) = lines.next() else {
                let mut err = String::new();
                child.stderr.take().unwrap().read_to_string(&mut err).ok();
                panic!("affnet-local exited before listening: {err}");
            };
            let line = line.unwrap();
            so_far.push_str(&line);
            so_far.push('\n');
            if let Some(rest) = line.split("addr=").nth(1) {
                let addr = rest.split_whitespace().next().unwrap();
                break format!("http://{addr}");
            }
        };
        // Keep draining the log so the server never blocks on a full pipe.
        let log = Arc::new(Mutex::new(so_far));
        let kept = log.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                let mut log = kept.lock().unwrap();
                log.push_str(&line);
                log.push('\n');
            }
        });
        Server { child, base, log }
    }

    /// `host:port`
    pub fn addr(&self) -> &str {
        self.base.trim_start_matches("http://")
    }

    /// Waits (up to `deadline`) for a log line containing `text`; whether one came.
    pub fn wait_for_log(&self, text: &str, deadline: Duration) -> bool {
        let started = Instant::now();
        while started.elapsed() < deadline {
            if self.log.lock().unwrap().contains(text) {
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    }

    /// SIGINT, like Ctrl-C: the server must shut down cleanly.
    pub fn stop(mut self) {
        let pid = self.child.id().to_string();
        Command::new("kill").args(["-INT", &pid]).status().unwrap();
        let status = self.child.wait().unwrap();
        assert!(status.success(), "server exit status: {status}");
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // A failed test must not leave the server running.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs the command to its exit (killed after `deadline`): its status and stderr.
pub fn run_to_exit(mut cmd: Command, deadline: Duration) -> (ExitStatus, String) {
    let mut child = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start affnet-local");
    let mut stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        stderr.read_to_string(&mut text).ok();
        text
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > deadline {
            child.kill().ok();
            child.wait().ok();
            panic!(
                "affnet-local still running after {deadline:?}: it should have refused to start"
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    (status, reader.join().unwrap())
}
