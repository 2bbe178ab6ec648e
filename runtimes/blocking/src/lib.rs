//! wirestate on plain threads: the sans-IO machines driven over blocking
//! `std::net` sockets with read timeouts — no async runtime, no
//! `block_on`.
//!
//! * [`Driver`] runs any [`Machine`](wirestate_machine::Machine) over any
//!   [`Transport`] (a `TcpStream`, a `UnixStream`): write the transmits,
//!   block in a read bounded by the machine's next deadline, fire its
//!   timers — until it is closed.
//! * [`Server`] serves HTTP/1.1 with a [`Handler`] on a thread per
//!   connection (capped), with request bodies read lazily from the
//!   connection ([`BlockingBody`]), streamed response bodies ([`Body`]) and
//!   a graceful shutdown ([`ServerHandle`]).
//! * [`Client`] sends HTTP/1.1 requests over a keep-alive pool with
//!   connect and request timeouts and retries.
//! * [`h2`]: HTTP/2 with prior knowledge (h2c). The [`Server`] serves it
//!   on the same port as HTTP/1.1 (told apart by the first bytes) with the
//!   same [`Handler`]; [`h2::connect`] opens a client connection that
//!   carries many requests at once, from any number of threads.
//! * [`grpc`]: a gRPC server (routes of plain functions, an HTTP
//!   [`Handler`], so gRPC and gRPC-Web share the port) and a gRPC
//!   [`Channel`](grpc::Channel) over [`h2`], the four call kinds.
//! * [`mcp_server`]: an MCP server of plain-closure handlers over stdio,
//!   Streamable HTTP and WebSocket; [`mcp_client`] the client.
//! * [`ws`]: WebSocket clients ([`ws::connect`]) and server upgrades from a
//!   handler ([`ws::upgrade`]), readable from one thread while others send.
//! * `tls` (feature `tls`): TLS with rustls for all of the above — an
//!   HTTPS [`Server`] (`ServerConfig::tls`), `https://` in the [`Client`],
//!   HTTP/2 and gRPC channels over TLS with ALPN `h2`, `wss://`.
//!
//! Protocol decisions — framing, keep-alive, `100 Continue`, timeouts,
//! error responses — are the machines'; this crate only moves bytes and
//! time between them and the sockets.
//!
//! ```
//! use http::{Request, Response};
//! use std::io::Read;
//! use wirestate_blocking::{BlockingBody, Client, ResponseBody, Server};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let server = Server::bind("127.0.0.1:0", Default::default())?;
//! let url = format!("http://{}/", server.local_addr()?);
//! let handle = server.handle();
//! let thread = std::thread::spawn(move || {
//!     server.serve(|_req: Request<BlockingBody>| Response::new(ResponseBody::from("hello")))
//! });
//!
//! let mut res = Client::default().get(&url)?;
//! let mut text = String::new();
//! res.body_mut().read_to_string(&mut text)?;
//! assert_eq!(text, "hello");
//!
//! handle.shutdown();
//! thread.join().unwrap()?;
//! # Ok(())
//! # }
//! ```

mod body;
mod client;
mod driver;
mod error;
pub mod grpc;
pub mod h2;
pub mod mcp_client;
pub mod mcp_server;
mod server;
#[cfg(feature = "tls")]
pub mod tls;
mod transport;
pub mod ws;

pub use body::{BlockingBody, Body, RequestBody, ResponseBody};
pub use client::{Client, ClientConfig};
pub use driver::{Driver, Wait};
pub use error::Error;
pub use server::{Handler, Server, ServerConfig, ServerHandle, serve, serve_connection};
pub use transport::Transport;
pub use wirestate_http1::policy::Retry;
