//! The gRPC interop `TestService` on tonic (tests/tests/tonic_interop),
//! as a standalone server for scripts/interop-grpc.sh:
//!
//! ```text
//! cargo run -p wirestate-tests --example tonic_interop_server -- --port=50051
//! ```
//!
//! Listens on 127.0.0.1 until killed; `--use_tls=false` is accepted.
//! `--web` adds tonic-web (`GrpcWebLayer`, HTTP/1.1 accepted): gRPC-Web
//! binary and text on the same port as h2c.

#[path = "../tests/tonic_interop/mod.rs"]
mod tonic_interop;

use std::process::ExitCode;

fn main() -> ExitCode {
    const USAGE: &str = "usage: tonic_interop_server --port=PORT [--web] [--use_tls=false]";
    let (mut port, mut web) = (None, false);
    for arg in std::env::args().skip(1) {
        match arg.split_once('=') {
            Some(("--port", p)) => port = p.parse::<u16>().ok(),
            Some(("--use_tls", "false")) => {}
            None if arg == "--web" => web = true,
            _ => {
                eprintln!("{USAGE}");
                return ExitCode::from(2);
            }
        }
    }
    let Some(port) = port else {
        eprintln!("{USAGE}");
        return ExitCode::from(2);
    };
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tokio: {e}");
            return ExitCode::FAILURE;
        }
    };
    rt.block_on(async {
        match tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
            Ok(l) => {
                let what = if web { "h2c and gRPC-Web" } else { "h2c" };
                eprintln!("tonic_interop_server: listening on 127.0.0.1:{port} ({what})");
                if web {
                    tonic_interop::serve_web(l).await;
                } else {
                    tonic_interop::serve(l).await;
                }
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("tonic_interop_server: cannot listen on 127.0.0.1:{port}: {e}");
                ExitCode::FAILURE
            }
        }
    })
}
