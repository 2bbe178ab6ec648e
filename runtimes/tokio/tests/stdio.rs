//! `wirestate_tokio::stdio()`: over pipes (as an MCP client launches its
//! server) it runs on tokio's reactor, otherwise on the blocking thread
//! pool; both carry bytes both ways and see the end of input.
//!
//! The test binary runs itself as the child (selected by an environment
//! variable), so the child's stdin and stdout are whatever the parent
//! chose. libtest writes its own lines to stdout too: the child's lines
//! carry a prefix and the parent looks only at those.

use std::io::{Read, Write};
use std::process::{Command, Stdio};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

const CHILD: &str = "WIRESTATE_TOKIO_STDIO_CHILD";
const TEST: &str = "stdio_child_entry";

/// The child: reports the mode, then echoes each line of stdin prefixed,
/// then `child:eof` at the end of input.
#[test]
fn stdio_child_entry() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let io = wirestate_tokio::stdio();
        let nonblocking = io.is_nonblocking();
        let (r, mut w) = tokio::io::split(io);
        w.write_all(format!("\nchild:nonblocking={nonblocking}\n").as_bytes())
            .await
            .expect("write");
        let mut lines = BufReader::new(r).lines();
        while let Some(line) = lines.next_line().await.expect("read") {
            w.write_all(format!("child:echo={line}\n").as_bytes())
                .await
                .expect("write");
        }
        w.write_all(b"child:eof\n").await.expect("write");
        w.flush().await.expect("flush");
    });
}

fn run_child(stdin: Stdio, input: &[u8]) -> Vec<String> {
    let exe = std::env::current_exe().expect("test binary");
    let mut child = Command::new(exe)
        .args([TEST, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .stdin(stdin)
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn");
    if let Some(mut i) = child.stdin.take() {
        i.write_all(input).expect("child stdin");
        // Dropped: the child sees the end of its input.
    }
    let mut out = String::new();
    child
        .stdout
        .take()
        .expect("stdout")
        .read_to_string(&mut out)
        .expect("child stdout");
    assert!(child.wait().expect("wait").success());
    out.lines()
        .filter(|l| l.starts_with("child:"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn pipes_run_on_the_reactor() {
    let got = run_child(Stdio::piped(), b"one\ntwo\n");
    assert_eq!(
        got,
        [
            "child:nonblocking=true",
            "child:echo=one",
            "child:echo=two",
            "child:eof"
        ]
    );
}

#[test]
fn other_stdin_falls_back_to_the_blocking_pool() {
    // /dev/null is no pipe: the blocking handles, which still see EOF.
    let got = run_child(Stdio::null(), b"");
    assert_eq!(got, ["child:nonblocking=false", "child:eof"]);
}
