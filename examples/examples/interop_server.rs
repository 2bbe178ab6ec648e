//! The standard gRPC interop server (grpc/grpc
//! `doc/interop-test-descriptions.md`) on wirestate's server, over h2c
//! (and gRPC-Web over HTTP/1.1 on the same port):
//!
//! ```text
//! cargo run -p wirestate-examples --example interop_server -- --port=50051 [--runtime=tokio|smol|blocking]
//! ```
//!
//! It serves `grpc.testing.TestService` — the implementation `wirestate
//! serve` mounts, `wirestate_examples::grpc::test_server` — with its
//! server features: echoed status and metadata, `interval_us`, and the
//! compressed request and response features (`expect_compressed`,
//! `response_compressed`). Listens on 127.0.0.1 unless `--host` says
//! otherwise; runs until killed. `--use_tls=false` is accepted.

use clap::Parser;
use std::net::SocketAddr;
use std::process::ExitCode;

/// The flags every gRPC interop server takes, plus the runtime.
#[derive(Parser)]
#[command(about = "gRPC interop test server (wirestate)")]
struct Args {
    /// The port to listen on.
    #[arg(long)]
    port: u16,
    /// The address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: std::net::IpAddr,
    /// Whether to use TLS: only `false` is supported.
    #[arg(long = "use_tls", default_value_t = false, action = clap::ArgAction::Set)]
    use_tls: bool,
    /// The runtime: tokio, smol or blocking.
    #[arg(long, default_value = "tokio")]
    runtime: String,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.use_tls {
        eprintln!("interop_server: --use_tls=true is not supported (h2c only)");
        return ExitCode::from(2);
    }
    let addr = SocketAddr::new(args.host, args.port);
    let shutdown = wirestate_rt::Shutdown::new();
    let result = match args.runtime.as_str() {
        "tokio" => tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| e.to_string())
            .and_then(|rt| {
                rt.block_on(async {
                    let listener = wirestate_tokio::bind(addr)
                        .await
                        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
                    let server =
                        wirestate_examples::grpc::test_server(wirestate_tokio::TokioRuntime);
                    eprintln!("interop_server: tokio, listening on {addr}");
                    wirestate_tokio::serve(listener, server, Default::default(), shutdown)
                        .await
                        .map_err(|e| e.to_string())
                })
            }),
        "smol" => {
            let ex = std::sync::Arc::new(smol::Executor::new());
            let rt = wirestate_smol::SmolRuntime::with_executor(ex.clone());
            // A second thread runs the same executor.
            let worker = ex.clone();
            std::thread::spawn(move || smol::block_on(worker.run(std::future::pending::<()>())));
            smol::block_on(ex.run(async {
                let listener = wirestate_smol::bind(addr)
                    .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
                let server = wirestate_examples::grpc::test_server(rt.clone());
                eprintln!("interop_server: smol, listening on {addr}");
                wirestate_rt::http1::serve(rt, listener, server, Default::default(), shutdown)
                    .await
                    .map_err(|e| e.to_string())
            }))
        }
        "blocking" => wirestate_blocking::Server::bind(addr, Default::default())
            .map_err(|e| format!("cannot listen on {addr}: {e}"))
            .and_then(|server| {
                eprintln!("interop_server: blocking, listening on {addr}");
                server
                    .serve(wirestate_examples::grpc_blocking::test_server())
                    .map_err(|e| e.to_string())
            }),
        other => Err(format!(
            "unknown runtime {other:?} (tokio, smol or blocking)"
        )),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("interop_server: {e}");
            ExitCode::FAILURE
        }
    }
}
