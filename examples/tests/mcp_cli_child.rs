//! `wirestate mcp ... -- CMD` with stdio servers that misbehave, on every
//! runtime: one that crashes in the middle of a call (the call fails at
//! once, not at its timeout, and the message gives the server's exit
//! status — before, only 'the transport closed'), and one that never
//! answers `initialize` (the command gives up after its timeout). The
//! servers are small `sh` scripts.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

mod support;
use support::BIN;

/// Answers `initialize` (echoing its id), then exits 3 on `tools/call`.
const CRASHING: &str = r#"read -r line
id=$(printf '%s' "$line" | sed -n 's/.*"id":\([0-9]*\).*/\1/p')
printf '{"jsonrpc":"2.0","id":%s,"result":{"protocolVersion":"2025-06-18","capabilities":{"tools":{}},"serverInfo":{"name":"crash","version":"0"}}}\n' "$id"
while read -r line; do
  case "$line" in
    *tools/call*) exit 3 ;;
  esac
done
"#;

fn script(name: &str, body: &str) -> PathBuf {
    let path = std::env::temp_dir().join(format!(
        "wirestate-mcp-cli-child-{}-{name}.sh",
        std::process::id()
    ));
    std::fs::write(&path, body).unwrap();
    path
}

#[test]
fn a_server_that_crashes_mid_call_fails_the_call_at_once_with_its_status() {
    let path = script("crash", CRASHING);
    let mut failures = Vec::new();
    for runtime in ["tokio", "smol", "blocking"] {
        let started = Instant::now();
        let out = Command::new(BIN)
            .args([
                "mcp",
                "--runtime",
                runtime,
                "--era",
                "legacy",
                "--timeout",
                "30",
            ])
            .args(["call", "x", "{}", "--", "sh"])
            .arg(&path)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let took = started.elapsed();
        let stderr = String::from_utf8_lossy(&out.stderr);
        if out.status.success()
            || !stderr.contains("exit status: 3")
            || took > Duration::from_secs(15)
        {
            failures.push(format!("{runtime}: {:?} in {took:?}: {stderr}", out.status));
        }
    }
    let _ = std::fs::remove_file(&path);
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn a_server_that_never_answers_initialize_times_out() {
    let path = script("silent", "cat >/dev/null\n");
    let mut failures = Vec::new();
    for runtime in ["tokio", "smol", "blocking"] {
        let started = Instant::now();
        let out = Command::new(BIN)
            .args(["mcp", "--runtime", runtime, "--timeout", "1"])
            .args(["list-tools", "--", "sh"])
            .arg(&path)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let took = started.elapsed();
        let stderr = String::from_utf8_lossy(&out.stderr);
        // The era is detected first (server/discover), then initialize:
        // a timeout each.
        if out.status.success() || !stderr.contains("in time") || took > Duration::from_secs(15) {
            failures.push(format!("{runtime}: {:?} in {took:?}: {stderr}", out.status));
        }
    }
    let _ = std::fs::remove_file(&path);
    assert!(failures.is_empty(), "{failures:#?}");
}
