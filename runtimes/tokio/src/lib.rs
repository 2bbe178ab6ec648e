//! wirestate on tokio: [`TokioRuntime`], [`TokioIo`] and [`TokioListener`]
//! implement the `wirestate-rt` traits; [`bind`], [`serve`] and [`client`]
//! are the shortcuts.
//!
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! use wirestate_rt::{Body, Shutdown};
//! let listener = wirestate_tokio::bind("127.0.0.1:8080".parse().unwrap()).await?;
//! let handler = |_req: http::Request<Body>| async { http::Response::new(Body::from("hello")) };
//! wirestate_tokio::serve(listener, handler, Default::default(), Shutdown::new()).await
//! # }
//! ```

use std::io::{self, IoSlice};
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use wirestate_http1::ClientConnection;
use wirestate_rt::http1::{Client, ClientApp, ClientConfig, Handler, SendRequest, ServerConfig};
use wirestate_rt::{BoxFuture, Driver, Io, Listener, Runtime, Shutdown, Sleep};

pub mod mcp;

/// The tokio runtime: `tokio::spawn`, `tokio::time` (so paused-time tests
/// work) and `tokio::net`. Must be used from within a tokio runtime.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokioRuntime;

impl Runtime for TokioRuntime {
    type Io = TokioIo<tokio::net::TcpStream>;

    fn now(&self) -> Instant {
        tokio::time::Instant::now().into_std()
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn Sleep>> {
        Box::pin(TokioSleep(Box::pin(tokio::time::sleep_until(
            deadline.into(),
        ))))
    }

    fn spawn(&self, future: BoxFuture<()>) {
        tokio::spawn(future);
    }

    fn connect(&self, addr: SocketAddr) -> BoxFuture<io::Result<Self::Io>> {
        Box::pin(async move {
            let s = tokio::net::TcpStream::connect(addr).await?;
            s.set_nodelay(true)?;
            Ok(TokioIo(s))
        })
    }

    /// IP literals at once, names through `tokio::net::lookup_host` (the
    /// system resolver on tokio's blocking pool).
    fn resolve(&self, host: &str, port: u16) -> BoxFuture<io::Result<Vec<SocketAddr>>> {
        if let Some(addr) = wirestate_rt::ip_literal(host, port) {
            return Box::pin(std::future::ready(Ok(vec![addr])));
        }
        let host = host.to_owned();
        Box::pin(async move {
            Ok(tokio::net::lookup_host((host.as_str(), port))
                .await?
                .collect())
        })
    }
}

struct TokioSleep(Pin<Box<tokio::time::Sleep>>);

impl std::future::Future for TokioSleep {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        self.0.as_mut().poll(cx)
    }
}

impl Sleep for TokioSleep {
    fn reset(mut self: Pin<&mut Self>, deadline: Instant) {
        self.0.as_mut().reset(deadline.into());
    }
}

/// Reads from a tokio reader into `buf`, as [`Io::poll_read`] does: the
/// number of bytes read, `0` at the end.
pub(crate) fn poll_read_into<T: AsyncRead + Unpin>(
    reader: &mut T,
    cx: &mut Context<'_>,
    buf: &mut [u8],
) -> Poll<io::Result<usize>> {
    let mut rb = ReadBuf::new(buf);
    Pin::new(reader)
        .poll_read(cx, &mut rb)
        .map_ok(|()| rb.filled().len())
}

/// Any tokio stream as a wirestate [`Io`].
#[derive(Debug)]
pub struct TokioIo<T>(pub T);

impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Io for TokioIo<T> {
    fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        poll_read_into(&mut self.0, cx, buf)
    }

    fn poll_write_vectored(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        // One chunk (the common case: small frames and responses are
        // coalesced into one) goes out with write(2), which skips the
        // kernel's iovec import that writev(2) pays on every call.
        if let [one] = bufs {
            return Pin::new(&mut self.0).poll_write(cx, one);
        }
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }

    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

/// This process's standard input and output as one stream, for serving
/// a protocol on stdio (an MCP server launched by its client):
/// `TokioIo(stdio())` is an [`Io`].
///
/// When both are pipes — as MCP clients launch their servers — on Linux
/// they are reopened through `/proc/self/fd` with `O_NONBLOCK` and driven
/// by tokio's reactor (`tokio::net::unix::pipe`). Otherwise (a terminal,
/// a file, another system) they are `tokio::io::stdin()` and `stdout()`,
/// whose every read and write is handed to tokio's blocking thread pool:
/// a thread switch each way per message, which more than halved the calls
/// per second of an MCP stdio server in `bench/mcp.sh`. Reopening gives the
/// pipes open file descriptions of their own, so the non-blocking flag
/// does not leak into the process's own descriptors 0 and 1, which the
/// parent and any child share. (rmcp's `stdio_pipes` does the same.)
///
/// # Panics
///
/// Outside a tokio runtime with IO enabled, as `tokio::net` does.
pub fn stdio() -> Stdio {
    #[cfg(target_os = "linux")]
    {
        let open = tokio::net::unix::pipe::OpenOptions::new();
        if let (Ok(r), Ok(w)) = (
            open.open_receiver("/proc/self/fd/0"),
            open.open_sender("/proc/self/fd/1"),
        ) {
            return Stdio {
                read: StdinImpl::Pipe(r),
                write: StdoutImpl::Pipe(w),
            };
        }
    }
    Stdio {
        read: StdinImpl::Std(tokio::io::stdin()),
        write: StdoutImpl::Std(tokio::io::stdout()),
    }
}

/// Standard input and output as one tokio stream; see [`stdio`].
#[derive(Debug)]
pub struct Stdio {
    read: StdinImpl,
    write: StdoutImpl,
}

#[derive(Debug)]
enum StdinImpl {
    #[cfg(target_os = "linux")]
    Pipe(tokio::net::unix::pipe::Receiver),
    Std(tokio::io::Stdin),
}

#[derive(Debug)]
enum StdoutImpl {
    #[cfg(target_os = "linux")]
    Pipe(tokio::net::unix::pipe::Sender),
    Std(tokio::io::Stdout),
}

impl Stdio {
    /// Whether both run on tokio's reactor (non-blocking pipes) rather
    /// than the blocking thread pool.
    pub fn is_nonblocking(&self) -> bool {
        #[cfg(target_os = "linux")]
        {
            matches!(
                (&self.read, &self.write),
                (StdinImpl::Pipe(_), StdoutImpl::Pipe(_))
            )
        }
        #[cfg(not(target_os = "linux"))]
        {
            false
        }
    }
}

impl AsyncRead for Stdio {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match &mut self.read {
            #[cfg(target_os = "linux")]
            StdinImpl::Pipe(r) => Pin::new(r).poll_read(cx, buf),
            StdinImpl::Std(r) => Pin::new(r).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stdio {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match &mut self.write {
            #[cfg(target_os = "linux")]
            StdoutImpl::Pipe(w) => Pin::new(w).poll_write(cx, buf),
            StdoutImpl::Std(w) => Pin::new(w).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match &mut self.write {
            #[cfg(target_os = "linux")]
            StdoutImpl::Pipe(w) => Pin::new(w).poll_write_vectored(cx, bufs),
            StdoutImpl::Std(w) => Pin::new(w).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match &self.write {
            #[cfg(target_os = "linux")]
            StdoutImpl::Pipe(w) => w.is_write_vectored(),
            StdoutImpl::Std(w) => w.is_write_vectored(),
        }
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.write {
            #[cfg(target_os = "linux")]
            StdoutImpl::Pipe(w) => Pin::new(w).poll_flush(cx),
            StdoutImpl::Std(w) => Pin::new(w).poll_flush(cx),
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.write {
            #[cfg(target_os = "linux")]
            StdoutImpl::Pipe(w) => Pin::new(w).poll_shutdown(cx),
            StdoutImpl::Std(w) => Pin::new(w).poll_shutdown(cx),
        }
    }
}

/// A tokio TCP listener as a wirestate [`Listener`]. Accepted streams get
/// `TCP_NODELAY`: the driver batches writes itself.
#[derive(Debug)]
pub struct TokioListener(pub tokio::net::TcpListener);

impl Listener for TokioListener {
    type Io = TokioIo<tokio::net::TcpStream>;

    fn poll_accept(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<(Self::Io, SocketAddr)>> {
        match self.0.poll_accept(cx) {
            Poll::Ready(Ok((s, addr))) => {
                let _ = s.set_nodelay(true);
                Poll::Ready(Ok((TokioIo(s), addr)))
            }
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.local_addr()
    }
}

/// Binds a TCP listener.
pub async fn bind(addr: SocketAddr) -> io::Result<TokioListener> {
    Ok(TokioListener(tokio::net::TcpListener::bind(addr).await?))
}

/// Serves HTTP/1.1 with `handler` until `shutdown` fires and connections drain.
pub async fn serve<H: Handler>(
    listener: TokioListener,
    handler: H,
    config: ServerConfig,
    shutdown: Shutdown,
) -> io::Result<()> {
    wirestate_rt::http1::serve(TokioRuntime, listener, handler, config, shutdown).await
}

/// A pooled HTTP/1.1 client on tokio.
pub fn client(config: ClientConfig) -> Client<TokioRuntime> {
    Client::new(TokioRuntime, config)
}

/// The driver future of a client connection on tokio.
pub type ClientDriver =
    Driver<TokioRuntime, ClientConnection, TokioIo<tokio::net::TcpStream>, ClientApp>;

/// Connects and starts one client connection; spawn the returned driver.
pub async fn connect(
    addr: SocketAddr,
    config: wirestate_http1::ClientConfig,
    pipelining: bool,
) -> io::Result<(SendRequest, ClientDriver)> {
    let io = TokioRuntime.connect(addr).await?;
    Ok(wirestate_rt::http1::handshake(
        TokioRuntime,
        io,
        config,
        pipelining,
    ))
}

/// WebSocket on tokio: [`connect`](ws::connect) spawns the connection on
/// the current tokio runtime and returns the socket. Servers upgrade from
/// a handler with [`wirestate_rt::ws::upgrade`].
///
/// ```no_run
/// # async fn run() -> Result<(), wirestate_rt::ws::Error> {
/// let mut socket = wirestate_tokio::ws::connect("ws://127.0.0.1:8080/ws").await?;
/// socket.send("hello").await?;
/// let reply = socket.recv().await;
/// # let _ = reply;
/// # Ok(())
/// # }
/// ```
pub mod ws {
    use super::{TokioIo, TokioRuntime};
    pub use wirestate_rt::ws::{
        CloseFrame, Config, Error, Message, MessageKind, Received, WebSocket, WsReceiver, WsSender,
        close_code, upgrade,
    };

    /// The connection future of a tokio WebSocket client.
    pub type Connection =
        wirestate_rt::ws::WsConnection<TokioRuntime, TokioIo<tokio::net::TcpStream>>;

    /// Connects to a `ws://` URL with the default [`Config`] and spawns
    /// the connection.
    pub async fn connect(url: &str) -> Result<WebSocket, Error> {
        connect_with(url, Config::default()).await
    }

    /// Connects to a `ws://` URL with `config` and spawns the connection.
    pub async fn connect_with(url: &str, config: Config) -> Result<WebSocket, Error> {
        let (socket, connection) = wirestate_rt::ws::connect(TokioRuntime, url, config).await?;
        // A transport failure reaches the socket's receiver as an error.
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(socket)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn resolves_ip_literals_including_bracketed_ipv6() {
        block_on(async {
            let rt = TokioRuntime;
            assert_eq!(
                rt.resolve("127.0.0.1", 80).await.unwrap(),
                vec![SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 80)]
            );
            let v6 = vec![SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 8080)];
            assert_eq!(rt.resolve("::1", 8080).await.unwrap(), v6);
            assert_eq!(rt.resolve("[::1]", 8080).await.unwrap(), v6);
        });
    }

    #[test]
    fn resolves_localhost_to_loopback() {
        let addrs = block_on(TokioRuntime.resolve("localhost", 443)).unwrap();
        assert!(!addrs.is_empty());
        assert!(
            addrs
                .iter()
                .all(|a| a.ip().is_loopback() && a.port() == 443)
        );
    }

    #[test]
    fn an_unresolvable_name_is_an_error_not_a_panic() {
        // `.invalid` is reserved never to resolve (RFC 6761).
        assert!(block_on(TokioRuntime.resolve("no-such-host.invalid", 80)).is_err());
    }
}
