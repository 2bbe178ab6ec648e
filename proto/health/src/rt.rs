//! The health service on a `wirestate-rt` gRPC server (tokio, smol).

// `Status` is every gRPC handler's error type.
#![allow(clippy::result_large_err)]

use std::future::Future;
use std::pin::pin;
use std::task::Poll;

use wirestate_proto::grpc::health::v1::{HealthCheckRequest, HealthCheckResponse};
use wirestate_rt::Shutdown;
use wirestate_rt::grpc::{Code, Request, Response, ResponseSink, Runtime, Server, Status};

use crate::{CHECK_PATH, HealthReporter, SHUTTING_DOWN, UNKNOWN_SERVICE, WATCH_PATH, response};

/// Routes `grpc.health.v1.Health` (`Check` and `Watch`) on `server`,
/// answering from `reporter`. `shutdown` is the server's graceful-shutdown
/// signal (the one given to `wirestate_tokio::serve` / `wirestate_smol::serve`):
/// when it fires, `reporter` is [shut down](HealthReporter::shutdown) (every
/// service NOT_SERVING) and each `Watch` sends that, then ends with
/// UNAVAILABLE, so the shutdown does not wait on open watches.
///
/// `Watch` waits on the reporter's own wake-ups, not on a runtime's
/// primitives, so the same service runs on any runtime.
///
/// ```
/// use wirestate_grpc_health::{HealthReporter, rt::add_health};
/// use wirestate_rt::Shutdown;
/// use wirestate_rt::grpc::{Runtime, Server};
///
/// /// Your server (your services routed on it), with health checking.
/// fn with_health<R: Runtime>(server: Server<R>, shutdown: &Shutdown) -> (Server<R>, HealthReporter) {
///     let reporter = HealthReporter::new();
///     reporter.set_serving("shop.v1.Cart");
///     (add_health(server, reporter.clone(), shutdown.clone()), reporter)
/// }
/// // Keep the reporter: `reporter.set_not_serving("shop.v1.Cart")` when
/// // the cart cannot serve; watchers are told at once.
/// ```
pub fn add_health<R: Runtime>(
    server: Server<R>,
    reporter: HealthReporter,
    shutdown: Shutdown,
) -> Server<R> {
    let check = {
        let reporter = reporter.clone();
        let shutdown = shutdown.clone();
        move |request: Request<HealthCheckRequest>| {
            // A check during a shutdown that no watch saw yet still
            // reports the drain.
            if shutdown.is_triggered() {
                reporter.shutdown();
            }
            let answer = reporter.check(&request.message.service);
            async move {
                answer
                    .map(Response::new)
                    .ok_or_else(|| Status::new(Code::NotFound, UNKNOWN_SERVICE))
            }
        }
    };
    let watch = move |request: Request<HealthCheckRequest>,
                      responses: ResponseSink<HealthCheckResponse>| {
        watch(
            reporter.clone(),
            shutdown.clone(),
            request.message.service,
            responses,
        )
    };
    server
        .unary(CHECK_PATH, check)
        .server_streaming(WATCH_PATH, watch)
}

/// One `Watch` call: the status, then each change, until the client
/// cancels (the server drops this future) or `shutdown` fires.
async fn watch(
    reporter: HealthReporter,
    shutdown: Shutdown,
    service: String,
    mut responses: ResponseSink<HealthCheckResponse>,
) -> Result<(), Status> {
    let mut watcher = reporter.watch(service);
    let mut stop = pin!(shutdown.wait());
    loop {
        if let Some(status) = watcher.poll_update() {
            responses.send(response(status)).await?;
        }
        let changed = std::future::poll_fn(|cx| {
            if stop.as_mut().poll(cx).is_ready() {
                return Poll::Ready(false);
            }
            watcher.poll_changed(cx).map(|()| true)
        })
        .await;
        if !changed {
            reporter.shutdown();
            if let Some(status) = watcher.poll_update() {
                responses.send(response(status)).await?;
            }
            return Err(Status::new(Code::Unavailable, SHUTTING_DOWN));
        }
    }
}
