//! The standard gRPC interop client (grpc/grpc
//! `doc/interop-test-descriptions.md`) on wirestate's client, over h2c:
//!
//! ```text
//! cargo run -p wirestate-examples --example interop_client -- \
//!     --server_host=127.0.0.1 --server_port=50051 --test_case=all [--runtime=tokio|smol|blocking]
//! ```
//!
//! `--test_case` takes one case, a comma-separated list or `all` (the 18
//! cases of `wirestate_examples::grpc::interop::CASES`). One
//! `PASS name` / `FAIL name: why` line per case, then `N passed, N failed`;
//! the exit status is 1 if any failed, 2 for bad arguments.
//! `--use_tls=false` is accepted (TLS is not offered here).
//!
//! `--transport=web` runs the cases over gRPC-Web (HTTP/1.1,
//! `application/grpc-web`) and `--transport=web-text` over its base64
//! text mode (`application/grpc-web-text`), through the generated
//! `TestServiceClient` on a gRPC channel in gRPC-Web mode
//! (`ChannelBuilder::grpc_web`) on each runtime (`wirestate_examples::grpc_web`).
//! gRPC-Web carries unary and server-streaming calls only: the
//! client-streaming and bidi cases print `SKIP name: why` (neither passed
//! nor failed) and the last line adds `N skipped`.

use clap::Parser;
use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use wirestate_examples::grpc::interop::{CASES, Outcome, run_cases};
use wirestate_examples::grpc_web;

/// The flags every gRPC interop client takes (the ones this one needs).
#[derive(Parser)]
#[command(about = "gRPC interop test client (wirestate)")]
struct Args {
    /// The server host.
    #[arg(long = "server_host", default_value = "127.0.0.1")]
    server_host: String,
    /// The server port.
    #[arg(long = "server_port")]
    server_port: u16,
    /// A case, a comma-separated list of cases, or `all`.
    #[arg(long = "test_case", default_value = "all")]
    test_case: String,
    /// Whether to use TLS: only `false` is supported.
    #[arg(long = "use_tls", default_value_t = false, action = clap::ArgAction::Set)]
    use_tls: bool,
    /// The runtime the client runs on: tokio, smol or blocking.
    #[arg(long, default_value = "tokio")]
    runtime: String,
    /// How calls travel: `h2c` (gRPC over HTTP/2, prior knowledge),
    /// `web` (gRPC-Web over HTTP/1.1) or `web-text` (gRPC-Web, base64
    /// text mode). Over gRPC-Web the client-streaming and bidi cases are
    /// skipped (SKIP lines): gRPC-Web carries unary and server-streaming
    /// calls only.
    #[arg(long, default_value = "h2c")]
    transport: String,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if args.use_tls {
        eprintln!("interop_client: --use_tls=true is not supported (h2c only)");
        return ExitCode::from(2);
    }
    let addr: SocketAddr = match (args.server_host.as_str(), args.server_port)
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
    {
        Some(a) => a,
        None => {
            eprintln!("interop_client: cannot resolve {}", args.server_host);
            return ExitCode::from(2);
        }
    };
    let mut cases = Vec::new();
    for name in args.test_case.split(',').map(str::trim) {
        if name == "all" {
            cases.extend(CASES);
        } else if let Some(c) = CASES.iter().find(|c| **c == name) {
            cases.push(*c);
        } else {
            eprintln!(
                "interop_client: unknown test case {name:?}; known: all, {}",
                CASES.join(", ")
            );
            return ExitCode::from(2);
        }
    }
    let web = match args.transport.as_str() {
        "h2c" => None,
        "web" => Some(false),
        "web-text" => Some(true),
        other => {
            eprintln!("interop_client: unknown transport {other:?} (h2c, web or web-text)");
            return ExitCode::from(2);
        }
    };
    let mut skipped = 0;
    if web.is_some() {
        cases.retain(|case| match grpc_web::interop::unsupported(case) {
            Some(why) => {
                skipped += 1;
                println!("SKIP {case}: {why}");
                false
            }
            None => true,
        });
    }
    let results: Vec<(&str, Outcome)> = match (args.runtime.as_str(), web) {
        ("smol", Some(text)) => {
            let ex = std::sync::Arc::new(smol::Executor::new());
            let rt = wirestate_smol::SmolRuntime::with_executor(ex.clone());
            smol::block_on(ex.run(grpc_web::interop::run_cases(rt, addr, &cases, text)))
        }
        ("tokio", Some(text)) => {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("tokio: {e}");
                    return ExitCode::FAILURE;
                }
            };
            rt.block_on(grpc_web::interop::run_cases(
                wirestate_tokio::TokioRuntime,
                addr,
                &cases,
                text,
            ))
        }
        ("blocking", Some(text)) => grpc_web::interop::run_cases_blocking(addr, &cases, text),
        (rt, Some(_)) => {
            eprintln!("interop_client: unknown runtime {rt:?} (tokio, smol or blocking)");
            return ExitCode::from(2);
        }
        (runtime, None) => match runtime {
            "smol" => {
                let ex = std::sync::Arc::new(smol::Executor::new());
                let rt = wirestate_smol::SmolRuntime::with_executor(ex.clone());
                smol::block_on(ex.run(run_cases(rt, addr, &cases)))
            }
            "tokio" => {
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        eprintln!("tokio: {e}");
                        return ExitCode::FAILURE;
                    }
                };
                rt.block_on(run_cases(wirestate_tokio::TokioRuntime, addr, &cases))
            }
            "blocking" => {
                wirestate_examples::grpc_blocking::interop::run_cases(&addr.to_string(), &cases)
            }
            other => {
                eprintln!("interop_client: unknown runtime {other:?} (tokio, smol or blocking)");
                return ExitCode::from(2);
            }
        },
    };
    let (mut passed, mut failed) = (0, 0);
    for (case, outcome) in results {
        match outcome {
            Ok(()) => {
                passed += 1;
                println!("PASS {case}");
            }
            Err(why) => {
                failed += 1;
                println!("FAIL {case}: {why}");
            }
        }
    }
    if web.is_some() {
        println!("{passed} passed, {failed} failed, {skipped} skipped");
    } else {
        println!("{passed} passed, {failed} failed");
    }
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
