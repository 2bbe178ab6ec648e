//! wirestate on smol: [`SmolRuntime`], [`SmolIo`] and [`SmolListener`]
//! implement the `wirestate-rt` traits over async-io; [`bind`], [`serve`]
//! and [`client`] are the shortcuts.
//!
//! ```no_run
//! # fn run() -> std::io::Result<()> {
//! use wirestate_rt::{Body, Shutdown};
//! smol::block_on(async {
//!     let listener = wirestate_smol::bind("127.0.0.1:8080".parse().unwrap())?;
//!     let handler = |_req: http::Request<Body>| async { http::Response::new(Body::from("hello")) };
//!     wirestate_smol::serve(listener, handler, Default::default(), Shutdown::new()).await
//! })
//! # }
//! ```

use async_io::{Async, Timer};
use futures_lite::{AsyncRead, AsyncWrite};
use std::future::Future;
use std::io::{self, IoSlice};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;
use wirestate_http1::ClientConnection;
use wirestate_rt::http1::{Client, ClientApp, ClientConfig, Handler, SendRequest, ServerConfig};
use wirestate_rt::{BoxFuture, Driver, Io, Listener, Runtime, Shutdown, Sleep};

pub mod mcp;

/// The smol runtime: async-io timers and sockets, tasks on smol's global
/// executor or on an executor of your own ([`SmolRuntime::with_executor`]).
#[derive(Debug, Clone, Default)]
pub struct SmolRuntime {
    executor: Option<Arc<smol::Executor<'static>>>,
}

impl SmolRuntime {
    /// Spawns on smol's global executor.
    pub fn new() -> Self {
        Self::default()
    }

    /// Spawns on `executor` (run it on as many threads as you like).
    pub fn with_executor(executor: Arc<smol::Executor<'static>>) -> Self {
        Self {
            executor: Some(executor),
        }
    }
}

impl Runtime for SmolRuntime {
    type Io = SmolIo<Async<TcpStream>>;

    fn now(&self) -> Instant {
        Instant::now()
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn Sleep>> {
        Box::pin(SmolSleep(Timer::at(deadline)))
    }

    fn spawn(&self, future: BoxFuture<()>) {
        match &self.executor {
            Some(ex) => ex.spawn(future).detach(),
            None => smol::spawn(future).detach(),
        }
    }

    fn connect(&self, addr: SocketAddr) -> BoxFuture<io::Result<Self::Io>> {
        Box::pin(async move {
            let s = Async::<TcpStream>::connect(addr).await?;
            s.get_ref().set_nodelay(true)?;
            Ok(SmolIo(s))
        })
    }

    /// IP literals at once, names through `smol::net::resolve` (the system
    /// resolver on smol's blocking pool).
    fn resolve(&self, host: &str, port: u16) -> BoxFuture<io::Result<Vec<SocketAddr>>> {
        if let Some(addr) = wirestate_rt::ip_literal(host, port) {
            return Box::pin(std::future::ready(Ok(vec![addr])));
        }
        let host = host.to_owned();
        Box::pin(async move { smol::net::resolve((host.as_str(), port)).await })
    }
}

struct SmolSleep(Timer);

impl Future for SmolSleep {
    type Output = ();
    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(&mut self.0).poll(cx).map(|_| ())
    }
}

impl Sleep for SmolSleep {
    fn reset(mut self: Pin<&mut Self>, deadline: Instant) {
        self.0.set_at(deadline);
    }
}

/// Any futures-io stream (async-io sockets, smol's net types) as a
/// wirestate [`Io`].
#[derive(Debug)]
pub struct SmolIo<T>(pub T);

impl<T: AsyncRead + AsyncWrite + Send + Unpin + 'static> Io for SmolIo<T> {
    fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }

    fn poll_write_vectored(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }

    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        std::task::ready!(Pin::new(&mut self.0).poll_close(cx))?;
        // `Async<TcpStream>::poll_close` only flushes: the peer would never
        // see our FIN (a WebSocket server must close TCP first, an HTTP/1.1
        // `Connection: close` response must end). Half-close it here.
        if let Some(tcp) = (&self.0 as &dyn std::any::Any).downcast_ref::<Async<TcpStream>>() {
            match tcp.get_ref().shutdown(std::net::Shutdown::Write) {
                Err(e) if e.kind() != io::ErrorKind::NotConnected => return Poll::Ready(Err(e)),
                _ => {}
            }
        }
        Poll::Ready(Ok(()))
    }
}

/// This process's standard input and output as one stream, for serving
/// a protocol on stdio (an MCP server launched by its client):
/// `SmolIo(stdio())` is an [`Io`].
///
/// Both go through [`smol::Unblock`], which reads and writes on smol's
/// blocking thread pool: standard input and output may be a terminal or
/// a file, which async-io cannot wait on.
pub fn stdio() -> Stdio {
    Stdio {
        read: smol::Unblock::new(io::stdin()),
        write: smol::Unblock::new(io::stdout()),
    }
}

/// Standard input and output as one futures-io stream; see [`stdio`].
#[derive(Debug)]
pub struct Stdio {
    read: smol::Unblock<io::Stdin>,
    write: smol::Unblock<io::Stdout>,
}

impl AsyncRead for Stdio {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.read).poll_read(cx, buf)
    }
}

impl AsyncWrite for Stdio {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.write).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.write).poll_flush(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.write).poll_close(cx)
    }
}

/// An async-io TCP listener as a wirestate [`Listener`]. Accepted streams
/// get `TCP_NODELAY`: the driver batches writes itself.
#[derive(Debug)]
pub struct SmolListener(pub Async<TcpListener>);

impl Listener for SmolListener {
    type Io = SmolIo<Async<TcpStream>>;

    fn poll_accept(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<(Self::Io, SocketAddr)>> {
        loop {
            match self.0.get_ref().accept() {
                Ok((s, addr)) => {
                    let _ = s.set_nodelay(true);
                    return Poll::Ready(Async::new(s).map(|s| (SmolIo(s), addr)));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => match self.0.poll_readable(cx) {
                    Poll::Ready(Ok(())) => continue,
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => return Poll::Pending,
                },
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.0.get_ref().local_addr()
    }
}

/// Binds a TCP listener.
pub fn bind(addr: SocketAddr) -> io::Result<SmolListener> {
    Ok(SmolListener(Async::<TcpListener>::bind(addr)?))
}

/// Serves HTTP/1.1 with `handler` on smol's global executor until
/// `shutdown` fires and connections drain. Use
/// `wirestate_rt::http1::serve(SmolRuntime::with_executor(..), ..)` for an
/// executor of your own.
pub async fn serve<H: Handler>(
    listener: SmolListener,
    handler: H,
    config: ServerConfig,
    shutdown: Shutdown,
) -> io::Result<()> {
    wirestate_rt::http1::serve(SmolRuntime::new(), listener, handler, config, shutdown).await
}

/// A pooled HTTP/1.1 client on smol's global executor.
pub fn client(config: ClientConfig) -> Client<SmolRuntime> {
    Client::new(SmolRuntime::new(), config)
}

/// The driver future of a client connection on smol.
pub type ClientDriver = Driver<SmolRuntime, ClientConnection, SmolIo<Async<TcpStream>>, ClientApp>;

/// Connects and starts one client connection; spawn the returned driver.
pub async fn connect(
    addr: SocketAddr,
    config: wirestate_http1::ClientConfig,
    pipelining: bool,
) -> io::Result<(SendRequest, ClientDriver)> {
    let rt = SmolRuntime::new();
    let io = rt.connect(addr).await?;
    Ok(wirestate_rt::http1::handshake(rt, io, config, pipelining))
}

/// WebSocket on smol: [`connect`](ws::connect) spawns the connection on
/// smol's global executor and returns the socket. Servers upgrade from a
/// handler with [`wirestate_rt::ws::upgrade`].
///
/// ```no_run
/// # fn run() -> Result<(), wirestate_rt::ws::Error> {
/// smol::block_on(async {
///     let mut socket = wirestate_smol::ws::connect("ws://127.0.0.1:8080/ws").await?;
///     socket.send("hello").await?;
///     let reply = socket.recv().await;
///     # let _ = reply;
///     Ok(())
/// })
/// # }
/// ```
pub mod ws {
    use super::{SmolIo, SmolRuntime};
    use async_io::Async;
    use std::net::TcpStream;
    pub use wirestate_rt::ws::{
        CloseFrame, Config, Error, Message, MessageKind, Received, WebSocket, WsReceiver, WsSender,
        close_code, upgrade,
    };

    /// The connection future of a smol WebSocket client.
    pub type Connection = wirestate_rt::ws::WsConnection<SmolRuntime, SmolIo<Async<TcpStream>>>;

    /// Connects to a `ws://` URL with the default [`Config`] and spawns
    /// the connection on smol's global executor.
    pub async fn connect(url: &str) -> Result<WebSocket, Error> {
        connect_with(url, Config::default()).await
    }

    /// Connects to a `ws://` URL with `config` and spawns the connection
    /// on smol's global executor (use [`wirestate_rt::ws::connect`] with
    /// [`SmolRuntime::with_executor`] for another).
    pub async fn connect_with(url: &str, config: Config) -> Result<WebSocket, Error> {
        let (socket, connection) =
            wirestate_rt::ws::connect(SmolRuntime::new(), url, config).await?;
        // A transport failure reaches the socket's receiver as an error.
        smol::spawn(async move {
            let _ = connection.await;
        })
        .detach();
        Ok(socket)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

    #[test]
    fn resolves_ip_literals_including_bracketed_ipv6() {
        smol::block_on(async {
            let rt = SmolRuntime::new();
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
        let addrs = smol::block_on(SmolRuntime::new().resolve("localhost", 443)).unwrap();
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
        assert!(smol::block_on(SmolRuntime::new().resolve("no-such-host.invalid", 80)).is_err());
    }
}
