//! A WebSocket echo server on fastwebsockets 0.10 (Deno's), the peer of
//! `wirestate serve`'s `/ws` in bench/ws.sh. It is fastwebsockets' own
//! `examples/echo_server.rs` (hyper 1.x upgrade, `FragmentCollector` so
//! whole messages are echoed, auto pong and auto close, the connection task
//! run `unconstrained` as there), on the same tokio settings as the other
//! servers (current-thread runtime for 1 thread) and with `TCP_NODELAY` as
//! wirestate sets it. No compression (fastwebsockets has none).
//!
//! ```sh
//! cargo run --release -p wirestate-examples --example ws_fastwebsockets_server -- 127.0.0.1:9002 [threads]
//! ```

use fastwebsockets::{FragmentCollector, OpCode, WebSocketError, upgrade};
use http_body_util::Empty;
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use std::net::SocketAddr;

async fn handle_client(fut: upgrade::UpgradeFut) -> Result<(), WebSocketError> {
    let mut ws = FragmentCollector::new(fut.await?);
    loop {
        let frame = ws.read_frame().await?;
        match frame.opcode {
            OpCode::Close => break,
            OpCode::Text | OpCode::Binary => ws.write_frame(frame).await?,
            _ => {}
        }
    }
    Ok(())
}

async fn server_upgrade(
    mut req: Request<Incoming>,
) -> Result<Response<Empty<Bytes>>, WebSocketError> {
    let (response, fut) = upgrade::upgrade(&mut req)?;
    tokio::task::spawn(async move {
        // Errors are the load generator dropping connections; not logged.
        let _ = tokio::task::unconstrained(handle_client(fut)).await;
    });
    Ok(response)
}

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr: SocketAddr = args
        .next()
        .unwrap_or_else(|| "127.0.0.1:9002".into())
        .parse()
        .map_err(std::io::Error::other)?;
    let threads: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(1);
    let rt = if threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()?
    };
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        eprintln!("fastwebsockets echo on ws://{addr}/ws, {threads} thread(s)");
        loop {
            let (stream, _) = listener.accept().await?;
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = http1::Builder::new()
                    .serve_connection(io, service_fn(server_upgrade))
                    .with_upgrades()
                    .await;
            });
        }
    })
}
