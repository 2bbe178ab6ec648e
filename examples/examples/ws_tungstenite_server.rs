//! A WebSocket echo server on tokio-tungstenite 0.28, the peer of
//! `wirestate serve`'s `/ws` in bench/ws.sh: `accept_async` with the default
//! `WebSocketConfig` (tungstenite has no compression unless its `deflate`
//! feature is on, which it is not here), then every text or binary message
//! sent back as received (pings are answered by tungstenite itself; a close
//! ends the loop after tungstenite queues its echo). Same tokio settings as
//! the other servers (current-thread runtime for 1 thread) and
//! `TCP_NODELAY` as wirestate sets it.
//!
//! ```sh
//! cargo run --release -p wirestate-examples --example ws_tungstenite_server -- 127.0.0.1:9001 [threads]
//! ```

use futures_util::{SinkExt, StreamExt};
use std::net::SocketAddr;

async fn handle(
    stream: tokio::net::TcpStream,
) -> Result<(), tokio_tungstenite::tungstenite::Error> {
    let mut ws = tokio_tungstenite::accept_async(stream).await?;
    while let Some(msg) = ws.next().await {
        let msg = msg?;
        if msg.is_binary() || msg.is_text() {
            ws.send(msg).await?;
        } else if msg.is_close() {
            break;
        }
    }
    Ok(())
}

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr: SocketAddr = args
        .next()
        .unwrap_or_else(|| "127.0.0.1:9001".into())
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
        eprintln!("tokio-tungstenite echo on ws://{addr}/ (any path), {threads} thread(s)");
        loop {
            let (stream, _) = listener.accept().await?;
            let _ = stream.set_nodelay(true);
            // Errors are the load generator dropping connections; not logged.
            tokio::spawn(async move {
                let _ = handle(stream).await;
            });
        }
    })
}
