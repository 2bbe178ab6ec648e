//! The Autobahn testsuite's client side: run `wstest -m fuzzingserver`
//! (the testsuite's Docker image listens on port 9001), then
//!
//! ```sh
//! cargo run --release --example autobahn_client -- [--runtime tokio|smol|blocking] ws://127.0.0.1:9001 AGENT
//! ```
//!
//! It reads the case count from `/getCaseCount`, echoes every message of
//! each case `/runCase?case=i&agent=AGENT` until the server closes, and
//! asks for the report with `/updateReports?agent=AGENT`.
//! permessage-deflate is offered (cases 12.* and 13.*), and the limits let
//! the 16 MiB messages of cases 9.* through.

use clap::{Parser, ValueEnum};
use std::process::ExitCode;

#[derive(Clone, Copy, Debug, ValueEnum)]
enum RuntimeKind {
    Tokio,
    Smol,
    Blocking,
}

#[derive(Parser)]
#[command(about = "Autobahn testsuite client for wirestate")]
struct Args {
    /// Which runtime drives the connections.
    #[arg(long, value_enum, default_value = "tokio")]
    runtime: RuntimeKind,
    /// The fuzzing server, e.g. ws://127.0.0.1:9001
    server: String,
    /// The agent name the report lists.
    #[arg(default_value = "wirestate")]
    agent: String,
}

/// Limits for the testsuite: 9.* sends messages (and frames) up to 16 MiB.
const MAX_SIZE: usize = 64 << 20;

fn rt_config() -> wirestate_rt::ws::Config {
    wirestate_rt::ws::Config::default()
        .deflate(true)
        .max_message_size(MAX_SIZE)
        .max_frame_size(MAX_SIZE)
}

fn blocking_config() -> wirestate_blocking::ws::Config {
    wirestate_blocking::ws::Config::default()
        .deflate(true)
        .max_message_size(MAX_SIZE)
        .max_frame_size(MAX_SIZE)
}

fn main() -> ExitCode {
    let args = Args::parse();
    let server = args.server.trim_end_matches('/').to_owned();
    let result = match args.runtime {
        RuntimeKind::Tokio => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())
            .and_then(|rt| {
                rt.block_on(run_async(
                    wirestate_tokio::TokioRuntime,
                    &server,
                    &args.agent,
                ))
            }),
        RuntimeKind::Smol => smol::block_on(run_async(
            wirestate_smol::SmolRuntime::new(),
            &server,
            &args.agent,
        )),
        RuntimeKind::Blocking => run_blocking(&server, &args.agent),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("autobahn_client: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run_async<R: wirestate_rt::Runtime>(
    rt: R,
    server: &str,
    agent: &str,
) -> Result<(), String> {
    use wirestate_rt::ws;
    let connect = |path: String| {
        let rt = rt.clone();
        async move {
            let url = format!("{server}{path}");
            let (socket, connection) = ws::connect(rt.clone(), &url, rt_config())
                .await
                .map_err(|e| format!("{url}: {e}"))?;
            rt.spawn(Box::pin(async move {
                let _ = connection.await;
            }));
            Ok::<_, String>(socket)
        }
    };
    let mut socket = connect("/getCaseCount".into()).await?;
    let count = match socket.recv().await {
        Some(Ok(ws::Message::Text(t))) => t
            .as_str()
            .trim()
            .parse::<u32>()
            .map_err(|e| format!("case count {t:?}: {e}"))?,
        other => return Err(format!("no case count: {other:?}")),
    };
    drop(socket);
    eprintln!("{count} cases");
    for case in 1..=count {
        // A failed handshake is part of a case's outcome: go on with the next.
        let mut socket = match connect(format!("/runCase?case={case}&agent={agent}")).await {
            Ok(socket) => socket,
            Err(e) => {
                eprintln!("case {case}: {e}");
                continue;
            }
        };
        while let Some(Ok(message)) = socket.recv().await {
            if socket.send(message).await.is_err() {
                break;
            }
        }
        // Let the connection finish its close handshake before the next case.
        while socket.recv().await.is_some() {}
        if case % 50 == 0 {
            eprintln!("{case}/{count}");
        }
    }
    let mut socket = connect(format!("/updateReports?agent={agent}")).await?;
    while socket.recv().await.is_some() {}
    eprintln!("reports updated");
    Ok(())
}

fn run_blocking(server: &str, agent: &str) -> Result<(), String> {
    use wirestate_blocking::ws;
    let connect = |path: String| {
        let url = format!("{server}{path}");
        ws::connect_with(&url, blocking_config()).map_err(|e| format!("{url}: {e}"))
    };
    let socket = connect("/getCaseCount".into())?;
    let count = match socket.recv() {
        Some(Ok(ws::Message::Text(t))) => t
            .as_str()
            .trim()
            .parse::<u32>()
            .map_err(|e| format!("case count {t:?}: {e}"))?,
        other => return Err(format!("no case count: {other:?}")),
    };
    let _ = socket.close(ws::close_code::NORMAL, "");
    while socket.recv().is_some() {}
    eprintln!("{count} cases");
    for case in 1..=count {
        let socket = match connect(format!("/runCase?case={case}&agent={agent}")) {
            Ok(socket) => socket,
            Err(e) => {
                eprintln!("case {case}: {e}");
                continue;
            }
        };
        while let Some(Ok(message)) = socket.recv() {
            if socket.send(message).is_err() {
                break;
            }
        }
        while socket.recv().is_some() {}
        if case % 50 == 0 {
            eprintln!("{case}/{count}");
        }
    }
    let socket = connect(format!("/updateReports?agent={agent}"))?;
    while socket.recv().is_some() {}
    eprintln!("reports updated");
    Ok(())
}
