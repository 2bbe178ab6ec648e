//! The byte stream a blocking [`Driver`](crate::Driver) runs over.

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::Duration;

/// A connected, blocking byte stream whose waits can be bounded: what the
/// [`Driver`](crate::Driver) needs beyond [`Read`] and [`Write`].
///
/// Implemented for [`TcpStream`] (and `UnixStream` on Unix). The stream
/// must be in blocking mode; timeouts come from the machine's timers.
pub trait Transport: Read + Write {
    /// Bounds the next reads: `None` blocks until data or end of stream,
    /// `Some(d)` returns `WouldBlock` or `TimedOut` after `d` (never zero).
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()>;

    /// Bounds the next writes the same way.
    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()>;

    /// Half-closes the write side (what [`Transmit::Shutdown`](wirestate_machine::Transmit::Shutdown) asks for).
    fn shutdown_write(&self) -> io::Result<()>;

    /// Switches non-blocking mode (used to peek at pooled connections).
    /// Streams that cannot switch return `Unsupported`.
    fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        let _ = nonblocking;
        Err(io::ErrorKind::Unsupported.into())
    }
}

impl Transport for TcpStream {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        TcpStream::set_read_timeout(self, timeout)
    }

    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        TcpStream::set_write_timeout(self, timeout)
    }

    fn shutdown_write(&self) -> io::Result<()> {
        self.shutdown(Shutdown::Write)
    }

    fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        TcpStream::set_nonblocking(self, nonblocking)
    }
}

#[cfg(unix)]
impl Transport for std::os::unix::net::UnixStream {
    fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        std::os::unix::net::UnixStream::set_read_timeout(self, timeout)
    }

    fn set_write_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        std::os::unix::net::UnixStream::set_write_timeout(self, timeout)
    }

    fn shutdown_write(&self) -> io::Result<()> {
        self.shutdown(Shutdown::Write)
    }

    fn set_nonblocking(&self, nonblocking: bool) -> io::Result<()> {
        std::os::unix::net::UnixStream::set_nonblocking(self, nonblocking)
    }
}
