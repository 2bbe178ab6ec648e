//! The `wirestate.echo.v1.Echo` service on tonic's server (the same one
//! tests/benches/grpc_echo.rs runs in-process), as a process of its own for
//! bench/grpc.sh: `tonic_echo_server [--threads N] 127.0.0.1:PORT`. One
//! thread (the default) runs a current-thread tokio runtime, as
//! `wirestate serve --runtime tokio --threads 1` does. Responses go out
//! uncompressed, tonic's default (ours offers gzip but sends plain too).

#[path = "../tests/tonic_echo/mod.rs"]
mod tonic_echo;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mut threads = 1usize;
    let mut listen = None;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--threads" => threads = args.next().ok_or("--threads N")?.parse()?,
            _ => listen = Some(a.parse::<std::net::SocketAddr>()?),
        }
    }
    let listen = listen.ok_or("usage: tonic_echo_server [--threads N] HOST:PORT")?;
    let rt = if threads <= 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads)
            .enable_all()
            .build()?
    };
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(listen).await?;
        tonic_echo::serve(listener, false).await?;
        Ok(())
    })
}
