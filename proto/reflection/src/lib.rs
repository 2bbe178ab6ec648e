//! gRPC server reflection for wirestate servers: the
//! `grpc.reflection.v1.ServerReflection` service (and the same in the older
//! `grpc.reflection.v1alpha` package) that grpcurl, grpcui, `grpc_cli`,
//! Postman, Evans, Kreya and `grpcio-reflection` use to list a server's
//! services and fetch their descriptors.
//!
//! The answers come from a [`Reflection`] index built from one or more
//! encoded `FileDescriptorSet`s — [`wirestate_proto::FILE_DESCRIPTOR_SET`]
//! for wirestate's own services (health, echo, the interop test service and
//! reflection itself) and your own, e.g. what
//! `wirestate_codegen::Config::file_descriptor_set_path` has your `build.rs`
//! write. The index and the per-stream [`Session`] are plain
//! data: no runtime, no IO, so the whole protocol is testable without
//! sockets. The `rt` and `blocking` features register the service on a
//! `wirestate-rt` (tokio, smol) or `wirestate-blocking` gRPC server:
//!
//! ```
//! use wirestate_grpc_reflection::Reflection;
//! use wirestate_proto::grpc::reflection::v1::{
//!     ServerReflectionRequest, server_reflection_request::MessageRequest,
//!     server_reflection_response::MessageResponse,
//! };
//!
//! // In a server: `rt::add_reflection(server, reflection)` (feature `rt`)
//! // or `blocking::add_reflection(server, reflection)` (feature `blocking`).
//! let reflection = Reflection::builder()
//!     .register_file_descriptor_set(wirestate_proto::FILE_DESCRIPTOR_SET)?
//!     .advertise("grpc.health.v1.Health")
//!     .build()?;
//!
//! // What the service does with each message of a stream:
//! let mut session = reflection.session();
//! let answer = session.answer(ServerReflectionRequest {
//!     host: String::new(),
//!     message_request: Some(MessageRequest::FileContainingSymbol(
//!         "grpc.health.v1.Health.Check".into(),
//!     )),
//! });
//! let Some(MessageResponse::FileDescriptorResponse(files)) = answer.message_response else {
//!     panic!("{answer:?}");
//! };
//! assert_eq!(files.file_descriptor_proto.len(), 1); // health.proto imports nothing
//! # Ok::<(), wirestate_grpc_reflection::Error>(())
//! ```
//!
//! # Your own services
//!
//! Have wirestate-codegen write your descriptor set in `build.rs`, beside
//! the code it generates (the set keeps the imports, so it is complete, and
//! the comments, which `grpcurl describe` shows):
//!
//! ```ignore
//! // build.rs
//! let out = std::path::PathBuf::from(std::env::var_os("OUT_DIR").unwrap());
//! wirestate_codegen::compile_protos(
//!     wirestate_codegen::Config::new("::wirestate_rt::grpc")
//!         .server_router(true)
//!         .file_descriptor_set_path(out.join("shop.bin")),
//!     &["proto/shop/v1/cart.proto"],
//!     &["proto"],
//! )?;
//! ```
//!
//! (with `wirestate_codegen::open_protos`, write the compiler's
//! `encode_file_descriptor_set()`),
//! then register it with wirestate's own set (for the health and reflection
//! files) and add the service to your server — on tokio or smol
//! (`wirestate_rt::grpc::Server`, feature `rt`):
//!
//! ```ignore
//! use wirestate_grpc_reflection::{Error, Reflection};
//! use wirestate_rt::grpc::{Runtime, Server};
//!
//! const SHOP: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/shop.bin"));
//!
//! fn server<R: Runtime>(rt: R) -> Result<Server<R>, Error> {
//!     let reflection = Reflection::builder()
//!         .register_file_descriptor_set(wirestate_proto::FILE_DESCRIPTOR_SET)?
//!         .register_file_descriptor_set(SHOP)?
//!         // List what the server serves (all services of the sets otherwise).
//!         .advertise("shop.v1.Cart")
//!         .advertise("grpc.reflection.v1.ServerReflection")
//!         .advertise("grpc.reflection.v1alpha.ServerReflection")
//!         .build()?;
//!     let server = add_cart_server(Server::new(rt), MyCart);
//!     Ok(wirestate_grpc_reflection::rt::add_reflection(server, reflection))
//! }
//! // wirestate_tokio::serve(listener, server(TokioRuntime)?, config, shutdown).await?
//! ```
//!
//! or on threads (`wirestate_blocking::grpc::Server`, feature `blocking`):
//! `wirestate_grpc_reflection::blocking::add_reflection(server, reflection)`.
//! Then `grpcurl -plaintext HOST:PORT list`, `describe shop.v1.Cart` and
//! calls by name work without the `.proto` files.
//!
//! # What is answered
//!
//! As grpc-go's and grpc C++'s reflection services answer:
//!
//! * `list_services`: the advertised services ([`Builder::advertise`]), or,
//!   when none is named, every service of the registered files, sorted;
//! * `file_by_filename`: the file with that name;
//! * `file_containing_symbol`: the file declaring a fully-qualified symbol:
//!   a service (`pkg.Service`), a method (`pkg.Service.Method`), a message
//!   or nested message (`pkg.Outer.Inner`), a field or oneof
//!   (`pkg.Message.field`), an enum, an enum value (scoped like its enum, as
//!   protobuf scopes it: `pkg.Outer.VALUE`), an extension;
//! * `file_containing_extension`: the file declaring the extension of a
//!   message type with a field number;
//! * `all_extension_numbers_of_type`: the extension numbers of a message
//!   type (none for a known type without extensions);
//! * an unknown file, symbol, type or extension gets an `error_response`
//!   with NOT_FOUND, a request with no question INVALID_ARGUMENT, and the
//!   stream goes on in both cases; `host` is not looked at (echoed as
//!   `valid_host`).
//!
//! A file answer holds the file first, then the files it imports,
//! transitively, each once; like grpc-go, a file already sent on the same
//! stream is left out of later answers unless it is the file asked for
//! (clients keep what they received).
//!
//! # Limits
//!
//! Every answer is bounded by what the server registered: a lookup is one
//! hash of a name no longer than the longest registered one (longer names are
//! NOT_FOUND without hashing), and a file answer walks the registered
//! import graph once. No input panics or loops; a malformed descriptor set is
//! an [`Error`] when the index is built.

#![forbid(unsafe_code)]

mod index;

#[cfg(feature = "blocking")]
pub mod blocking;
#[cfg(feature = "rt")]
pub mod rt;

use std::collections::BTreeSet;
use std::sync::Arc;

use index::Index;
use wirestate_proto::grpc::reflection::v1::{
    ErrorResponse, ExtensionNumberResponse, ExtensionRequest, FileDescriptorResponse,
    ListServiceResponse, ServerReflectionRequest, ServerReflectionResponse, ServiceResponse,
    server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
};

/// The gRPC path of the reflection method, package `grpc.reflection.v1`.
pub const V1_PATH: &str = "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo";
/// The gRPC path of the reflection method in the older package
/// `grpc.reflection.v1alpha`, whose messages are the same on the wire.
pub const V1ALPHA_PATH: &str = "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo";

/// gRPC status code NOT_FOUND, as `ErrorResponse.error_code` carries it.
const NOT_FOUND: i32 = 5;
/// gRPC status code INVALID_ARGUMENT.
const INVALID_ARGUMENT: i32 = 3;

/// Why a [`Reflection`] index could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A `FileDescriptorProto` of the set does not decode.
    #[error("a file descriptor does not decode: {0}")]
    Decode(#[from] prost::DecodeError),
    /// The set ends in the middle of a field.
    #[error("the file descriptor set is truncated")]
    Truncated,
    /// The set is not a protobuf message.
    #[error("the file descriptor set is malformed: {0}")]
    Malformed(&'static str),
    /// A file descriptor without a name (reflection finds files by name).
    #[error("a file descriptor has no name")]
    UnnamedFile,
    /// A file imports one that no registered set holds: clients could not
    /// build its descriptors. Build the set with its imports (protox and
    /// `wirestate_codegen::open_protos` include them; protoc needs
    /// `--include_imports`).
    #[error("{file} imports {dependency}, which no registered descriptor set holds")]
    MissingDependency {
        /// The importing file.
        file: String,
        /// The import not found.
        dependency: String,
    },
    /// An advertised service is declared by no registered file.
    #[error("the advertised service {0} is in no registered descriptor set")]
    UnknownService(String),
}

/// Builds a [`Reflection`] index: register descriptor sets, optionally name
/// the services to list, then [`build`](Builder::build).
#[derive(Debug, Default)]
pub struct Builder {
    index: Index,
    advertised: BTreeSet<String>,
}

impl Builder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds every file of an encoded `google.protobuf.FileDescriptorSet`
    /// (as `protoc --descriptor_set_out --include_imports` or protox's
    /// `encode_file_descriptor_set` write it). A file whose name is already
    /// registered is skipped: the first registration wins, so sets sharing
    /// imports can all be added.
    ///
    /// # Errors
    ///
    /// The set or one of its files does not decode, or a file has no name.
    pub fn register_file_descriptor_set(mut self, encoded: &[u8]) -> Result<Self, Error> {
        self.index.add_set(encoded)?;
        Ok(self)
    }

    /// Adds one encoded `google.protobuf.FileDescriptorProto` (skipped if a
    /// file of that name is already registered).
    ///
    /// # Errors
    ///
    /// The file does not decode or has no name.
    pub fn register_encoded_file_descriptor(mut self, encoded: &[u8]) -> Result<Self, Error> {
        self.index.add_file(encoded)?;
        Ok(self)
    }

    /// Lists `service` (fully qualified, `pkg.Service`) in `list_services`
    /// answers. Without any call, every service of the registered files is
    /// listed; name them when the sets declare services the server does not
    /// serve (the interop `test.proto` declares several). Lookups of files
    /// and symbols are not restricted.
    pub fn advertise(mut self, service: impl Into<String>) -> Self {
        self.advertised.insert(service.into());
        self
    }

    /// The index.
    ///
    /// # Errors
    ///
    /// A file imports one that is not registered, or an advertised service
    /// is in no registered file.
    pub fn build(mut self) -> Result<Reflection, Error> {
        self.index.link()?;
        if let Some(unknown) = self
            .advertised
            .iter()
            .find(|s| !self.index.services.contains(*s))
        {
            return Err(Error::UnknownService(unknown.clone()));
        }
        let services = if self.advertised.is_empty() {
            std::mem::take(&mut self.index.services)
        } else {
            self.advertised
        };
        Ok(Reflection {
            inner: Arc::new(Inner {
                index: self.index,
                services: services.into_iter().collect(),
            }),
        })
    }
}

/// A reflection index over registered descriptor sets: cheap to clone
/// (shared), and the source of one [`Session`] per reflection stream.
#[derive(Debug, Clone)]
pub struct Reflection {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    index: Index,
    /// What `list_services` answers, sorted.
    services: Vec<String>,
}

impl Reflection {
    /// A builder.
    pub fn builder() -> Builder {
        Builder::new()
    }

    /// An index of wirestate's own descriptor set
    /// ([`wirestate_proto::FILE_DESCRIPTOR_SET`]: health, echo, the interop
    /// `grpc.testing` files and reflection), listing every service in it.
    pub fn wirestate() -> Self {
        match Builder::new()
            .register_file_descriptor_set(wirestate_proto::FILE_DESCRIPTOR_SET)
            .and_then(Builder::build)
        {
            Ok(reflection) => reflection,
            // The set is generated by wirestate-proto's build script from
            // the files it ships, and the tests build it: it cannot fail.
            Err(e) => unreachable!("wirestate-proto's descriptor set: {e}"),
        }
    }

    /// The services `list_services` answers, sorted.
    pub fn services(&self) -> &[String] {
        &self.inner.services
    }

    /// The names of the registered files, in registration order.
    pub fn files(&self) -> impl Iterator<Item = &str> {
        self.inner.index.files.iter().map(|f| f.name.as_str())
    }

    /// A session for one reflection stream: it remembers which files it
    /// sent, so later answers leave them out.
    pub fn session(&self) -> Session {
        Session {
            inner: self.inner.clone(),
            sent: vec![false; self.inner.index.files.len()],
        }
    }
}

/// The state of one reflection stream: answers its requests in order.
#[derive(Debug)]
pub struct Session {
    inner: Arc<Inner>,
    /// Which files this stream has sent (by index).
    sent: Vec<bool>,
}

impl Session {
    /// The answer to one request of the stream. Never fails: what cannot be
    /// answered is an `error_response` and the stream goes on.
    pub fn answer(&mut self, request: ServerReflectionRequest) -> ServerReflectionResponse {
        let message_response = match &request.message_request {
            Some(MessageRequest::ListServices(_)) => {
                MessageResponse::ListServicesResponse(ListServiceResponse {
                    service: self
                        .inner
                        .services
                        .iter()
                        .map(|name| ServiceResponse { name: name.clone() })
                        .collect(),
                })
            }
            Some(MessageRequest::FileByFilename(name)) => {
                let found = self.find(name, |index| index.by_name.get(name).copied());
                self.files(found, || format!("file {name:?} not found"))
            }
            Some(MessageRequest::FileContainingSymbol(symbol)) => {
                let found = self.find(symbol, |index| index.symbols.get(symbol).copied());
                self.files(found, || format!("symbol {symbol:?} not found"))
            }
            Some(MessageRequest::FileContainingExtension(ExtensionRequest {
                containing_type,
                extension_number,
            })) => {
                let found = self.find(containing_type, |index| {
                    index
                        .extensions
                        .get(containing_type)
                        .and_then(|numbers| numbers.get(extension_number).copied())
                });
                self.files(found, || {
                    format!("extension {extension_number} of {containing_type:?} not found")
                })
            }
            Some(MessageRequest::AllExtensionNumbersOfType(ty)) => {
                let index = &self.inner.index;
                let known = ty.len() <= index.longest_name && index.messages.contains(ty);
                if known {
                    MessageResponse::AllExtensionNumbersResponse(ExtensionNumberResponse {
                        base_type_name: ty.clone(),
                        extension_number: index
                            .extensions
                            .get(ty)
                            .map(|numbers| numbers.keys().copied().collect())
                            .unwrap_or_default(),
                    })
                } else {
                    error(NOT_FOUND, format!("type {ty:?} not found"))
                }
            }
            None => error(INVALID_ARGUMENT, "the request asks nothing".into()),
        };
        ServerReflectionResponse {
            valid_host: request.host.clone(),
            original_request: Some(request),
            message_response: Some(message_response),
        }
    }

    /// Looks `name` up, unless it is longer than any registered name.
    fn find(&self, name: &str, lookup: impl FnOnce(&Index) -> Option<usize>) -> Option<usize> {
        let index = &self.inner.index;
        if name.len() > index.longest_name {
            return None;
        }
        lookup(index)
    }

    /// The file `found` and its imports, transitively (breadth first, as
    /// grpc-go sends them), each once and leaving out the imports this
    /// stream already sent; or NOT_FOUND.
    fn files(&mut self, found: Option<usize>, missing: impl FnOnce() -> String) -> MessageResponse {
        let Some(first) = found else {
            return error(NOT_FOUND, missing());
        };
        let files = &self.inner.index.files;
        let mut seen = vec![false; files.len()];
        let mut queue = std::collections::VecDeque::from([first]);
        seen[first] = true;
        let mut out = Vec::new();
        while let Some(i) = queue.pop_front() {
            if i == first || !self.sent[i] {
                out.push(files[i].encoded.clone());
                self.sent[i] = true;
            }
            for &d in &files[i].deps {
                if !seen[d] {
                    seen[d] = true;
                    queue.push_back(d);
                }
            }
        }
        MessageResponse::FileDescriptorResponse(FileDescriptorResponse {
            file_descriptor_proto: out,
        })
    }
}

fn error(code: i32, message: String) -> MessageResponse {
    MessageResponse::ErrorResponse(ErrorResponse {
        error_code: code,
        error_message: message,
    })
}
