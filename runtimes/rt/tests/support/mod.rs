//! What the socket-free tests of this crate share: a runtime whose clock
//! stands still and whose timers never fire, for tests that poll a driver
//! by hand over a mock stream.

use std::future::Future;
use std::io;
use std::marker::PhantomData;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;
use wirestate_rt::{BoxFuture, Io, Runtime, Sleep};

/// Time stands still at its instant and timers never fire; nothing is
/// spawned or connected. `I` is the mock stream the test drives.
pub struct StillRuntime<I>(pub Instant, PhantomData<fn() -> I>);

impl<I> StillRuntime<I> {
    /// A runtime whose clock reads `now` for good.
    pub fn at(now: Instant) -> Self {
        Self(now, PhantomData)
    }
}

impl<I> Clone for StillRuntime<I> {
    fn clone(&self) -> Self {
        Self::at(self.0)
    }
}

struct NeverSleep;

impl Future for NeverSleep {
    type Output = ();
    fn poll(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<()> {
        Poll::Pending
    }
}

impl Sleep for NeverSleep {
    fn reset(self: Pin<&mut Self>, _: Instant) {}
}

impl<I: Io> Runtime for StillRuntime<I> {
    type Io = I;
    fn now(&self) -> Instant {
        self.0
    }
    fn sleep_until(&self, _: Instant) -> Pin<Box<dyn Sleep>> {
        Box::pin(NeverSleep)
    }
    fn spawn(&self, _: BoxFuture<()>) {}
    fn connect(&self, _: SocketAddr) -> BoxFuture<io::Result<I>> {
        Box::pin(async { Err(io::ErrorKind::Unsupported.into()) })
    }
}
