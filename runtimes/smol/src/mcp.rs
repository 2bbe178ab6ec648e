//! MCP clients on smol: a stdio child process ([`connect_child`], spawned
//! with `smol::process` and always reaped) or a Streamable HTTP endpoint
//! ([`connect_http`]) or WebSocket endpoint
//! ([`connect_ws`]).
//!
//! ```no_run
//! # async fn run() -> Result<(), wirestate_rt::mcp_client::McpClientError> {
//! let client = wirestate_smol::mcp::connect_child("wirestate", &["mcp-server"], Default::default()).await?;
//! for tool in client.list_all_tools().await? {
//!     println!("{}", tool.name);
//! }
//! client.close().await?;
//! # Ok(()) }
//! ```
//!
//! And a server on this process's stdin and stdout: [`serve_stdio`] (for
//! Streamable HTTP, mount
//! [`McpServer::http`](wirestate_rt::mcp::McpServer::http) in a server of
//! this crate).

use std::ffi::OsStr;
use std::future::Future;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::process::ExitStatus;
use std::task::{Context, Poll};

use futures_lite::{AsyncRead, AsyncWrite};
use smol::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use wirestate_rt::Io;
use wirestate_rt::mcp::McpServer;
use wirestate_rt::mcp_client::{ChildProcess, McpClient, McpClientConfig, McpClientError};

use crate::SmolRuntime;

/// A child's stdout (read) and stdin (write) as one [`Io`];
/// `poll_shutdown` closes stdin, which tells an MCP server to exit.
#[derive(Debug)]
pub struct ChildIo {
    stdout: ChildStdout,
    stdin: Option<ChildStdin>,
}

impl Io for ChildIo {
    fn poll_read(&mut self, cx: &mut Context<'_>, buf: &mut [u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stdout).poll_read(cx, buf)
    }

    fn poll_write_vectored(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match &mut self.stdin {
            Some(w) => Pin::new(w).poll_write_vectored(cx, bufs),
            None => Poll::Ready(Err(io::ErrorKind::BrokenPipe.into())),
        }
    }

    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.stdin {
            Some(w) => Pin::new(w).poll_flush(cx),
            None => Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(&mut self, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Dropping the pipe's write end is what the child sees as EOF.
        self.stdin = None;
        Poll::Ready(Ok(()))
    }
}

/// A `smol::process::Child` as a [`ChildProcess`].
#[derive(Debug)]
pub struct SmolChild(pub Child);

impl ChildProcess for SmolChild {
    fn wait(&mut self) -> Pin<Box<dyn Future<Output = io::Result<ExitStatus>> + Send + '_>> {
        Box::pin(self.0.status())
    }

    fn kill(&mut self) -> io::Result<()> {
        self.0.kill()
    }

    fn id(&self) -> Option<u32> {
        Some(self.0.id())
    }
}

/// Spawns `program` with `args`, stdin and stdout piped, stderr inherited,
/// killed if dropped unreaped.
///
/// # Errors
///
/// Spawning failed.
pub fn spawn_child<P: AsRef<OsStr>, A: AsRef<OsStr>>(
    program: P,
    args: &[A],
) -> io::Result<(ChildIo, SmolChild)> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()?;
    let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        return Err(io::Error::other("the child's pipes are missing"));
    };
    Ok((
        ChildIo {
            stdout,
            stdin: Some(stdin),
        },
        SmolChild(child),
    ))
}

/// Spawns an MCP server as a child process and initializes a session with
/// it ([`McpClient::connect_stdio`]). If `initialize` fails the child is
/// closed and reaped.
///
/// # Errors
///
/// Spawning failed, or [`McpClient::initialize`]'s errors.
pub async fn connect_child<P: AsRef<OsStr>, A: AsRef<OsStr>>(
    program: P,
    args: &[A],
    config: McpClientConfig,
) -> Result<McpClient<SmolRuntime>, McpClientError> {
    let (io, child) = spawn_child(program, args)?;
    McpClient::connect_stdio(SmolRuntime::new(), io, Some(Box::new(child)), config).await
}

/// Initializes a session with the Streamable HTTP endpoint at `url`
/// ([`McpClient::connect_http`]).
///
/// # Errors
///
/// A bad URL, or [`McpClient::initialize`]'s errors.
pub async fn connect_http(
    url: &str,
    config: McpClientConfig,
) -> Result<McpClient<SmolRuntime>, McpClientError> {
    McpClient::connect_http(SmolRuntime::new(), url, config).await
}

/// Initializes a session with the MCP WebSocket endpoint at `url`
/// (`ws://`, subprotocol `mcp`; [`McpClient::connect_websocket`]).
///
/// # Errors
///
/// A bad URL, a refused connection or handshake, or
/// [`McpClient::initialize`]'s errors.
pub async fn connect_ws(
    url: &str,
    config: McpClientConfig,
) -> Result<McpClient<SmolRuntime>, McpClientError> {
    McpClient::connect_websocket(SmolRuntime::new(), url, config).await
}

/// Serves `server` on this process's stdin and stdout (one JSON-RPC
/// message per line) until the client closes stdin: what an MCP client
/// that spawns this program expects. [`McpServer::serve_io`] on
/// `SmolIo(stdio())`, this crate's stdio as an [`Io`].
///
/// ```no_run
/// # async fn run() -> std::io::Result<()> {
/// use wirestate_rt::mcp::{McpServer, NoArgs, ToolError};
/// let server = McpServer::builder()
///     .name("hello", "1.0")
///     .tool("hello", "Says hello.", |_: NoArgs| async move {
///         Ok::<_, ToolError>("hello")
///     })
///     .build();
/// wirestate_smol::mcp::serve_stdio(&server).await
/// # }
/// ```
///
/// # Errors
///
/// The streams' I/O errors.
pub async fn serve_stdio(server: &McpServer) -> io::Result<()> {
    server
        .serve_io(SmolRuntime::new(), crate::SmolIo(crate::stdio()))
        .await
}
