//! The standard gRPC interop client cases on tonic's client
//! (tests/tests/tonic_interop), for scripts/interop-grpc.sh:
//!
//! ```text
//! cargo run -p wirestate-tests --example tonic_interop_client -- \
//!     --server_host=127.0.0.1 --server_port=50051 --test_case=all
//! ```
//!
//! `--test_case` takes one case, a comma-separated list or `all`. One
//! `PASS name` / `FAIL name: why` line per case, then `N passed, N failed`;
//! exit status 1 if any failed. `--use_tls=false` is accepted.
//!
//! `--web` speaks gRPC-Web over HTTP/1.1 instead (tonic's client through
//! tonic-web's `GrpcWebClientLayer` over hyper-util): the cases gRPC-Web
//! cannot carry (client-streaming and bidi calls) print
//! `SKIP name: why` and count in a third number, `N skipped`.

#[path = "../tests/tonic_interop/mod.rs"]
mod tonic_interop;

use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use tonic_interop::{CASES, web_unsupported};

fn usage() -> ExitCode {
    eprintln!(
        "usage: tonic_interop_client --server_port=PORT [--server_host=HOST] [--test_case=all|NAME[,NAME…]] [--web] [--use_tls=false]"
    );
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let (mut host, mut port, mut test_case) = ("127.0.0.1".to_owned(), None, "all".to_owned());
    let mut web = false;
    for arg in std::env::args().skip(1) {
        match arg.split_once('=') {
            None if arg == "--web" => web = true,
            Some(("--server_host", h)) => host = h.to_owned(),
            Some(("--server_port", p)) => port = p.parse::<u16>().ok(),
            Some(("--test_case", c)) => test_case = c.to_owned(),
            Some(("--use_tls", "false")) => {}
            _ => return usage(),
        }
    }
    let Some(port) = port else { return usage() };
    let Some(addr): Option<SocketAddr> = (host.as_str(), port)
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
    else {
        eprintln!("tonic_interop_client: cannot resolve {host}");
        return ExitCode::from(2);
    };
    let mut cases = Vec::new();
    for name in test_case.split(',').map(str::trim) {
        if name == "all" {
            cases.extend(CASES);
        } else if let Some(c) = CASES.iter().find(|c| **c == name) {
            cases.push(*c);
        } else {
            eprintln!("tonic_interop_client: unknown test case {name:?}");
            return ExitCode::from(2);
        }
    }
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
    let mut skipped = 0;
    if web {
        cases.retain(|case| match web_unsupported(case) {
            Some(why) => {
                skipped += 1;
                println!("SKIP {case}: {why}");
                false
            }
            None => true,
        });
    }
    let results = if web {
        rt.block_on(tonic_interop::run_web_cases(addr, &cases))
    } else {
        rt.block_on(tonic_interop::run_cases(addr, &cases))
    };
    let (mut passed, mut failed) = (0, 0);
    for (case, outcome) in results {
        match outcome {
            Ok(note) => {
                passed += 1;
                match note {
                    Some(n) => println!("PASS {case} ({n})"),
                    None => println!("PASS {case}"),
                }
            }
            Err(why) => {
                failed += 1;
                println!("FAIL {case}: {why}");
            }
        }
    }
    if web {
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
