//! A WebSocket echo server that drives `wirestate_ws::ServerUpgrade` by
//! hand over `std::net`, one thread per connection — no adapter crate. The
//! whole loop is: write what the machine queued, read with a timeout set
//! from `poll_timeout`, feed the machine, react to its events.
//!
//! ```sh
//! cargo run --release --example ws_echo_loop -- 127.0.0.1:9002
//! ```

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::time::{Duration, Instant};
use wirestate_machine::{Machine, Transmit};
use wirestate_ws::{Config, DeflateConfig, Event, ServerHandshake, ServerUpgrade, UpgradeEvent};

fn serve(mut socket: TcpStream) -> io::Result<()> {
    let mut config = Config::default();
    // Autobahn's 9.* cases send messages of up to 16 MiB.
    config.max_message_size = 64 << 20;
    let handshake = ServerHandshake::new().deflate(DeflateConfig::default());
    let mut machine = ServerUpgrade::new(Instant::now(), handshake, config);
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        while let Some(t) = machine.poll_transmit() {
            match t {
                Transmit::Bytes(b) => socket.write_all(&b)?,
                Transmit::Shutdown => socket.shutdown(Shutdown::Write)?,
            }
        }
        if machine.is_closed() {
            return Ok(());
        }
        let now = Instant::now();
        let wait = machine.poll_timeout().map(|at| {
            at.saturating_duration_since(now)
                .max(Duration::from_millis(1))
        });
        socket.set_read_timeout(wait)?;
        if machine.wants_read() {
            match socket.read(&mut buf) {
                Ok(0) => {
                    let _ = machine.handle_eof(Instant::now());
                }
                Ok(n) => {
                    if let Err(e) = machine.handle_input(Instant::now(), &buf[..n]) {
                        eprintln!("connection failed: {e}");
                    }
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => return Err(e),
            }
        }
        let now = Instant::now();
        if machine.poll_timeout().is_some_and(|at| at <= now) {
            machine.handle_timeout(now);
        }
        while let Some(ev) = machine.poll_event() {
            if let UpgradeEvent::Ws(Event::Message(m)) = ev {
                if let Some(ws) = machine.connection() {
                    // Echo as received; a send after close is refused, harmlessly.
                    let _ = ws.send(m);
                }
            }
        }
    }
}

fn main() -> io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9002".into());
    let listener = TcpListener::bind(&addr)?;
    eprintln!("ws echo on ws://{}/", listener.local_addr()?);
    for socket in listener.incoming() {
        let socket = socket?;
        socket.set_nodelay(true)?;
        std::thread::spawn(move || {
            if let Err(e) = serve(socket) {
                eprintln!("connection error: {e}");
            }
        });
    }
    Ok(())
}
