//! `wirestate`: the demo multi-protocol server and a small HTTP client.

use clap::{Parser, Subcommand, ValueEnum};
use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use wirestate_rt::{Body, Runtime, Shutdown};

#[derive(Parser)]
#[command(
    name = "wirestate",
    version,
    about = "Sans-IO protocol machines on real sockets"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum RuntimeKind {
    Tokio,
    Smol,
    Blocking,
}

/// A client certificate for mutual TLS: `--cert` and `--key`, as curl's.
#[derive(clap::Args)]
struct ClientCert {
    /// Present this certificate (PEM; the chain after it, if any) when the
    /// server asks for one (mutual TLS), as curl's --cert. Needs --key.
    #[arg(long, value_name = "PEM", requires = "key")]
    cert: Option<std::path::PathBuf>,
    /// The private key of --cert (PEM: PKCS#8, PKCS#1 or SEC1).
    #[arg(long, value_name = "PEM", requires = "cert")]
    key: Option<std::path::PathBuf>,
}

/// How `wirestate grpc --web` frames its bodies.
#[derive(Clone, Copy, Debug, ValueEnum)]
enum WebKind {
    /// `application/grpc-web`.
    Binary,
    /// `application/grpc-web-text` (base64).
    Text,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the demo routes over HTTP/1.1 and h2c on one port: GET / , POST /echo, GET /stream?n=N, GET /ws (WebSocket echo), /mcp (MCP over Streamable HTTP, or WebSocket), and gRPC (grpc.testing.TestService, grpc.health.v1.Health, wirestate.echo.v1.Echo, and server reflection v1 and v1alpha for grpcurl-style clients; gRPC-Web over HTTP/1.1).
    Serve {
        /// Address to listen on: IP:PORT, or HOST:PORT (`localhost:8080`:
        /// the first address the name resolves to).
        #[arg(long, default_value = "127.0.0.1:8080", value_parser = parse_listen)]
        listen: SocketAddr,
        /// Which runtime drives the connections.
        #[arg(long, value_enum, default_value = "tokio")]
        runtime: RuntimeKind,
        /// Worker threads for tokio and smol (default: one per core). With
        /// `--runtime blocking`: the most connections served at once, one
        /// thread each (default 1024); further connections wait in the
        /// listen backlog.
        #[arg(long)]
        threads: Option<usize>,
        /// Also serve the MCP conformance suite's fixture tools, resources
        /// and prompts at /mcp.
        #[arg(long)]
        conformance_fixtures: bool,
        /// After Ctrl-C, how long in-flight responses and open streams (an
        /// endless `/stream`, a WebSocket, an SSE stream, a slow upload)
        /// may take to finish before the server exits anyway, in seconds.
        /// A second Ctrl-C exits at once.
        #[arg(long, default_value_t = 10.0, value_parser = parse_seconds)]
        shutdown_timeout: f64,
        /// Let browser pages from ORIGIN (`https://app.example:8443`, or
        /// `*` for any) call the gRPC services over gRPC-Web: CORS
        /// preflights are answered and responses carry the
        /// Access-Control-* headers. Repeatable. Off by default.
        #[arg(long, value_name = "ORIGIN", value_parser = parse_origin)]
        grpc_web_cors: Vec<String>,
        /// Let browser pages from ORIGIN (or `*` for any) use the MCP
        /// endpoint (/mcp, and /sse and /messages): CORS preflights are
        /// answered, responses carry the Access-Control-* headers, and
        /// the origin passes the Origin check that otherwise admits only
        /// loopback pages (Host must still be a loopback name).
        /// Repeatable. Off by default.
        #[arg(long, value_name = "ORIGIN", value_parser = parse_origin)]
        mcp_cors: Vec<String>,
        /// Serve HTTPS (HTTP/1.1 and HTTP/2, ALPN h2 or http/1.1, and gRPC,
        /// WebSocket and MCP over it) with this certificate chain (PEM),
        /// instead of plain HTTP and h2c. Needs --tls-key; every runtime.
        #[arg(long, value_name = "PEM", requires = "tls_key")]
        tls_cert: Option<std::path::PathBuf>,
        /// The private key of --tls-cert (PEM: PKCS#8, PKCS#1 or SEC1).
        #[arg(long, value_name = "PEM", requires = "tls_cert")]
        tls_key: Option<std::path::PathBuf>,
        /// Mutual TLS: every client must present a certificate signed by
        /// one of the CA certificates of this PEM file (else its handshake
        /// fails). Needs --tls-cert.
        #[arg(long, value_name = "PEM", requires = "tls_cert")]
        tls_client_ca: Option<std::path::PathBuf>,
    },
    /// Serve the demo MCP server (the one at `serve`'s /mcp) over stdio.
    McpServer {
        /// Also serve the MCP conformance suite's fixture tools, resources
        /// and prompts.
        #[arg(long)]
        conformance_fixtures: bool,
        /// Which runtime serves it.
        #[arg(long, value_enum, default_value = "tokio")]
        runtime: RuntimeKind,
    },
    /// Send one HTTP/1.1 (or, with --http2-prior-knowledge, HTTP/2) request and print the response body.
    Http {
        /// Request method (default: POST with a body, as curl does; GET otherwise).
        #[arg(short = 'X', long = "request")]
        method: Option<String>,
        /// Extra header, `Name: value` (repeatable).
        #[arg(short = 'H', long = "header")]
        headers: Vec<String>,
        /// Request body.
        #[arg(short = 'd', long = "data", conflicts_with = "data_file")]
        data: Option<String>,
        /// Read the request body from a file.
        #[arg(long)]
        data_file: Option<std::path::PathBuf>,
        /// Print the status line and headers before the body, and any
        /// trailers after it.
        #[arg(short = 'i', long = "include")]
        include: bool,
        /// Which runtime drives the connection.
        #[arg(long, value_enum, default_value = "tokio")]
        runtime: RuntimeKind,
        /// Speak HTTP/2 from the first byte (h2c with prior knowledge), as
        /// `curl --http2-prior-knowledge` does.
        #[arg(long = "http2-prior-knowledge")]
        http2: bool,
        /// Trust the certificates of this PEM file (a CA bundle, or the
        /// server's self-signed certificate) for https:// instead of the
        /// Mozilla roots, as curl's --cacert.
        #[arg(long, value_name = "PEM")]
        cacert: Option<std::path::PathBuf>,
        #[command(flatten)]
        client_cert: ClientCert,
        /// The URL: http://, or https:// (HTTP/1.1, or HTTP/2 by ALPN
        /// with --http2-prior-knowledge).
        url: String,
    },
    /// A WebSocket client: stdin lines go out as text messages, received
    /// messages are printed one per line. Exits 0 on a normal close or
    /// after stdin ends (close 1000, then the peer's answer).
    Ws {
        /// Which runtime drives the connection.
        #[arg(long, value_enum, default_value = "tokio")]
        runtime: RuntimeKind,
        /// Do not offer permessage-deflate.
        #[arg(long)]
        no_deflate: bool,
        /// Subprotocol to offer (repeatable).
        #[arg(long = "protocol")]
        protocols: Vec<String>,
        /// Trust the certificates of this PEM file (a CA bundle, or the
        /// server's self-signed certificate) for wss:// instead of the
        /// Mozilla roots, as curl's --cacert.
        #[arg(long, value_name = "PEM")]
        cacert: Option<std::path::PathBuf>,
        #[command(flatten)]
        client_cert: ClientCert,
        /// The URL: ws://, or wss://.
        url: String,
    },
    /// A small MCP client: `wirestate mcp [--runtime R] URL ACTION` for a
    /// Streamable HTTP (http://) or WebSocket (ws://) endpoint, `wirestate mcp [--runtime R] ACTION -- CMD ARGS...`
    /// for a stdio server run as a child process. ACTION: list-tools |
    /// call NAME JSON | resources | read URI | prompts | get-prompt NAME JSON | info
    /// (JSON may be `@FILE`, or `@` to read it from stdin).
    /// Results are printed as JSON (`resources`: `{"resources": [...],
    /// "resourceTemplates": [...]}`, every page of both); log and progress
    /// notifications go to stderr.
    Mcp {
        /// Which runtime drives the client.
        #[arg(long, value_enum, default_value = "tokio")]
        runtime: RuntimeKind,
        /// How long to wait for each answer, in seconds.
        #[arg(long, default_value_t = 60)]
        timeout: u64,
        /// The spec era: auto (send server/discover and fall back to the
        /// initialize lifecycle with a server that does not speak
        /// 2026-07-28), legacy (initialize only), or 2026-07-28 (stateless
        /// only).
        #[arg(long, default_value = "auto", value_parser = parse_era)]
        era: wirestate_mcp::Era,
        /// Trust the certificates of this PEM file (a CA bundle, or the
        /// server's self-signed certificate) for https:// and wss:// instead of the
        /// Mozilla roots, as curl's --cacert.
        #[arg(long, value_name = "PEM")]
        cacert: Option<std::path::PathBuf>,
        #[command(flatten)]
        client_cert: ClientCert,

        /// URL ACTION ARGS...: the endpoint (http://... or ws://...), left out when a
        /// command follows `--`, then the action and its arguments.
        #[arg(required = true)]
        words: Vec<String>,
        /// The stdio server to run, after `--`.
        #[arg(last = true)]
        command: Vec<String>,
    },
    /// A small gRPC client for the compiled-in services (grpc.testing,
    /// grpc.health.v1, wirestate.echo.v1) and any other the server
    /// describes through server reflection: `wirestate grpc HOST:PORT
    /// /pkg.Service/Method [JSON]` prints each response as one line of JSON
    /// (proto3 JSON mapping); `wirestate grpc HOST:PORT list [SERVICE]`
    /// lists the methods the server's reflection names (the compiled-in
    /// ones when it has none); `describe SYMBOL` prints a service, method,
    /// message or enum. A status other than OK: `ERROR: code=NAME message=...` on
    /// stderr, then its grpc-status-details-bin decoded (google.rpc.Status
    /// code, message, each detail's type URL), exit 1.
    Grpc {
        /// Which runtime drives the call.
        #[arg(long, value_enum, default_value = "tokio")]
        runtime: RuntimeKind,
        /// gRPC-Web over HTTP/1.1 (unary and server streaming) instead of
        /// gRPC over h2c: `--web` or `--web=binary` for
        /// application/grpc-web, `--web=text` for the base64
        /// application/grpc-web-text.
        #[arg(
            long,
            value_enum,
            num_args = 0..=1,
            require_equals = true,
            default_missing_value = "binary",
            value_name = "MODE"
        )]
        web: Option<WebKind>,
        /// gRPC-Web text (application/grpc-web-text): `--web=text`.
        #[arg(long, conflicts_with = "web")]
        web_text: bool,
        /// Metadata, `key: value` (repeatable; `-bin` keys take base64).
        #[arg(short = 'H', long = "header")]
        headers: Vec<String>,
        /// The call's deadline: 1.5, 250ms, 10s, 2m.
        #[arg(long, value_parser = wirestate_examples::grpc_cli::parse_duration)]
        timeout: Option<std::time::Duration>,
        /// Wait for the server (gRPC wait-for-ready: reconnecting with
        /// backoff) until --timeout instead of failing UNAVAILABLE when it
        /// is down; not with --web.
        #[arg(long, conflicts_with_all = ["web", "web_text"])]
        wait_for_ready: bool,
        /// The request, as grpcurl's -d: JSON, `@FILE` (read from the
        /// file) or `@` (read from stdin); instead of the JSON argument.
        #[arg(short = 'd', long = "data", value_name = "JSON|@FILE|@")]
        data: Option<String>,
        /// gRPC over TLS (ALPN h2) instead of h2c, or with --web gRPC-Web
        /// over TLS (ALPN http/1.1); the server's certificate checked
        /// against HOST.
        #[arg(long)]
        tls: bool,
        /// With --tls (which it implies): trust the certificates of this
        /// PEM file instead of the Mozilla roots.
        #[arg(long, value_name = "PEM")]
        cacert: Option<std::path::PathBuf>,
        // --cert implies --tls, as --cacert does.
        #[command(flatten)]
        client_cert: ClientCert,
        /// HOST:PORT, then `list [SERVICE]`, `describe SYMBOL`, or
        /// /pkg.Service/Method and the request:
        /// JSON (default `{}`; a sequence of objects for client- and
        /// bidi-streaming methods), `@FILE` or `@` (stdin). Options may
        /// come before, between or after them.
        // No `num_args` range: clap counts it per run of values, so an
        // option after HOST:PORT (`HOST:PORT -H 'k: v' /pkg.S/M`) ended the
        // run at one value and failed with "2 values required"; `run`
        // checks the count.
        #[arg(required = true)]
        words: Vec<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let default_level = match cli.command {
        Command::Serve { .. } => "info",
        Command::McpServer { .. } => "warn",
        Command::Http { .. } | Command::Ws { .. } | Command::Mcp { .. } | Command::Grpc { .. } => {
            "warn"
        }
    };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
    let result = match cli.command {
        Command::Serve {
            listen,
            runtime,
            threads,
            conformance_fixtures,
            shutdown_timeout,
            grpc_web_cors,
            mcp_cors,
            tls_cert,
            tls_key,
            tls_client_ca,
        } => server_tls(
            tls_cert.as_deref(),
            tls_key.as_deref(),
            tls_client_ca.as_deref(),
        )
        .and_then(|tls| {
            serve(ServeOptions {
                listen,
                runtime,
                threads,
                fixtures: conformance_fixtures,
                shutdown_timeout: std::time::Duration::from_secs_f64(shutdown_timeout),
                cors: cors_policy(&grpc_web_cors),
                mcp_cors: cors_policy(&mcp_cors),
                tls,
            })
        }),
        Command::McpServer {
            conformance_fixtures,
            runtime: RuntimeKind::Blocking,
        } => mcp_stdio_blocking(conformance_fixtures),
        Command::McpServer {
            conformance_fixtures,
            runtime: RuntimeKind::Tokio,
        } => mcp_stdio(conformance_fixtures),
        Command::McpServer {
            conformance_fixtures,
            runtime: RuntimeKind::Smol,
        } => mcp_stdio_smol(conformance_fixtures),
        Command::Http {
            method,
            headers,
            data,
            data_file,
            include,
            runtime,
            http2,
            cacert,
            client_cert,
            url,
        } => {
            let has_body = data.is_some() || data_file.is_some();
            let method = method.unwrap_or_else(|| if has_body { "POST" } else { "GET" }.into());
            let opts = HttpOptions {
                method: &method,
                headers: &headers,
                include,
                runtime,
                http2,
                cacert: cacert.as_deref(),
                client_cert: &client_cert,
                url: &url,
            };
            http_request(opts, data, data_file)
        }
        Command::Ws {
            runtime,
            no_deflate,
            protocols,
            cacert,
            client_cert,
            url,
        } => client_tls(
            cacert.as_deref(),
            &client_cert,
            &[wirestate_rt::tls::ALPN_HTTP1],
        )
        .and_then(|tls| ws_client(runtime, !no_deflate, protocols, tls, &url)),
        Command::Mcp {
            runtime,
            timeout,
            era,
            cacert,
            client_cert,
            words,
            command,
        } => client_tls(
            cacert.as_deref(),
            &client_cert,
            &[wirestate_rt::tls::ALPN_HTTP1],
        )
        .and_then(|tls| {
            wirestate_examples::mcp_client::run(
                match runtime {
                    RuntimeKind::Tokio => wirestate_examples::mcp_client::Rt::Tokio,
                    RuntimeKind::Smol => wirestate_examples::mcp_client::Rt::Smol,
                    RuntimeKind::Blocking => wirestate_examples::mcp_client::Rt::Blocking,
                },
                std::time::Duration::from_secs(timeout),
                era,
                Some(tls),
                &words,
                &command,
            )
        }),
        Command::Grpc {
            runtime,
            web,
            web_text,
            headers,
            timeout,
            wait_for_ready,
            data,
            tls,
            cacert,
            client_cert,
            words,
        } => (if tls || cacert.is_some() || client_cert.cert.is_some() {
            client_tls(
                cacert.as_deref(),
                &client_cert,
                &[wirestate_rt::tls::ALPN_H2],
            )
            .map(Some)
        } else {
            Ok(None)
        })
        .and_then(|tls| {
            wirestate_examples::grpc_cli::run(
                &wirestate_examples::grpc_cli::Options {
                    runtime: match runtime {
                        RuntimeKind::Tokio => wirestate_examples::grpc_cli::Rt::Tokio,
                        RuntimeKind::Smol => wirestate_examples::grpc_cli::Rt::Smol,
                        RuntimeKind::Blocking => wirestate_examples::grpc_cli::Rt::Blocking,
                    },
                    web: match (web, web_text) {
                        (_, true) | (Some(WebKind::Text), _) => Some(wirestate_grpc::WebMode::Text),
                        (Some(WebKind::Binary), false) => Some(wirestate_grpc::WebMode::Binary),
                        (None, false) => None,
                    },
                    headers,
                    timeout,
                    wait_for_ready,
                    data,
                    tls,
                },
                &words,
            )
        }),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("wirestate: {e}");
            ExitCode::FAILURE
        }
    }
}

fn tokio_runtime(threads: Option<usize>) -> std::io::Result<tokio::runtime::Runtime> {
    let threads =
        threads.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    if threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()
    }
}

/// The CORS policy of `--grpc-web-cors` or `--mcp-cors` values: none
/// when there are none, any origin when one is `*`, else exactly the ones
/// given (each protocol adds its methods and headers).
fn cors_policy(origins: &[String]) -> Option<wirestate_grpc::cors::CorsPolicy> {
    use wirestate_grpc::cors::CorsPolicy;
    if origins.is_empty() {
        None
    } else if origins.iter().any(|o| o == "*") {
        Some(CorsPolicy::any_origin())
    } else {
        Some(CorsPolicy::origins(origins))
    }
}

/// What `wirestate serve` was asked for.
struct ServeOptions {
    listen: SocketAddr,
    runtime: RuntimeKind,
    threads: Option<usize>,
    fixtures: bool,
    shutdown_timeout: std::time::Duration,
    cors: Option<wirestate_grpc::cors::CorsPolicy>,
    mcp_cors: Option<wirestate_grpc::cors::CorsPolicy>,
    /// HTTPS instead of plain HTTP (`--tls-cert`, `--tls-key`).
    tls: Option<std::sync::Arc<wirestate_rt::tls::rustls::ServerConfig>>,
}

/// The server's TLS config from `--tls-cert` and `--tls-key` (clap makes
/// each require the other), requiring client certificates signed by
/// `--tls-client-ca` when given (clap makes it require `--tls-cert`).
fn server_tls(
    cert: Option<&std::path::Path>,
    key: Option<&std::path::Path>,
    client_ca: Option<&std::path::Path>,
) -> Result<Option<std::sync::Arc<wirestate_rt::tls::rustls::ServerConfig>>, String> {
    use wirestate_rt::tls;
    let (Some(cert), Some(key)) = (cert, key) else {
        return Ok(None);
    };
    let client_auth = match client_ca {
        Some(path) => tls::ClientAuth::Required(
            tls::roots_from_pem_file(path).map_err(|e| format!("--tls-client-ca: {e}"))?,
        ),
        None => tls::ClientAuth::None,
    };
    tls::server_config_from_pem_files_with_client_auth(cert, key, client_auth, tls::ALPN)
        .map(Some)
        .map_err(|e| format!("cannot use the TLS certificate or key: {e}"))
}

/// `wirestate serve`'s HTTP/1.1 + HTTP/2 server on an async runtime, over
/// TLS when `tls` is given.
async fn serve_on<R: Runtime, L: wirestate_rt::Listener>(
    rt: R,
    listener: L,
    handler: impl wirestate_rt::http1::Handler,
    tls: Option<std::sync::Arc<wirestate_rt::tls::rustls::ServerConfig>>,
    shutdown: Shutdown,
) -> Result<(), String> {
    let config = Default::default();
    match tls {
        Some(tls) => {
            let listener = wirestate_rt::tls::TlsListener::new(listener, tls);
            wirestate_rt::http1::serve(rt, listener, handler, config, shutdown).await
        }
        None => wirestate_rt::http1::serve(rt, listener, handler, config, shutdown).await,
    }
    .map_err(|e| e.to_string())
}

fn serve(options: ServeOptions) -> Result<ExitCode, String> {
    let ServeOptions {
        listen,
        runtime,
        threads,
        fixtures,
        shutdown_timeout,
        cors,
        mcp_cors,
        tls,
    } = options;
    let scheme = if tls.is_some() { "https" } else { "http" };
    // The MCP endpoint at /mcp (every runtime), and the 2024-11-05
    // HTTP+SSE transport at /sse and /messages: Host must name a loopback
    // address with the bound port, Origin (if any) a loopback origin.
    let mcp_config = |port: u16| {
        let mut c = wirestate_mcp::HttpConfig::default();
        c.hosts = wirestate_mcp::http::HostPolicy::Localhost { port: Some(port) };
        c.legacy_sse = Some(wirestate_mcp::http::legacy::LegacySse::new());
        c.cors = mcp_cors.clone();
        c
    };
    let mcp = wirestate_examples::mcp::server(fixtures);
    match runtime {
        RuntimeKind::Tokio => {
            let rt = tokio_runtime(threads).map_err(|e| e.to_string())?;
            rt.block_on(async {
                let listener = wirestate_tokio::bind(listen)
                    .await
                    .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
                let addr = listener.0.local_addr().map_err(|e| e.to_string())?;
                tracing::info!(%addr, runtime = "tokio", "serving {scheme}://{addr}/");
                let shutdown = Shutdown::new();
                on_ctrl_c(shutdown_timeout, {
                    let shutdown = shutdown.clone();
                    move || shutdown.trigger()
                });
                // Open SSE streams end at Ctrl-C instead of holding the
                // graceful shutdown to its timeout.
                let mcp = mcp
                    .http(wirestate_tokio::TokioRuntime, mcp_config(addr.port()))
                    .end_streams_on(shutdown.clone());
                let handler = wirestate_examples::routes::with_mcp(mcp);
                let grpc = wirestate_examples::grpc::server(
                    wirestate_tokio::TokioRuntime,
                    shutdown.clone(),
                );
                let handler = wirestate_examples::routes::with_grpc_cors(grpc, handler, cors);
                let rt = wirestate_tokio::TokioRuntime;
                serve_on(rt, listener, handler, tls, shutdown).await?;
                Ok(ExitCode::SUCCESS)
            })
        }
        RuntimeKind::Smol => {
            let threads = threads
                .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
            let ex = std::sync::Arc::new(smol::Executor::new());
            let (stop, stopped) = smol::channel::bounded::<()>(1);
            // Extra worker threads run the same executor until the server ends.
            let workers: Vec<_> = (1..threads)
                .map(|_| {
                    let (ex, stopped) = (ex.clone(), stopped.clone());
                    std::thread::spawn(move || smol::block_on(ex.run(stopped.recv())))
                })
                .collect();
            let shutdown = Shutdown::new();
            on_ctrl_c(shutdown_timeout, {
                let shutdown = shutdown.clone();
                move || shutdown.trigger()
            });
            let rt = wirestate_smol::SmolRuntime::with_executor(ex.clone());
            let result = smol::block_on(ex.run(async {
                let listener = wirestate_smol::bind(listen)
                    .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
                // The bound address, as the other runtimes log it (port 0
                // is the one the system chose).
                let addr = wirestate_rt::Listener::local_addr(&listener).unwrap_or(listen);
                let port = addr.port();
                tracing::info!(%addr, runtime = "smol", "serving {scheme}://{addr}/");
                let mcp = mcp
                    .http(rt.clone(), mcp_config(port))
                    .end_streams_on(shutdown.clone());
                let handler = wirestate_examples::routes::with_mcp(mcp);
                let grpc = wirestate_examples::grpc::server(rt.clone(), shutdown.clone());
                let handler = wirestate_examples::routes::with_grpc_cors(grpc, handler, cors);
                serve_on(rt, listener, handler, tls, shutdown).await?;
                Ok(ExitCode::SUCCESS)
            }));
            drop(stop);
            for w in workers {
                let _ = w.join();
            }
            result
        }
        RuntimeKind::Blocking => {
            let mut config = wirestate_blocking::ServerConfig::default();
            if let Some(n) = threads {
                config.max_connections = n.max(1);
            }
            let scheme = if tls.is_some() { "https" } else { "http" };
            config.tls = tls;
            let max_connections = config.max_connections;
            let server = wirestate_blocking::Server::bind(listen, config)
                .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
            let addr = server.local_addr().map_err(|e| e.to_string())?;
            tracing::info!(%addr, runtime = "blocking", max_connections, "serving {scheme}://{addr}/");
            let handle = server.handle();
            // The gRPC services on the same port (h2c and gRPC-Web);
            // health Watch calls end when the server shuts down.
            let grpc = wirestate_examples::grpc_blocking::server(Some(handle.clone()));
            // The demo MCP server at /mcp (Streamable HTTP and WebSocket),
            // with the conformance fixtures when asked.
            let mcp = wirestate_examples::mcp_blocking::server(fixtures)
                .http(mcp_config(addr.port()))
                .end_streams_on(handle.clone());
            // Ctrl-C starts a graceful shutdown.
            on_ctrl_c(shutdown_timeout, move || handle.shutdown());
            server
                .serve(wirestate_examples::mcp_blocking::with_mcp(
                    mcp,
                    wirestate_examples::grpc_blocking::with_grpc_cors(grpc, cors),
                ))
                .map_err(|e| e.to_string())?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `--era`: auto, legacy, or a revision (2026-07-28 is the stateless
/// era; one of the `initialize` era means legacy).
fn parse_era(name: &str) -> Result<wirestate_mcp::Era, String> {
    wirestate_mcp::Era::parse(name)
        .ok_or_else(|| format!("unknown era {name:?}: expected auto, legacy or 2026-07-28"))
}

/// `wirestate mcp-server --runtime blocking`: the demo MCP server (and
/// the conformance fixtures when asked) on stdin/stdout, on threads.
fn mcp_stdio_blocking(fixtures: bool) -> Result<ExitCode, String> {
    wirestate_examples::mcp_blocking::server(fixtures)
        .serve_stdio()
        .map_err(|e| format!("stdio: {e}"))?;
    Ok(ExitCode::SUCCESS)
}

/// `wirestate mcp-server --runtime smol`: the demo MCP server on
/// stdin/stdout, on smol's global executor.
fn mcp_stdio_smol(fixtures: bool) -> Result<ExitCode, String> {
    smol::block_on(wirestate_smol::mcp::serve_stdio(
        &wirestate_examples::mcp::server(fixtures),
    ))
    .map_err(|e| format!("stdio: {e}"))?;
    Ok(ExitCode::SUCCESS)
}

/// `wirestate mcp-server`: the demo MCP server on stdin/stdout (tokio).
fn mcp_stdio(fixtures: bool) -> Result<ExitCode, String> {
    let rt = tokio_runtime(Some(1)).map_err(|e| e.to_string())?;
    rt.block_on(async {
        // Non-blocking pipes when the client launched us with pipes (the
        // usual case), the blocking thread pool otherwise.
        wirestate_tokio::mcp::serve_stdio(&wirestate_examples::mcp::server(fixtures))
            .await
            .map_err(|e| format!("stdio: {e}"))
    })?;
    Ok(ExitCode::SUCCESS)
}

fn build_request<B>(
    method: &str,
    headers: &[String],
    body: B,
    url: &str,
) -> Result<http::Request<B>, String> {
    let uri: http::Uri = url.parse().map_err(|e| format!("bad URL {url:?}: {e}"))?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) {
        return Err(format!(
            "only http:// and https:// URLs are supported, not {url:?}"
        ));
    }
    let mut b = http::Request::builder().method(method).uri(uri);
    for h in headers {
        let (name, value) = h
            .split_once(':')
            .ok_or_else(|| format!("bad header {h:?}: expected 'Name: value'"))?;
        b = b.header(name.trim(), value.trim());
    }
    b.body(body).map_err(|e| format!("bad request: {e}"))
}

/// The `-H` headers without the body's framing, which the command sets
/// itself (the HTTP/1.1 machine refuses framing fields set by hand): a
/// `Content-Length` equal to the body's length, as curl users write it,
/// is dropped; another length or a `Transfer-Encoding` is refused, naming
/// the header.
fn without_framing(headers: &[String], body_len: usize) -> Result<Vec<String>, String> {
    let mut kept = Vec::with_capacity(headers.len());
    for h in headers {
        let (name, value) = h.split_once(':').unwrap_or((h, ""));
        let name = name.trim();
        if name.eq_ignore_ascii_case("content-length") {
            if value.trim().parse::<usize>() != Ok(body_len) {
                return Err(format!(
                    "-H {h:?}: the body is {body_len} bytes (its Content-Length is set from it)"
                ));
            }
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            return Err(format!(
                "-H {h:?}: the body is sent with a Content-Length (framing is not set by hand)"
            ));
        } else {
            kept.push(h.clone());
        }
    }
    Ok(kept)
}

/// What `wirestate http` was asked for, apart from the body.
struct HttpOptions<'a> {
    method: &'a str,
    headers: &'a [String],
    include: bool,
    runtime: RuntimeKind,
    http2: bool,
    cacert: Option<&'a std::path::Path>,
    client_cert: &'a ClientCert,
    url: &'a str,
}

/// The TLS config of a client: trusting `cacert`'s certificates (curl's
/// --cacert) or else the Mozilla roots, offering `alpn`, presenting
/// `--cert` and `--key` to a server that asks for a certificate.
fn client_tls(
    cacert: Option<&std::path::Path>,
    client_cert: &ClientCert,
    alpn: &[&[u8]],
) -> Result<std::sync::Arc<wirestate_rt::tls::rustls::ClientConfig>, String> {
    use wirestate_rt::tls;
    let roots = match cacert {
        Some(path) => tls::roots_from_pem_file(path).map_err(|e| format!("--cacert: {e}"))?,
        None => tls::webpki_roots(),
    };
    let (Some(cert), Some(key)) = (&client_cert.cert, &client_cert.key) else {
        return Ok(tls::client_config(roots, alpn));
    };
    let identity = tls::Identity::from_pem_files(cert, key).map_err(|e| format!("--cert: {e}"))?;
    tls::client_config_with_identity(roots, identity, alpn)
        .map_err(|e| format!("cannot use --cert and --key: {e}"))
}

fn http_request(
    opts: HttpOptions<'_>,
    data: Option<String>,
    data_file: Option<std::path::PathBuf>,
) -> Result<ExitCode, String> {
    let HttpOptions {
        method,
        headers,
        include,
        runtime,
        http2,
        cacert,
        client_cert,
        url,
    } = opts;
    let secure = url.starts_with("https://");
    // HTTP/2 over TLS only when the server agrees to it by ALPN; the
    // pooled HTTP/1.1 client offers http/1.1.
    let tls = client_tls(
        cacert,
        client_cert,
        &[if http2 {
            wirestate_rt::tls::ALPN_H2
        } else {
            wirestate_rt::tls::ALPN_HTTP1
        }],
    )?;
    let mut client_config = wirestate_rt::http1::ClientConfig::default();
    client_config.tls = Some(tls.clone());
    let data: Option<Vec<u8>> = match (data, data_file) {
        (Some(d), _) => Some(d.into_bytes()),
        (None, Some(path)) => {
            Some(std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?)
        }
        (None, None) => None,
    };
    let headers = &without_framing(headers, data.as_ref().map_or(0, Vec::len))?[..];
    let async_request = |data: Option<Vec<u8>>| {
        build_request(
            method,
            headers,
            data.map_or_else(Body::empty, Body::from),
            url,
        )
    };
    match runtime {
        RuntimeKind::Tokio if http2 => {
            let req = async_request(data)?;
            let rt = tokio_runtime(Some(1)).map_err(|e| e.to_string())?;
            rt.block_on(async {
                let res = h2_request(
                    wirestate_tokio::TokioRuntime,
                    req,
                    secure.then_some(tls),
                    url,
                )
                .await?;
                print_response(res, include).await
            })?;
        }
        RuntimeKind::Smol if http2 => {
            let req = async_request(data)?;
            smol::block_on(async {
                let rt = wirestate_smol::SmolRuntime::new();
                let res = h2_request(rt, req, secure.then_some(tls), url).await?;
                print_response(res, include).await
            })?;
        }
        RuntimeKind::Blocking if http2 => {
            let body = data.map_or_else(wirestate_blocking::RequestBody::empty, Into::into);
            let req = build_request(method, headers, body, url)?;
            let res = blocking_h2_request(req, secure.then_some(tls), url)?;
            print_blocking_response(res, include)?;
        }
        RuntimeKind::Tokio => {
            let req = async_request(data)?;
            let rt = tokio_runtime(Some(1)).map_err(|e| e.to_string())?;
            rt.block_on(async {
                let client = wirestate_tokio::client(client_config);
                let res = client
                    .request(req)
                    .await
                    .map_err(|e| format!("request to {url} failed: {e}"))?;
                print_response(res, include).await
            })?;
        }
        RuntimeKind::Smol => {
            let req = async_request(data)?;
            smol::block_on(async {
                let client = wirestate_smol::client(client_config);
                let res = client
                    .request(req)
                    .await
                    .map_err(|e| format!("request to {url} failed: {e}"))?;
                print_response(res, include).await
            })?
        }
        RuntimeKind::Blocking => {
            let body = data.map_or_else(wirestate_blocking::RequestBody::empty, Into::into);
            let req = build_request(method, headers, body, url)?;
            let mut config = wirestate_blocking::ClientConfig::default();
            config.tls = Some(tls);
            let client = wirestate_blocking::Client::new(config);
            let res = client
                .request(req)
                .map_err(|e| format!("request to {url} failed: {e}"))?;
            print_blocking_response(res, include)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// One request over a new HTTP/2 connection with prior knowledge, on any
/// async runtime: connect, hand the stream to the HTTP/2 driver (spawned),
/// send.
async fn h2_request<R: Runtime>(
    rt: R,
    req: http::Request<Body>,
    tls: Option<std::sync::Arc<wirestate_rt::tls::rustls::ClientConfig>>,
    url: &str,
) -> Result<http::Response<Body>, String> {
    // The HTTP/1.1 client's origin rules: an IPv6 literal loses its brackets.
    let (host, port, _) =
        wirestate_http1::policy::secure_origin(req.uri()).map_err(|e| format!("{url}: {e}"))?;
    let addr = std::net::ToSocketAddrs::to_socket_addrs(&(host.as_str(), port))
        .map_err(|e| format!("cannot resolve {host}: {e}"))?
        .next()
        .ok_or_else(|| format!("cannot resolve {host}"))?;
    let connect_failed = |e: std::io::Error| format!("cannot connect to {addr}: {e}");
    let send = match tls {
        Some(config) => {
            let name = wirestate_rt::tls::server_name(&host).map_err(|e| e.to_string())?;
            wirestate_rt::h2::connect_tls(&rt, addr, config, name, Default::default())
                .await
                .map_err(connect_failed)?
        }
        None => {
            let io = rt.connect(addr).await.map_err(connect_failed)?;
            wirestate_rt::h2::start(&rt, io, Default::default())
        }
    };
    send.send(req)
        .await
        .map_err(|e| format!("request to {url} failed: {e}"))
}

/// One request over a new HTTP/2 connection with prior knowledge, on
/// blocking threads. The connection closes once the response body is read.
fn blocking_h2_request(
    req: http::Request<wirestate_blocking::RequestBody>,
    tls: Option<std::sync::Arc<wirestate_rt::tls::rustls::ClientConfig>>,
    url: &str,
) -> Result<http::Response<wirestate_blocking::BlockingBody>, String> {
    let (host, port, _) =
        wirestate_http1::policy::secure_origin(req.uri()).map_err(|e| format!("{url}: {e}"))?;
    let send = match tls {
        Some(config) => {
            use wirestate_blocking::tls;
            let name = tls::server_name(&host).map_err(|e| e.to_string())?;
            wirestate_blocking::h2::connect_tls(
                (host.as_str(), port),
                Default::default(),
                config,
                name,
            )
        }
        None => wirestate_blocking::h2::connect((host.as_str(), port)),
    }
    .map_err(|e| format!("cannot connect to {host}:{port}: {e}"))?;
    send.send(req)
        .map_err(|e| format!("request to {url} failed: {e}"))
}

/// Writes the status line and headers (with `-i`), then the body as it arrives.
fn write_head(out: &mut impl Write, parts: &http::response::Parts) -> std::io::Result<()> {
    let reason = parts.status.canonical_reason().unwrap_or("");
    write!(
        out,
        "{:?} {} {}\r\n",
        parts.version,
        parts.status.as_str(),
        reason
    )?;
    write_fields(out, &parts.headers)?;
    out.write_all(b"\r\n")
}

/// Writes `name: value` lines: a head's fields, or (with `-i`, after the
/// body, as curl does) the trailers a body ended with — gRPC's status, a
/// chunked body's checksums.
fn write_fields(out: &mut impl Write, fields: &http::HeaderMap) -> std::io::Result<()> {
    for (name, value) in fields {
        out.write_all(name.as_str().as_bytes())?;
        out.write_all(b": ")?;
        out.write_all(value.as_bytes())?;
        out.write_all(b"\r\n")?;
    }
    Ok(())
}

async fn print_response(res: http::Response<Body>, include: bool) -> Result<(), String> {
    let (parts, mut body) = res.into_parts();
    // Buffered, and flushed whenever the next chunk has not arrived yet:
    // a body of many small chunks (a chunked download, `/stream`) leaves in
    // a few large writes instead of one write(2) per line (stdout is
    // line-buffered), while a slow stream still shows each chunk as it
    // comes.
    let mut out = std::io::BufWriter::with_capacity(64 << 10, std::io::stdout().lock());
    if include {
        write_head(&mut out, &parts).map_err(|e| e.to_string())?;
    }
    loop {
        let ready = std::future::poll_fn(|cx| std::task::Poll::Ready(body.poll_chunk(cx))).await;
        let next = match ready {
            std::task::Poll::Ready(next) => next,
            std::task::Poll::Pending => {
                out.flush().map_err(|e| e.to_string())?;
                body.chunk().await
            }
        };
        let Some(chunk) = next else { break };
        let chunk = chunk.map_err(|e| format!("reading the body failed: {e}"))?;
        out.write_all(&chunk).map_err(|e| e.to_string())?;
    }
    if let Some(trailers) = body.trailers().filter(|_| include) {
        write_fields(&mut out, &trailers).map_err(|e| e.to_string())?;
    }
    out.flush().map_err(|e| e.to_string())
}

/// The blocking twin of [`print_response`].
fn print_blocking_response(
    res: http::Response<wirestate_blocking::BlockingBody>,
    include: bool,
) -> Result<(), String> {
    let (parts, mut body) = res.into_parts();
    let mut out = std::io::stdout().lock();
    if include {
        write_head(&mut out, &parts).map_err(|e| e.to_string())?;
    }
    while let Some(chunk) = body
        .chunk()
        .map_err(|e| format!("reading the body failed: {e}"))?
    {
        out.write_all(&chunk).map_err(|e| e.to_string())?;
    }
    if let Some(trailers) = body.trailers().filter(|_| include) {
        write_fields(&mut out, trailers).map_err(|e| e.to_string())?;
    }
    out.flush().map_err(|e| e.to_string())
}

/// Runs `f` (a graceful shutdown) once on Ctrl-C, from a small signal
/// thread (smol and the blocking server have no signal handling of their
/// own). Once Ctrl-C is caught the default action of SIGINT is gone for
/// good, so this thread also ends the process when the graceful shutdown
/// takes longer than `timeout` (a client reading an endless `/stream`, an
/// open SSE or WebSocket stream, a stalled upload) or on a second Ctrl-C:
/// otherwise only SIGKILL would stop the server.
fn on_ctrl_c(timeout: std::time::Duration, f: impl FnOnce() + Send + 'static) {
    std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        // One listener for both Ctrl-Cs.
        #[cfg(unix)]
        let Ok(mut sigint) = rt.block_on(async {
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
        }) else {
            return;
        };
        #[cfg(windows)]
        let Ok(mut sigint) = rt.block_on(async { tokio::signal::windows::ctrl_c() }) else {
            return;
        };
        if rt.block_on(sigint.recv()).is_none() {
            return;
        }
        tracing::info!(
            "shutting down: finishing in-flight responses (at most {timeout:?}; Ctrl-C again to exit now)"
        );
        f();
        let why = rt.block_on(async {
            tokio::select! {
                _ = sigint.recv() => "a second Ctrl-C",
                () = tokio::time::sleep(timeout) => "the shutdown timeout",
            }
        });
        eprintln!("wirestate: exiting on {why} with connections still open");
        std::process::exit(130);
    });
}

/// `--listen`: a socket address, or a host name and port resolved to the
/// first of its addresses.
fn parse_listen(s: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = s.parse() {
        return Ok(addr);
    }
    std::net::ToSocketAddrs::to_socket_addrs(s)
        .map_err(|e| format!("{s:?} is not HOST:PORT ({e})"))?
        .next()
        .ok_or_else(|| format!("{s:?} resolves to no address"))
}

/// `--grpc-web-cors`: `*`, or an origin as a browser sends it in `Origin`:
/// `scheme://host[:port]`, nothing after (a trailing `/` is dropped). A
/// value with a path or no scheme could never match, and would leave CORS
/// silently refusing every page.
fn parse_origin(s: &str) -> Result<String, String> {
    if s == "*" {
        return Ok(s.to_string());
    }
    let bad = || format!("{s:?} is not an origin: want scheme://host[:port] or *");
    let uri: http::Uri = s.parse().map_err(|_| bad())?;
    let (Some(scheme), Some(authority)) = (uri.scheme_str(), uri.authority()) else {
        return Err(bad());
    };
    let bare = uri.path_and_query().is_none_or(|p| p.as_str() == "/");
    if !bare || authority.as_str().contains('@') || authority.host().is_empty() {
        return Err(bad());
    }
    Ok(format!("{scheme}://{authority}"))
}

/// `--shutdown-timeout`: a non-negative, finite number of seconds.
fn parse_seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.0..=1e9).contains(&v) => Ok(v),
        _ => Err(format!("{s:?} is not a number of seconds")),
    }
}

/// Writes one received message as a line (binary as raw bytes).
fn print_message(out: &mut impl Write, message: &[u8]) -> std::io::Result<()> {
    out.write_all(message)?;
    out.write_all(b"\n")?;
    out.flush()
}

/// The exit status for how the connection ended: 0 for a normal close
/// (1000, 1001 or no code), an error naming the code otherwise.
fn close_status(frame: Option<&wirestate_rt::ws::CloseFrame>) -> Result<ExitCode, String> {
    match frame {
        None => Ok(ExitCode::SUCCESS),
        Some(f) if matches!(f.code, 1000 | 1001) => Ok(ExitCode::SUCCESS),
        Some(f) => Err(format!(
            "connection closed by the peer with code {} {:?}",
            f.code,
            f.reason.as_str()
        )),
    }
}

/// `wirestate ws`: stdin lines out, received messages to stdout.
fn ws_client(
    runtime: RuntimeKind,
    deflate: bool,
    protocols: Vec<String>,
    tls: std::sync::Arc<wirestate_rt::tls::rustls::ClientConfig>,
    url: &str,
) -> Result<ExitCode, String> {
    match runtime {
        RuntimeKind::Tokio => {
            let rt = tokio_runtime(Some(1)).map_err(|e| e.to_string())?;
            rt.block_on(ws_session(
                wirestate_tokio::TokioRuntime,
                deflate,
                protocols,
                tls,
                url,
            ))
        }
        RuntimeKind::Smol => smol::block_on(ws_session(
            wirestate_smol::SmolRuntime::new(),
            deflate,
            protocols,
            tls,
            url,
        )),
        RuntimeKind::Blocking => {
            use wirestate_blocking::ws;
            let config = ws::Config::default().deflate(deflate).protocols(protocols);
            let socket = ws::connect_with_tls(url, config, tls)
                .map_err(|e| format!("cannot connect to {url}: {e}"))?;
            let sender = socket.clone();
            std::thread::spawn(move || {
                for line in std::io::stdin().lines() {
                    let Ok(line) = line else { break };
                    if sender.send(line).is_err() {
                        return;
                    }
                }
                let _ = sender.close(ws::close_code::NORMAL, "");
            });
            let mut out = std::io::stdout().lock();
            while let Some(message) = socket.recv() {
                let message = message.map_err(|e| format!("websocket error: {e}"))?;
                print_message(&mut out, message.as_bytes()).map_err(|e| e.to_string())?;
            }
            close_status(socket.close_frame().as_ref())
        }
    }
}

/// The async side of `wirestate ws`, on any runtime: stdin is read on a
/// plain thread that feeds the socket's sender.
async fn ws_session<R: wirestate_rt::Runtime>(
    rt: R,
    deflate: bool,
    protocols: Vec<String>,
    tls: std::sync::Arc<wirestate_rt::tls::rustls::ClientConfig>,
    url: &str,
) -> Result<ExitCode, String> {
    use wirestate_rt::ws;
    let config = ws::Config::default().deflate(deflate).protocols(protocols);
    let (socket, connection) = ws::connect_with_tls(rt.clone(), url, config, tls)
        .await
        .map_err(|e| format!("cannot connect to {url}: {e}"))?;
    let (mut sender, mut receiver) = socket.split();
    std::thread::spawn(move || {
        futures_lite::future::block_on(async move {
            for line in std::io::stdin().lines() {
                let Ok(line) = line else { break };
                if sender.send(line).await.is_err() {
                    return;
                }
            }
            let _ = sender.close(ws::close_code::NORMAL, "").await;
        })
    });
    let session = async move {
        let mut out = std::io::stdout().lock();
        while let Some(message) = receiver.recv().await {
            let message = message.map_err(|e| format!("websocket error: {e}"))?;
            print_message(&mut out, message.as_bytes()).map_err(|e| e.to_string())?;
        }
        close_status(receiver.close_frame())
    };
    // The connection is driven here rather than spawned and forgotten, and
    // awaited once the session ends, even on an error: a failed connection
    // (1009 for a message over the limit, …) still sends its close frame
    // and waits (bounded by the close timeout) for the server's end, where
    // exiting at once dropped the frame unsent (smol) or reset the
    // connection under it, so the server never learnt why.
    let (_, status) = futures_lite::future::zip(
        async move {
            let _ = connection.await;
        },
        session,
    )
    .await;
    status
}
