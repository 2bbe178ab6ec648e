//! `wirestate mcp-server --runtime R` on every runtime: the demo server
//! over the process's stdin and stdout, driven with raw JSON-RPC lines
//! (initialize, a tool call, an unknown method), and its exit once stdin
//! ends.

use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_wirestate");

/// The next JSON line from `lines` within 10 s.
fn next(lines: &mpsc::Receiver<String>, runtime: &str) -> Value {
    let line = lines
        .recv_timeout(Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{runtime}: no answer: {e}"));
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("{runtime}: {e}: {line}"))
}

#[test]
fn mcp_server_answers_on_stdio_and_exits_at_stdin_eof_on_every_runtime() {
    for runtime in ["tokio", "smol", "blocking"] {
        let mut child = Command::new(BIN)
            .args(["mcp-server", "--runtime", runtime])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("wirestate mcp-server");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut stdin = child.stdin.take().unwrap();
        let mut send = |v: Value| {
            let mut line = serde_json::to_vec(&v).unwrap();
            line.push(b'\n');
            stdin.write_all(&line).unwrap();
            stdin.flush().unwrap();
        };
        send(
            json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": {"name": "test", "version": "1"}}}),
        );
        let init = next(&lines, runtime);
        assert_eq!(init["id"], 1, "{runtime}: {init}");
        assert_eq!(
            init["result"]["serverInfo"]["name"], "wirestate-demo",
            "{runtime}: {init}"
        );
        send(json!({"jsonrpc": "2.0", "method": "notifications/initialized"}));
        send(json!({"jsonrpc": "2.0", "id": 2, "method": "tools/call",
            "params": {"name": "add", "arguments": {"a": 2, "b": 3}}}));
        // `add` logs at info: skip notifications until the answer.
        let answer = loop {
            let v = next(&lines, runtime);
            if v.get("id").is_some() {
                break v;
            }
        };
        assert_eq!(answer["id"], 2, "{runtime}: {answer}");
        assert_eq!(
            answer["result"]["content"][0]["text"], "5",
            "{runtime}: {answer}"
        );
        send(json!({"jsonrpc": "2.0", "id": 3, "method": "no/such/method"}));
        let unknown = next(&lines, runtime);
        assert_eq!(unknown["error"]["code"], -32601, "{runtime}: {unknown}");
        // stdin ends: the server exits, successfully.
        drop(stdin);
        let started = Instant::now();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if started.elapsed() > Duration::from_secs(5) {
                let _ = child.kill();
                panic!("{runtime}: still running 5 s after stdin ended");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(status.success(), "{runtime}: {status}");
    }
}

/// `wirestate mcp ... resources` against the fixture server lists the
/// resources and, under their own key, the resource templates, on every
/// runtime.
#[test]
fn mcp_resources_lists_resources_then_templates_on_every_runtime() {
    for runtime in ["tokio", "smol", "blocking"] {
        let out = Command::new(BIN)
            .args(["mcp", "--runtime", runtime, "--timeout", "10", "resources"])
            .args(["--", BIN, "mcp-server", "--conformance-fixtures"])
            .stdin(Stdio::null())
            .output()
            .expect("wirestate mcp");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{runtime}: {stderr}");
        let listing: Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{runtime}: {e}: {}", String::from_utf8_lossy(&out.stdout)));
        let uris: Vec<&str> = listing["resources"]
            .as_array()
            .unwrap_or_else(|| panic!("{runtime}: {listing}"))
            .iter()
            .filter_map(|r| r["uri"].as_str())
            .collect();
        assert!(uris.contains(&"test://static-text"), "{runtime}: {listing}");
        let templates = listing["resourceTemplates"]
            .as_array()
            .unwrap_or_else(|| panic!("{runtime}: {listing}"));
        assert!(
            templates
                .iter()
                .any(|t| t["uriTemplate"] == "test://template/{id}/data"
                    && t["name"] == "template-data"),
            "{runtime}: {listing}"
        );
        // Resources come first in the printed object.
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.find("\"resources\"") < text.find("\"resourceTemplates\""),
            "{runtime}: {text}"
        );
    }
}

/// `wirestate mcp call NAME @` and `@FILE`: arguments larger than one
/// command-line argument may be (Linux takes at most 128 KiB), here a
/// 1 MiB text, read from stdin or a file, on every runtime.
#[test]
fn mcp_call_arguments_from_stdin_or_a_file() {
    let text = "é".repeat(1 << 19);
    let json = json!({ "text": text }).to_string();
    let file = std::env::temp_dir().join(format!("wirestate-mcp-args-{}.json", std::process::id()));
    std::fs::write(&file, &json).unwrap();
    let at_file = format!("@{}", file.display());
    for runtime in ["tokio", "smol", "blocking"] {
        for source in ["@", at_file.as_str()] {
            let mut child = Command::new(BIN)
                .args([
                    "mcp",
                    "--runtime",
                    runtime,
                    "--timeout",
                    "20",
                    "call",
                    "echo",
                    source,
                ])
                .args(["--", BIN, "mcp-server"])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("wirestate mcp");
            let mut stdin = child.stdin.take().unwrap();
            if source == "@" {
                stdin.write_all(json.as_bytes()).unwrap();
            }
            drop(stdin);
            let out = child.wait_with_output().unwrap();
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "{runtime} {source}: {stderr}");
            let result: Value = serde_json::from_slice(&out.stdout).unwrap();
            assert_eq!(
                result["structuredContent"]["length"],
                1 << 19,
                "{runtime} {source}"
            );
        }
    }
    let out = Command::new(BIN)
        .args([
            "mcp",
            "call",
            "echo",
            "@/no/such/file.json",
            "--",
            BIN,
            "mcp-server",
        ])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("reading the arguments from /no/such/file.json")
    );
    // A large text that is not JSON is named by its start, not printed
    // whole.
    let not_json = format!("{{ {}", "x".repeat(1 << 20));
    let mut child = Command::new(BIN)
        .args(["mcp", "call", "echo", "@", "--", BIN, "mcp-server"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("wirestate mcp");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(not_json.as_bytes()).unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("arguments are not JSON"), "{stderr}");
    assert!(stderr.len() < 1000, "{} bytes of stderr", stderr.len());
    let _ = std::fs::remove_file(&file);
}
