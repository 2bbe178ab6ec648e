//! The reflection service on a `wirestate-rt` gRPC server (tokio, smol).

// `Status` is every gRPC handler's error type.
#![allow(clippy::result_large_err)]

use wirestate_proto::grpc::reflection::v1::{ServerReflectionRequest, ServerReflectionResponse};
use wirestate_rt::grpc::{Request, ResponseSink, Runtime, Server, Status, Streaming};

use crate::{Reflection, V1_PATH, V1ALPHA_PATH};

/// Routes `grpc.reflection.v1.ServerReflection` and
/// `grpc.reflection.v1alpha.ServerReflection` on `server`, answering from
/// `reflection`: one [`Session`](crate::Session) per call, one answer per
/// request, in order, until the client ends its side.
///
/// ```
/// use wirestate_grpc_reflection::{Error, Reflection, rt::add_reflection};
/// use wirestate_rt::grpc::{Runtime, Server};
///
/// /// Your server (your methods routed on it, or `add_{service}_server`),
/// /// with reflection over wirestate's descriptors and yours.
/// fn with_reflection<R: Runtime>(server: Server<R>, yours: &[u8]) -> Result<Server<R>, Error> {
///     let reflection = Reflection::builder()
///         .register_file_descriptor_set(wirestate_proto::FILE_DESCRIPTOR_SET)?
///         .register_file_descriptor_set(yours)?
///         .build()?;
///     Ok(add_reflection(server, reflection))
/// }
/// ```
pub fn add_reflection<R: Runtime>(server: Server<R>, reflection: Reflection) -> Server<R> {
    // Both packages share one handler: their messages are the same on the
    // wire (same fields, numbers and types), so the v1 types decode v1alpha
    // requests and encode v1alpha answers byte for byte.
    let handler = move |request: Request<Streaming<ServerReflectionRequest>>,
                        mut responses: ResponseSink<ServerReflectionResponse>| {
        let mut session = reflection.session();
        async move {
            let mut requests = request.message;
            while let Some(request) = requests.message().await? {
                responses.send(session.answer(request)).await?;
            }
            Ok::<(), Status>(())
        }
    };
    server
        .bidi_streaming(V1_PATH, handler.clone())
        .bidi_streaming(V1ALPHA_PATH, handler)
}
