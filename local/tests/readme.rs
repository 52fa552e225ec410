//! The README's examples, run as a new user would paste them: every ```` ```sh ```` block of
//! README.md, in order, in one bash session with `set -euo pipefail`, against the real local
//! server on a fresh data directory and a free port.
//!
//! Convention (also stated in the README's "Try it"): `sh` blocks run; `console` blocks
//! (setup, benchmarks, deploy, reset) and `text` blocks (output) do not. The examples reach the
//! server only through `$API`, set once by the line `API=http://127.0.0.1:3000`, which this test
//! replaces with the test server's address.

mod support;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use support::{Server, command};

const README: &str = include_str!("../../README.md");
const API_LINE: &str = "API=http://127.0.0.1:3000";

/// The `sh` blocks: (line number of the opening fence, body).
fn sh_blocks(text: &str) -> Vec<(usize, String)> {
    let mut blocks = Vec::new();
    // An open block: whether it runs, its line, its body so far.
    let mut open: Option<(bool, usize, String)> = None;
    for (i, line) in text.lines().enumerate() {
        let fence = line.trim_start().strip_prefix("```");
        match (open.take(), fence) {
            (None, Some(lang)) => open = Some((lang.trim() == "sh", i + 1, String::new())),
            (None, None) => {}
            (Some((runs, at, body)), Some(_)) => {
                if runs {
                    blocks.push((at, body));
                }
            }
            (Some((runs, at, mut body)), None) => {
                body.push_str(line);
                body.push('\n');
                open = Some((runs, at, body));
            }
        }
    }
    assert!(open.is_none(), "README.md has an unclosed code block");
    blocks
}

#[test]
fn readme_sh_blocks_are_split_as_the_convention_says() {
    let blocks = sh_blocks(README);
    assert!(blocks.len() >= 5, "{} sh blocks", blocks.len());
    let all: String = blocks.iter().map(|(_, b)| b.as_str()).collect();
    assert_eq!(
        all.matches(API_LINE).count(),
        1,
        "set API once, in an sh block"
    );
    assert!(
        all.find(API_LINE) < all.find("curl"),
        "API is set before the first curl"
    );
    assert_eq!(
        all.matches("127.0.0.1:3000").count(),
        1,
        "examples reach the server through $API only"
    );
    // The setup commands and the benchmarks are not run.
    for not_run in ["cargo run", "./scripts/test.sh", "cargo bench", "rm -rf"] {
        assert!(!all.contains(not_run), "an sh block runs `{not_run}`");
    }
}

#[test]
fn readme_examples_run_as_pasted() {
    let data = tempfile::tempdir().unwrap();
    let work = tempfile::tempdir().unwrap();
    let server = Server::start(command(data.path(), "127.0.0.1:0"));

    let mut script = String::from("set -euo pipefail\n");
    for (line, body) in sh_blocks(README) {
        script.push_str(&format!("echo '### README.md:{line}' >&2\n"));
        script.push_str(&body.replace(API_LINE, &format!("API={}", server.base)));
    }
    script.push_str("echo '### README examples: all ran' >&2\n");

    let mut child = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(work.path())
        .env_remove("AFFNET_ADMIN_TOKEN")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("bash");
    let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        out.read_to_string(&mut s).ok();
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        err.read_to_string(&mut s).ok();
        s
    });
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if started.elapsed() > Duration::from_secs(120) {
            child.kill().ok();
            child.wait().ok();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let (out, err) = (out.join().unwrap(), err.join().unwrap());
    server.stop();
    let failed_block = err
        .lines()
        .rfind(|l| l.starts_with("### README.md:"))
        .unwrap_or("before the first block");
    match status {
        Some(s) if s.success() => {
            assert!(err.contains("### README examples: all ran"), "{err}")
        }
        Some(s) => panic!(
            "a README example failed ({s}) in the block at {}\n--- stdout\n{out}\n--- stderr\n{err}",
            failed_block.trim_start_matches("### ")
        ),
        None => panic!(
            "the README examples did not finish in 120 s (block at {})\n--- stdout\n{out}\n--- stderr\n{err}",
            failed_block.trim_start_matches("### ")
        ),
    }
}
