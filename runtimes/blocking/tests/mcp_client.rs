//! The blocking MCP client against a scripted stdio server (a shell script
//! answering by line), and child reaping.

use std::time::{Duration, Instant};

use wirestate_blocking::mcp_client::{McpClient, McpClientConfig, McpClientError};

/// Answers initialize (id 1) with 2025-06-18, reads
/// notifications/initialized, answers tools/list (id 2) with one page
/// and a cursor, then (id 3) the last page, then waits for EOF.
const SCRIPT: &str = r#"
read l
echo '{"jsonrpc":"2.0","id":1,"result":{"protocolVersion":"2025-06-18","capabilities":{"tools":{}},"serverInfo":{"name":"sh","version":"1"}}}'
read l
read l
echo '{"jsonrpc":"2.0","method":"notifications/message","params":{"level":"info","data":"hi"}}'
echo '{"jsonrpc":"2.0","id":2,"result":{"tools":[{"name":"a","inputSchema":{"type":"object"}}],"nextCursor":"p2"}}'
read l
echo '{"jsonrpc":"2.0","id":3,"result":{"tools":[{"name":"b","inputSchema":{"type":"object"}}]}}'
cat >/dev/null
"#;

#[test]
fn scripted_stdio_server() {
    let client = McpClient::spawn("sh", &["-c", SCRIPT], McpClientConfig::default()).unwrap();
    assert_eq!(client.protocol_version(), Some("2025-06-18"));
    assert_eq!(client.server_info().unwrap().server_info.name, "sh");
    let names: Vec<String> = client
        .list_all_tools()
        .unwrap()
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert_eq!(names, ["a", "b"]);
    let event = client.next_event(Duration::from_secs(5)).unwrap();
    assert!(
        matches!(&event, wirestate_mcp::ClientEvent::Log(l) if l.data == "hi"),
        "{event:?}"
    );
    let start = Instant::now();
    let status = client.close().unwrap().unwrap();
    assert!(status.success(), "{status:?}");
    assert!(start.elapsed() < Duration::from_secs(3));
}

#[test]
fn silent_child_is_killed_and_reaped() {
    let mut config = McpClientConfig::default();
    config.shutdown_timeout = Duration::from_millis(200);
    config.session.jsonrpc.request_timeout = Some(Duration::from_millis(300));
    let start = Instant::now();
    let e = McpClient::spawn("sh", &["-c", "exec sleep 30"], config).unwrap_err();
    assert!(
        matches!(
            e,
            McpClientError::Session(wirestate_mcp::Error::InitializeTimedOut)
        ),
        "{e:?}"
    );
    assert!(start.elapsed() < Duration::from_secs(5));
}

#[test]
fn unsupported_version_is_refused() {
    let script = r#"read l; echo '{"jsonrpc":"2.0","id":1,"result":{"protocolVersion":"1999-01-01","capabilities":{},"serverInfo":{"name":"old","version":"0"}}}'; cat >/dev/null"#;
    let e = McpClient::spawn("sh", &["-c", script], McpClientConfig::default()).unwrap_err();
    assert!(
        matches!(&e, McpClientError::Session(wirestate_mcp::Error::UnsupportedVersion { version }) if version == "1999-01-01"),
        "{e:?}"
    );
}
