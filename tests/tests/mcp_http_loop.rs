//! examples/examples/mcp_http_loop.rs — an MCP Streamable HTTP server on a
//! bare `std::net` loop over `HttpServer` and `ServerConnection` — served
//! on a thread and driven by the blocking MCP client: initialize, a tool
//! that answers several turns of the loop later, a resource, a refusal,
//! DELETE, and the loop's own end.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use serde_json::{Map, json};
use wirestate_blocking::mcp_client::{McpClient, McpClientConfig};
use wirestate_mcp::schema::ContentBlock;

#[allow(dead_code)]
#[path = "../../examples/examples/mcp_http_loop.rs"]
mod example;

fn text(blocks: &[ContentBlock]) -> String {
    match blocks.first() {
        Some(ContentBlock::Text(t)) => t.text.clone(),
        other => panic!("not text: {other:?}"),
    }
}

#[test]
fn the_bare_loop_serves_mcp_over_streamable_http() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let run_for = Duration::from_secs(5);
    let server = std::thread::spawn(move || example::serve(listener, Some(run_for)));
    let url = format!("http://{addr}/mcp");

    let client = McpClient::http(&url, McpClientConfig::default()).unwrap();
    let info = client.server_info().unwrap();
    assert_eq!(info.server_info.name, "wirestate-mcp-http-loop");

    // Answered three turns of 100 ms later, across the loop.
    let started = Instant::now();
    let mut args = Map::new();
    args.insert("steps".into(), json!(3));
    let result = client.call_tool("countdown", Some(args)).unwrap();
    assert_eq!(text(&result.content), "liftoff after 3 steps");
    assert!(started.elapsed() >= Duration::from_millis(300));

    let read = client.read_resource("demo://greeting").unwrap();
    let body = serde_json::to_value(&read.contents).unwrap();
    assert_eq!(body[0]["text"], "Hello from a loop of your own.", "{body}");
    let missing = client.read_resource("demo://nothing").unwrap_err();
    assert!(
        missing.to_string().contains("Resource not found"),
        "{missing}"
    );
    client.close().unwrap();

    // A request naming no session is refused at the HTTP level, and the
    // connection goes on serving (keep-alive).
    let mut raw = TcpStream::connect(addr).unwrap();
    raw.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#;
    let request = format!(
        "POST /mcp HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Accept: application/json, text/event-stream\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    raw.write_all(request.as_bytes()).unwrap();
    let mut got = [0u8; 512];
    let n = raw.read(&mut got).unwrap();
    let head = String::from_utf8_lossy(&got[..n]);
    assert!(head.starts_with("HTTP/1.1 400"), "{head}");

    // A body over the server's limit is answered 413, not cut and parsed.
    let mut raw = TcpStream::connect(addr).unwrap();
    raw.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let len = (4 << 20) + 100;
    let head = format!(
        "POST /mcp HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Accept: application/json, text/event-stream\r\nContent-Length: {len}\r\n\r\n"
    );
    raw.write_all(head.as_bytes()).unwrap();
    raw.write_all(&vec![b' '; len]).unwrap();
    let n = raw.read(&mut got).unwrap();
    let head = String::from_utf8_lossy(&got[..n]);
    assert!(head.starts_with("HTTP/1.1 413"), "{head}");

    // The loop ends by itself once its time is up.
    server.join().unwrap().unwrap();
    assert!(started.elapsed() < run_for + Duration::from_secs(2));
}
