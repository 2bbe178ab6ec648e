//! The health service on a `wirestate-blocking` gRPC server.

// `Status` is every gRPC handler's error type.
#![allow(clippy::result_large_err)]

use std::time::Duration;

use wirestate_blocking::ServerHandle;
use wirestate_blocking::grpc::{Code, Request, Response, Server, Status};
use wirestate_proto::grpc::health::v1::{HealthCheckRequest, HealthCheckResponse};

use crate::{CHECK_PATH, HealthReporter, SHUTTING_DOWN, UNKNOWN_SERVICE, WATCH_PATH, response};

/// How long a `Watch` waits for a change before it looks at the server's
/// shutdown and the call's cancellation again (neither wakes the
/// reporter's condition variable).
const WATCH_TICK: Duration = Duration::from_millis(50);

/// Routes `grpc.health.v1.Health` (`Check` and `Watch`) on `server`,
/// answering from `reporter`. `shutdown` is the HTTP server's handle, if
/// any: once it shuts down, `reporter` is [shut
/// down](HealthReporter::shutdown) (every service NOT_SERVING) and each
/// `Watch` sends that, then ends with UNAVAILABLE, so the graceful shutdown
/// does not wait on open watches (without a handle, a watch ends when the
/// client cancels it).
///
/// A `Watch` holds its stream's thread and sleeps on the reporter's
/// condition variable between changes.
///
/// ```
/// use wirestate_blocking::grpc::Server;
/// use wirestate_grpc_health::{HealthReporter, blocking::add_health};
///
/// let reporter = HealthReporter::new();
/// reporter.set_serving("shop.v1.Cart");
/// let server = add_health(Server::new(), reporter.clone(), None);
/// assert!(server.has_route("/grpc.health.v1.Health/Watch"));
/// // let http = wirestate_blocking::Server::bind(addr, config)?;
/// // add_health(server, reporter, Some(http.handle())) … http.serve(grpc)
/// ```
pub fn add_health(
    server: Server,
    reporter: HealthReporter,
    shutdown: Option<ServerHandle>,
) -> Server {
    let check = {
        let reporter = reporter.clone();
        let shutdown = shutdown.clone();
        move |request: Request<HealthCheckRequest>| {
            if shutdown.as_ref().is_some_and(ServerHandle::is_shutdown) {
                reporter.shutdown();
            }
            reporter
                .check(&request.message.service)
                .map(Response::new)
                .ok_or_else(|| Status::new(Code::NotFound, UNKNOWN_SERVICE))
        }
    };
    let watch = move |request: Request<HealthCheckRequest>| {
        let mut watcher = reporter.watch(request.message.service.clone());
        let reporter = reporter.clone();
        let shutdown = shutdown.clone();
        let mut ended = false;
        let updates = std::iter::from_fn(move || {
            loop {
                if ended {
                    return None;
                }
                if let Some(status) = watcher.poll_update() {
                    return Some(Ok(response(status)));
                }
                if shutdown.as_ref().is_some_and(ServerHandle::is_shutdown) {
                    if !reporter.is_shut_down() {
                        // Send the NOT_SERVING first, end on the next turn.
                        reporter.shutdown();
                        continue;
                    }
                    ended = true;
                    return Some(Err(Status::new(Code::Unavailable, SHUTTING_DOWN)));
                }
                if request.is_cancelled() {
                    return None;
                }
                watcher.wait_changed(WATCH_TICK);
            }
        });
        Ok::<_, Status>(Response::new(updates))
    };
    server
        .unary(CHECK_PATH, check)
        .server_streaming::<HealthCheckRequest, HealthCheckResponse, _, _>(WATCH_PATH, watch)
}
