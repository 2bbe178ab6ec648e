//! The reflection service on a `wirestate-blocking` gRPC server.

// `Status` is every gRPC handler's error type.
#![allow(clippy::result_large_err)]

use wirestate_blocking::grpc::{Request, Response, Server, Status, Streaming};
use wirestate_proto::grpc::reflection::v1::{ServerReflectionRequest, ServerReflectionResponse};

use crate::{Reflection, V1_PATH, V1ALPHA_PATH};

/// Routes `grpc.reflection.v1.ServerReflection` and
/// `grpc.reflection.v1alpha.ServerReflection` on `server`, answering from
/// `reflection`: one [`Session`](crate::Session) per call, one answer per
/// request as it is read, until the client ends its side.
///
/// ```
/// use wirestate_blocking::grpc::Server;
/// use wirestate_grpc_reflection::{Reflection, blocking::add_reflection};
///
/// let server = add_reflection(Server::new(), Reflection::wirestate());
/// assert!(server.has_route("/grpc.reflection.v1.ServerReflection/ServerReflectionInfo"));
/// // wirestate_blocking::Server::bind(addr, config)?.serve(server)
/// ```
pub fn add_reflection(server: Server, reflection: Reflection) -> Server {
    // Both packages share one handler: their messages are the same on the
    // wire, so the v1 types serve v1alpha calls byte for byte.
    let handler = move |request: Request<Streaming<ServerReflectionRequest>>| {
        let mut session = reflection.session();
        let answers = request
            .message
            .map(move |request| request.map(|request| session.answer(request)));
        Ok::<_, Status>(Response::new(answers))
    };
    server
        .bidi_streaming::<ServerReflectionRequest, ServerReflectionResponse, _, _>(
            V1_PATH,
            handler.clone(),
        )
        .bidi_streaming(V1ALPHA_PATH, handler)
}
