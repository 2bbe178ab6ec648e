//! Everything async that no runtime owns: one generic [`Driver`] that runs
//! any [`Machine`](wirestate_machine::Machine) over any byte stream, and the
//! async HTTP/1.1 server and client and WebSocket ([`ws`]) built on it,
//! and MCP servers over stdio and Streamable HTTP ([`mcp`]) and an MCP
//! client over both ([`mcp_client`]).
//!
//! The crate is written against three small traits, in the manner of
//! hyper's `rt` module and quinn's `Runtime`: a byte stream ([`Io`]), a
//! listener ([`Listener`]) and a [`Runtime`] (clock, resettable sleep,
//! spawn, connect). `wirestate-tokio` and `wirestate-smol` implement them in
//! a few dozen lines each.

mod body;
mod driver;
mod error;
pub mod grpc;
pub mod h2;
pub mod http1;
pub mod mcp;
pub mod mcp_client;
mod shutdown;
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

/// What the async layer needs from an executor: time, sleeping, spawning
/// and connecting.
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
