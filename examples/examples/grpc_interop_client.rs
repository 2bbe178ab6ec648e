//! The gRPC interop client cases with wirestate's client against a
//! `grpc.testing.TestService` over h2c:
//!
//! ```text
//! cargo run --example grpc_interop_client -- 127.0.0.1:50051 [tokio|smol] [label]
//! ```
//!
//! One `PASS <label> <case>` / `FAIL <label> <case>: why` line per case;
//! exit status 1 if any failed.

use std::process::ExitCode;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(addr) = args.next().and_then(|a| a.parse().ok()) else {
        eprintln!("usage: grpc_interop_client HOST:PORT [tokio|smol] [label]");
        return ExitCode::from(2);
    };
    let runtime = args.next().unwrap_or_else(|| "tokio".into());
    let label = args.next().unwrap_or_else(|| runtime.clone());
    let results = match runtime.as_str() {
        "smol" => {
            let ex = std::sync::Arc::new(smol::Executor::new());
            let rt = wirestate_smol::SmolRuntime::with_executor(ex.clone());
            smol::block_on(ex.run(wirestate_examples::grpc::interop::run(rt, addr)))
        }
        _ => {
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
            rt.block_on(wirestate_examples::grpc::interop::run(
                wirestate_tokio::TokioRuntime,
                addr,
            ))
        }
    };
    let mut failed = false;
    for (case, outcome) in results {
        match outcome {
            Ok(()) => println!("PASS {label} {case}"),
            Err(why) => {
                failed = true;
                println!("FAIL {label} {case}: {why}");
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
