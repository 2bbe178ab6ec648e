//! The MCP benchmark peer of `bench/mcp.sh`: an `echo` tool on rmcp (the
//! official Rust MCP SDK), doing the same work as the `echo` tool of
//! `wirestate mcp-server` and `wirestate serve`'s `/mcp`
//! (`wirestate_examples::mcp`): input `{"text": string}`, structured output
//! `{"text", "length"}` (the text and its length in characters) with its
//! output schema, and the same JSON as a text content block.
//!
//! ```sh
//! # stdio, over rmcp's non-blocking pipe transport (stdio_pipes: tokio's
//! # pipe driver when stdin and stdout are FIFOs, as MCP clients launch
//! # servers; its blocking stdio handles otherwise):
//! rmcp_echo_server stdio
//! # Streamable HTTP at http://ADDR/mcp, rmcp's default configuration
//! # (stateful sessions, SSE answers to POST, loopback Hosts only), served
//! # by hyper 1.x over HTTP/1.1 keep-alive:
//! rmcp_echo_server http 127.0.0.1:8083
//! ```
//!
//! Both run on a current-thread tokio runtime, like `wirestate mcp-server`
//! and `wirestate serve --runtime tokio --threads 1`.

use std::net::SocketAddr;
use std::sync::Arc;

use http_body_util::BodyExt;
use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{Implementation, ServerCapabilities, ServerConfig};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{Json, ServerHandler, ServiceExt, tool, tool_handler, tool_router};
use wirestate_examples::mcp::{EchoArgs, EchoOut, echo};

type Res<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// The server: the `echo` tool and nothing else.
#[derive(Clone)]
struct EchoServer {
    tool_router: ToolRouter<Self>,
}

#[tool_router]
impl EchoServer {
    fn new() -> Self {
        Self {
            tool_router: Self::tool_router(),
        }
    }

    /// Returns the text and its length in characters.
    #[tool(name = "echo")]
    async fn echo(&self, Parameters(args): Parameters<EchoArgs>) -> Json<EchoOut> {
        // The same function as our server's tool, so the tool's own work
        // is identical and only the SDK differs.
        Json(echo(&args.text))
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for EchoServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
            .with_server_info(Implementation::new("rmcp-echo", env!("CARGO_PKG_VERSION")))
    }
}

fn usage() -> ! {
    eprintln!("usage: rmcp_echo_server stdio\n       rmcp_echo_server http ADDR");
    std::process::exit(2)
}

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    match args.first().map(String::as_str) {
        Some("stdio") => rt.block_on(stdio()),
        Some("http") => {
            let addr: SocketAddr = args.get(1).unwrap_or_else(|| usage()).parse()?;
            rt.block_on(http(addr))
        }
        _ => usage(),
    }
}

async fn stdio() -> Res<()> {
    let service = EchoServer::new()
        .serve(rmcp::transport::io::stdio_pipes())
        .await?;
    service.waiting().await?;
    Ok(())
}

async fn http(addr: SocketAddr) -> Res<()> {
    let service = StreamableHttpService::new(
        || Ok(EchoServer::new()),
        Arc::new(LocalSessionManager::default()),
        StreamableHttpServerConfig::default(),
    );
    let listener = tokio::net::TcpListener::bind(addr).await?;
    eprintln!(
        "rmcp_echo_server: serving http://{}/mcp",
        listener.local_addr()?
    );
    loop {
        let (stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        let service = service.clone();
        tokio::spawn(async move {
            let svc =
                hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let service = service.clone();
                    async move {
                        let res = if req.uri().path() == "/mcp" {
                            service.handle(req).await
                        } else {
                            let mut res = hyper::Response::new(
                                http_body_util::Full::new(bytes::Bytes::from_static(
                                    b"not found\n",
                                ))
                                .boxed(),
                            );
                            *res.status_mut() = hyper::StatusCode::NOT_FOUND;
                            res
                        };
                        Ok::<_, std::convert::Infallible>(res)
                    }
                });
            let io = hyper_util::rt::TokioIo::new(stream);
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(io, svc)
                .await;
        });
    }
}
