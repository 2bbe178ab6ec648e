//! Everything async that no runtime owns: one generic [`Driver`] that runs
//! any [`Machine`](wirestate_machine::Machine) over any byte stream, and the
//! async HTTP/1.1 server and client and WebSocket ([`ws`]) built on it,
//! and MCP servers over stdio and Streamable HTTP ([`mcp`]) and an MCP
//! client over both ([`mcp_client`]).
//!
//! The crate is written against three small traits, in the manner of
//! hyper's `rt` module and quinn's `Runtime`: a byte stream ([`Io`]), a
//! listener ([`Listener`]) and a [`Runtime`] (clock, resettable sleep,
//! spawn, connect, and name resolution off the executor). `wirestate-tokio`
//! and `wirestate-smol` implement them in a few dozen lines each.

mod body;
mod driver;
mod error;
mod fxhash;
pub mod grpc;
pub mod h2;
pub mod http1;
pub mod mcp;
pub mod mcp_client;
mod shutdown;
#[cfg(feature = "tls")]
pub mod tls;
pub mod ws;

pub use body::{Body, BodyStream, BodyWriter, Frame, FrameStream};
pub use driver::{App, Driver};
pub use error::Error;
pub use shutdown::Shutdown;

use std::future::Future;
use std::io;
use std::io::IoSlice;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

/// A boxed, sendable future.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// A connected byte stream (a TCP stream, a TLS stream, a pipe).
pub trait Io: Send + Unpin + 'static {
    /// Reads into `buf`; `Ok(0)` is end of stream.
    fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>>;
    /// Writes from several buffers at once.
    fn poll_write_vectored(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>>;
    /// Flushes buffered output.
    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
    /// Half-closes the write side.
    fn poll_shutdown(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>>;
    /// Whether the stream is encrypted (TLS): an HTTP/2 client over it
    /// sends `:scheme https` for the requests whose scheme it chooses.
    fn is_secure(&self) -> bool {
        false
    }
}

/// A source of incoming connections.
pub trait Listener: Send + Unpin + 'static {
    /// The connections it yields.
    type Io: Io;
    /// Accepts the next connection.
    fn poll_accept(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<(Self::Io, SocketAddr)>>;
    /// The address it listens on.
    fn local_addr(&self) -> io::Result<SocketAddr>;
}

/// A timer future that can be moved to a new deadline without reallocating.
pub trait Sleep: Future<Output = ()> + Send {
    /// Moves the deadline.
    fn reset(self: Pin<&mut Self>, deadline: Instant);
}

/// What the async layer needs from an executor: time, sleeping, spawning,
/// name resolution and connecting.
pub trait Runtime: Clone + Send + Sync + 'static {
    /// The stream type `connect` yields.
    type Io: Io;
    /// The current instant on the runtime's clock (tests may pause it).
    fn now(&self) -> Instant;
    /// A sleep that completes at `deadline`.
    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn Sleep>>;
    /// Runs `future` in the background.
    fn spawn(&self, future: BoxFuture<()>);
    /// Opens a TCP connection.
    fn connect(&self, addr: SocketAddr) -> BoxFuture<io::Result<Self::Io>>;
    /// Resolves `host` (a name, an IP literal, or a bracketed IPv6 literal
    /// as URLs carry it) to the addresses to try, in order, for `port`.
    ///
    /// The system resolver blocks, so it must not run on an executor
    /// thread. The default answers IP literals at once ([`ip_literal`]) and
    /// otherwise resolves on a short-lived thread of its own
    /// ([`resolve_on_thread`]); runtimes with a blocking pool override it.
    fn resolve(&self, host: &str, port: u16) -> BoxFuture<io::Result<Vec<SocketAddr>>> {
        resolve_on_thread(host, port)
    }
}

/// `host` as an IP address, when it is one (`127.0.0.1`, `::1`, `[::1]`):
/// such hosts need no resolver at all.
pub fn ip_literal(host: &str, port: u16) -> Option<SocketAddr> {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    bare.parse::<std::net::IpAddr>()
        .ok()
        .map(|ip| SocketAddr::new(ip, port))
}

/// Resolves `host` with the system resolver on a new thread and hands the
/// result back through a oneshot channel, so no executor thread blocks on
/// DNS; IP literals are answered at once without a thread. This is the
/// default [`Runtime::resolve`].
pub fn resolve_on_thread(host: &str, port: u16) -> BoxFuture<io::Result<Vec<SocketAddr>>> {
    if let Some(addr) = ip_literal(host, port) {
        return Box::pin(std::future::ready(Ok(vec![addr])));
    }
    let host = host.to_owned();
    let (tx, rx) = futures_channel::oneshot::channel();
    let spawned = std::thread::Builder::new()
        .name("wirestate-resolve".into())
        .spawn(move || {
            use std::net::ToSocketAddrs;
            let result = (host.as_str(), port)
                .to_socket_addrs()
                .map(|addrs| addrs.collect());
            // The caller may have given up (timed out); nobody to tell then.
            let _ = tx.send(result);
        });
    Box::pin(async move {
        spawned?;
        rx.await
            .unwrap_or_else(|_| Err(io::Error::other("resolver thread ended without an answer")))
    })
}

/// Waits until `deadline`, on `rt`.
pub async fn sleep_until<R: Runtime>(rt: &R, deadline: Instant) {
    rt.sleep_until(deadline).await
}

/// Runs `fut` with a deadline; `None` when the deadline passed first.
pub async fn timeout<R: Runtime, F: Future>(
    rt: &R,
    deadline: Instant,
    fut: F,
) -> Option<F::Output> {
    let mut fut = std::pin::pin!(fut);
    let mut sleep = rt.sleep_until(deadline);
    std::future::poll_fn(move |cx| {
        if let Poll::Ready(v) = fut.as_mut().poll(cx) {
            return Poll::Ready(Some(v));
        }
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

    #[test]
    fn ip_literal_accepts_bare_and_bracketed_addresses_only() {
        let v6 = SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 1);
        assert_eq!(ip_literal("::1", 1), Some(v6));
        assert_eq!(ip_literal("[::1]", 1), Some(v6));
        assert_eq!(
            ip_literal("10.0.0.1", 2),
            Some(SocketAddr::new(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)), 2))
        );
        assert_eq!(ip_literal("localhost", 1), None);
        assert_eq!(ip_literal("[10.0.0.1", 1), None);
        assert_eq!(ip_literal("", 1), None);
    }

    #[test]
    fn resolve_on_thread_answers_names_and_literals() {
        let addrs = futures_lite::future::block_on(resolve_on_thread("localhost", 7)).unwrap();
        assert!(!addrs.is_empty());
        assert!(addrs.iter().all(|a| a.ip().is_loopback() && a.port() == 7));
        let lit = futures_lite::future::block_on(resolve_on_thread("[::1]", 7)).unwrap();
        assert_eq!(
            lit,
            vec![SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 7)]
        );
        assert!(
            futures_lite::future::block_on(resolve_on_thread("no-such-host.invalid", 7)).is_err()
        );
    }
}
