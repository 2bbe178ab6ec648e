//! What the generated method tables are made of: the call kind and the typed
//! method descriptor.

use core::fmt;
use core::marker::PhantomData;

/// The four gRPC call kinds: whether the client, the server, both or neither
/// send a stream of messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MethodKind {
    /// One request, one response.
    Unary,
    /// One request, a stream of responses.
    ServerStreaming,
    /// A stream of requests, one response.
    ClientStreaming,
    /// A stream each way.
    BidiStreaming,
}

impl MethodKind {
    /// The kind from the two `stream` keywords of an `rpc` declaration.
    pub const fn from_streaming(client_streaming: bool, server_streaming: bool) -> Self {
        match (client_streaming, server_streaming) {
            (false, false) => MethodKind::Unary,
            (false, true) => MethodKind::ServerStreaming,
            (true, false) => MethodKind::ClientStreaming,
            (true, true) => MethodKind::BidiStreaming,
        }
    }

    /// Whether the client sends a stream of requests.
    pub const fn client_streaming(self) -> bool {
        matches!(
            self,
            MethodKind::ClientStreaming | MethodKind::BidiStreaming
        )
    }

    /// Whether the server sends a stream of responses.
    pub const fn server_streaming(self) -> bool {
        matches!(
            self,
            MethodKind::ServerStreaming | MethodKind::BidiStreaming
        )
    }
}

/// One method of a gRPC service: its path and kind, and its request and
/// response message types as type parameters.
///
/// The generated `{Service}Method` enums carry one of these per method as an
/// associated constant (`EchoMethod::ECHO_STREAM`); a typed client call is
/// made from it.
pub struct MethodDescriptor<Req, Resp> {
    path: &'static str,
    kind: MethodKind,
    types: PhantomData<fn(Req) -> Resp>,
}

impl<Req, Resp> MethodDescriptor<Req, Resp> {
    /// A descriptor for the method at `path` (`/package.Service/Method`).
    pub const fn new(path: &'static str, kind: MethodKind) -> Self {
        MethodDescriptor {
            path,
            kind,
            types: PhantomData,
        }
    }

    /// The gRPC path, `/package.Service/Method` (the HTTP/2 `:path`).
    pub const fn path(&self) -> &'static str {
        self.path
    }

    /// How the method streams.
    pub const fn kind(&self) -> MethodKind {
        self.kind
    }

    /// The fully qualified service name, `package.Service`.
    pub fn service(&self) -> &'static str {
        let path = self.path.strip_prefix('/').unwrap_or(self.path);
        path.rsplit_once('/').map_or("", |(service, _)| service)
    }

    /// The method name, `Method`.
    pub fn method(&self) -> &'static str {
        self.path.rsplit_once('/').map_or(self.path, |(_, m)| m)
    }
}

// Manual impls: the descriptor is copyable whatever the message types are.
impl<Req, Resp> Clone for MethodDescriptor<Req, Resp> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<Req, Resp> Copy for MethodDescriptor<Req, Resp> {}

impl<Req, Resp> PartialEq for MethodDescriptor<Req, Resp> {
    fn eq(&self, other: &Self) -> bool {
        self.path == other.path && self.kind == other.kind
    }
}

impl<Req, Resp> Eq for MethodDescriptor<Req, Resp> {}

impl<Req, Resp> fmt::Debug for MethodDescriptor<Req, Resp> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MethodDescriptor")
            .field("path", &self.path)
            .field("kind", &self.kind)
            .finish()
    }
}
