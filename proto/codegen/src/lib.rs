//! Build-time code generation for gRPC services on wirestate: a
//! [`prost_build::ServiceGenerator`] that turns every `service` of a `.proto`
//! file into method descriptor tables and, on request, a runtime-agnostic
//! server trait and a typed client stub, next to the message types prost
//! generates.
//!
//! Use it from a `build.rs` (this crate is a build dependency only):
//!
//! ```no_run
//! // build.rs
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     wirestate_codegen::compile_protos(
//!         wirestate_codegen::Config::descriptors_only(),
//!         &["proto/shop/v1/shop.proto"],
//!         &["proto"],
//!     )
//! }
//! ```
//!
//! and include the output in the crate, one module per protobuf package
//! (prost names the file after the package):
//!
//! ```ignore
//! pub mod shop {
//!     include!(concat!(env!("OUT_DIR"), "/shop.v1.rs"));
//! }
//! let kind = shop::CartMethod::from_path("/shop.v1.Cart/Checkout").unwrap().kind();
//! ```
//!
//! [`compile_protos`] parses the files with [`protox`] (a `.proto` compiler
//! written in Rust, so no system `protoc` is needed) and generates with
//! `prost-build`. To customise prost further (extern paths, attributes,
//! another parser), take [`Config::into_prost_build`] and call
//! `compile_fds` or `compile_protos` on it yourself; [`open_protos`]
//! parses with a resolver of your own (e.g. [`PrefixResolver`] for files
//! imported by a path they do not have on disk, as gRPC's interop
//! `test.proto` does).
//!
//! # What is generated today
//!
//! For a service `Echo` in package `wirestate.echo.v1` with a method
//! `rpc EchoStream(EchoRequest) returns (stream EchoResponse)`:
//!
//! * **A method enum** `EchoMethod`, one variant per method
//!   (`EchoMethod::EchoStream`), with `path()`
//!   (`"/wirestate.echo.v1.Echo/EchoStream"`), `name()` (`"EchoStream"`),
//!   `kind()` (a `MethodKind`: unary, server streaming, client streaming or
//!   bidirectional), `from_path(&str) -> Option<EchoMethod>` for routing,
//!   `EchoMethod::ALL` (every method in declaration order) and
//!   `EchoMethod::SERVICE` (`"wirestate.echo.v1.Echo"`).
//! * **Typed method descriptors**, one associated constant per method on the
//!   enum, named after the method in upper snake case:
//!   `EchoMethod::ECHO_STREAM: MethodDescriptor<EchoRequest, EchoResponse>`.
//!   They carry the path and kind, and the request and response types in
//!   their type, which is what a typed client call needs.
//!
//! `MethodKind` and `MethodDescriptor` are taken from
//! [`Config::descriptor_path`], `::wirestate_proto` by default, so crates
//! using the generated code depend on `wirestate-proto` (which holds the two
//! types and the standard gRPC messages).
//!
//! # What is generated on request
//!
//! With [`Config::new`] (or [`Config::server_traits`]) each service also
//! gets **a server trait** `EchoServer`, one `async` method per RPC, written
//! against five names the gRPC runtime layer is to provide under
//! [`Config::runtime_path`] (e.g. `::wirestate_grpc`):
//!
//! | name               | role                                                          |
//! | ------------------ | ------------------------------------------------------------- |
//! | `Status`           | the error a handler returns (gRPC status code and message)    |
//! | `Request<T>`       | an incoming message (or stream) with its metadata             |
//! | `Response<T>`      | an outgoing message with its metadata                         |
//! | `Streaming<T>`     | the incoming message stream of client- and bidi-streaming calls |
//! | `ResponseSink<T>`  | where server- and bidi-streaming handlers send their messages |
//!
//! | call kind        | generated method                                                                                  |
//! | ---------------- | ------------------------------------------------------------------------------------------------- |
//! | unary            | `fn echo(&self, request: Request<EchoRequest>) -> impl Future<Output = Result<Response<EchoResponse>, Status>> + Send` |
//! | server streaming | `fn echo_stream(&self, request: Request<EchoRequest>, responses: ResponseSink<EchoResponse>) -> impl Future<Output = Result<(), Status>> + Send` |
//! | client streaming | `fn echo_collect(&self, requests: Request<Streaming<EchoRequest>>) -> impl Future<Output = Result<Response<EchoResponse>, Status>> + Send` |
//! | bidirectional    | `fn echo_bidi(&self, requests: Request<Streaming<EchoRequest>>, responses: ResponseSink<EchoResponse>) -> impl Future<Output = Result<(), Status>> + Send` |
//!
//! The trait names no executor and no I/O type, so any runtime the gRPC
//! layer drives can serve it. `wirestate_rt::grpc` provides the five names
//! (use `Config::new("::wirestate_rt::grpc")`). The trait is off in
//! [`Config::descriptors_only`] (what `wirestate-proto` itself uses: it does
//! not depend on the runtime); the trait code is also compiled and
//! exercised against a stand-in runtime in `wirestate-proto`'s tests.
//!
//! With [`Config::server_router`] each service also gets
//! `add_echo_server(server, service)`, which routes every method of an
//! `EchoServer` implementation on a `wirestate_rt::grpc::Server` (see
//! `examples/build.rs` and `examples/src/grpc.rs`, where the Echo and
//! Health services of `wirestate serve` are served this way). With
//! [`Config::blocking`] the traits and routers are written for
//! `wirestate_blocking::grpc` instead: plain functions, server- and
//! bidi-streaming responses returned as iterators
//! (`examples/src/grpc_blocking.rs` serves Echo and Health so).
//!
//! # Typed client stubs
//!
//! With [`Config::new`] (or [`Config::client_stubs`]) each service also
//! gets **a client** `EchoClient`: the runtime's `Channel` and default
//! `CallOptions` (`new(channel)`, then `with_options`, `with_timeout`,
//! `with_metadata`, `with_compression`; `channel()` for calls the stub does
//! not offer), one method per RPC. Each call takes the client's options,
//! adds the `Request`'s metadata (replacing the client's values of the same
//! keys) and, when the request carries a deadline earlier than the
//! client's timeout, uses it. For `wirestate_rt::grpc` (`EchoClient<R>`,
//! async) and, with [`Config::blocking`], `wirestate_blocking::grpc`
//! (`EchoClient`, blocking):
//!
//! | call kind        | async (`wirestate_rt::grpc`)                                                                 | blocking (`wirestate_blocking::grpc`)                              |
//! | ---------------- | -------------------------------------------------------------------------------------------- | ------------------------------------------------------------------ |
//! | unary            | `async fn echo(&self, Request<EchoRequest>) -> Result<Response<EchoResponse>, Status>`        | `fn echo(&self, Request<EchoRequest>) -> Result<Response<EchoResponse>, Status>` |
//! | server streaming | `async fn echo_stream(&self, Request<EchoRequest>) -> Result<(Metadata, Streaming<EchoResponse>), Status>` | the same, not `async` (`Streaming` is an iterator)         |
//! | client streaming | `async fn echo_collect(&self, Request<impl IntoIterator<Item = EchoRequest>>) -> Result<Response<EchoResponse>, Status>`, and `fn start_echo_collect(&self) -> ClientStreamingCall<R, EchoRequest, EchoResponse>` to send one by one | the same, not `async`; `start_echo_collect` returns `Result<ClientStreamingCall<EchoRequest, EchoResponse>, Status>` |
//! | bidirectional    | `fn echo_bidi(&self) -> StreamingCall<R, EchoRequest, EchoResponse>` (`send`, `close_send`, `message`, `metadata`, `trailers`; `split` to send and receive from two tasks) | `fn echo_bidi(&self) -> Result<StreamingCall<EchoRequest, EchoResponse>, Status>` (and `split` for two threads) |
//!
//! A method named like one of the stub's own (`new`, `channel`, …) or like a
//! method of a trait it derives (`clone`, `fmt`) gets `_rpc` appended. The
//! examples call Echo, Health and the interop
//! `grpc.testing.TestService` through `EchoClient`, `HealthClient` and
//! `TestServiceClient` (`examples/src/grpc.rs`, `grpc_blocking.rs`, and the
//! interop client `examples/examples/interop_client.rs`); the stubs are
//! exercised against `wirestate serve` on tokio, smol and blocking in
//! `tests/tests/grpc.rs` and `tests/tests/grpc_blocking.rs`.

use std::collections::HashSet;
use std::fmt::Write as _;
use std::path::Path;

use prost_build::{Method, Service};

/// What to generate, and where the generated code finds its support types.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    runtime_path: String,
    descriptor_path: String,
    server_traits: bool,
    server_router: bool,
    client_stubs: bool,
    blocking: bool,
    file_descriptor_set_path: Option<std::path::PathBuf>,
    out_dir: Option<std::path::PathBuf>,
}

/// The default [`Config::descriptor_path`].
pub const DEFAULT_DESCRIPTOR_PATH: &str = "::wirestate_proto";

/// The default [`Config::runtime_path`] of [`Config::descriptors_only`]: the
/// wirestate gRPC crate.
pub const DEFAULT_RUNTIME_PATH: &str = "::wirestate_grpc";

impl Config {
    /// Descriptor tables, server traits and client stubs, the traits and
    /// stubs written against the runtime types under `runtime_path` (a Rust
    /// path such as `"::wirestate_rt::grpc"`, without a trailing `::`).
    pub fn new(runtime_path: impl Into<String>) -> Self {
        Config {
            runtime_path: trim_path(runtime_path.into()),
            descriptor_path: DEFAULT_DESCRIPTOR_PATH.to_owned(),
            server_traits: true,
            server_router: false,
            client_stubs: true,
            blocking: false,
            file_descriptor_set_path: None,
            out_dir: None,
        }
    }

    /// Descriptor tables only (no server traits, no client stubs): code
    /// that compiles without any gRPC runtime crate.
    pub fn descriptors_only() -> Self {
        Config {
            server_traits: false,
            client_stubs: false,
            ..Config::new(DEFAULT_RUNTIME_PATH)
        }
    }

    /// Sets the runtime path the server traits refer to.
    pub fn runtime_path(mut self, path: impl Into<String>) -> Self {
        self.runtime_path = trim_path(path.into());
        self
    }

    /// Sets where `MethodKind` and `MethodDescriptor` are found
    /// (`"::wirestate_proto"` by default; `"crate"` inside wirestate-proto).
    pub fn descriptor_path(mut self, path: impl Into<String>) -> Self {
        self.descriptor_path = trim_path(path.into());
        self
    }

    /// Turns the server traits on or off.
    pub fn server_traits(mut self, yes: bool) -> Self {
        self.server_traits = yes;
        self
    }

    /// Also generates, next to each server trait, `add_{service}_server`:
    /// a function that routes every method of an implementation of the
    /// trait on the runtime's gRPC server (off by default). It uses two
    /// more names under the runtime path: `Server<R>` (with `unary`,
    /// `server_streaming`, `client_streaming` and `bidi_streaming`, each
    /// taking the method path and a closure, as `wirestate_rt::grpc::Server`
    /// has them) and the `Runtime` trait `R` is bound by. Implies server
    /// traits.
    pub fn server_router(mut self, yes: bool) -> Self {
        self.server_router = yes;
        if yes {
            self.server_traits = true;
        }
        self
    }

    /// Turns the typed client stubs (`{Service}Client`) on or off: on with
    /// [`Config::new`], off with [`Config::descriptors_only`]. A stub wraps
    /// the runtime's `Channel` and uses these names under the runtime path
    /// besides the server trait's: `Channel` (with `unary`,
    /// `server_streaming`, `client_streaming` and `streaming`, as
    /// `wirestate_rt::grpc::Channel` and `wirestate_blocking::grpc::Channel`
    /// have them), `CallOptions` (`wirestate_grpc::CallOptions`, whose
    /// `for_request` joins a request's metadata and deadline to the
    /// client's), `Metadata`, `Encoding`, `StreamingCall`,
    /// `ClientStreamingCall`, and for an async runtime `Runtime`.
    pub fn client_stubs(mut self, yes: bool) -> Self {
        self.client_stubs = yes;
        self
    }

    /// Whether typed client stubs are generated.
    pub fn has_client_stubs(&self) -> bool {
        self.client_stubs
    }

    /// Generates the server traits (and routers) for a blocking runtime
    /// (`wirestate_blocking::grpc`) instead of an async one: methods are
    /// plain functions; a server- or bidi-streaming method returns its
    /// responses as `{rt}::Response<{rt}::Responses<Out>>` (a boxed
    /// iterator of `Result<Out, {rt}::Status>`, pulled as the connection
    /// sends them) instead of taking a sink; the router takes and returns
    /// a `{rt}::Server` with no runtime parameter; the client stubs make
    /// blocking calls. Off by default.
    pub fn blocking(mut self, yes: bool) -> Self {
        self.blocking = yes;
        self
    }

    /// Makes [`compile_protos`] also write the encoded
    /// `google.protobuf.FileDescriptorSet` of the compiled files and
    /// everything they import, with their comments (source info), to
    /// `path` (e.g. `OUT_DIR/shop.bin`, then `include_bytes!` it): what
    /// server reflection (`wirestate-grpc-reflection`'s
    /// `register_file_descriptor_set`) and dynamic clients need. Off by
    /// default; with [`open_protos`], take `encode_file_descriptor_set()`
    /// of the compiler instead.
    pub fn file_descriptor_set_path(mut self, path: impl Into<std::path::PathBuf>) -> Self {
        self.file_descriptor_set_path = Some(path.into());
        self
    }

    /// Makes [`compile_protos`] (and [`Config::into_prost_build`]) write
    /// the generated files to `dir` instead of `OUT_DIR`: a crate that
    /// generates the async and the blocking code of the same `.proto`
    /// files needs two directories, the files having the same names
    /// (`OUT_DIR/blocking`, which [`compile_protos`] creates, then
    /// `include!(concat!(env!("OUT_DIR"), "/blocking/shop.v1.rs"))`).
    pub fn out_dir(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        self.out_dir = Some(dir.into());
        self
    }

    /// Where [`compile_protos`] writes the encoded descriptor set, if
    /// anywhere.
    pub fn get_file_descriptor_set_path(&self) -> Option<&Path> {
        self.file_descriptor_set_path.as_deref()
    }

    /// Whether the traits are generated for a blocking runtime.
    pub fn is_blocking(&self) -> bool {
        self.blocking
    }

    /// Whether `add_{service}_server` functions are generated.
    pub fn has_server_router(&self) -> bool {
        self.server_router
    }

    /// The runtime path the server traits refer to.
    pub fn get_runtime_path(&self) -> &str {
        &self.runtime_path
    }

    /// Where `MethodKind` and `MethodDescriptor` are found.
    pub fn get_descriptor_path(&self) -> &str {
        &self.descriptor_path
    }

    /// Whether server traits are generated.
    pub fn has_server_traits(&self) -> bool {
        self.server_traits
    }

    /// This configuration as a boxed [`prost_build::ServiceGenerator`].
    pub fn service_generator(self) -> Box<dyn prost_build::ServiceGenerator> {
        Box::new(Generator::new(self))
    }

    /// A `prost_build::Config` with this service generator installed, for
    /// further settings before `compile_fds` / `compile_protos`.
    pub fn into_prost_build(self) -> prost_build::Config {
        let mut config = prost_build::Config::new();
        if let Some(dir) = &self.out_dir {
            config.out_dir(dir);
        }
        config.service_generator(self.service_generator());
        config
    }
}

fn trim_path(path: String) -> String {
    path.trim().trim_end_matches("::").to_owned()
}

/// The [`prost_build::ServiceGenerator`]: appends [`generate_service`]'s
/// output for every service to the module of its package.
#[derive(Clone, Debug)]
pub struct Generator {
    config: Config,
}

impl Generator {
    /// A generator with the given configuration.
    pub fn new(config: Config) -> Self {
        Generator { config }
    }
}

impl prost_build::ServiceGenerator for Generator {
    fn generate(&mut self, service: Service, buf: &mut String) {
        buf.push_str(&generate_service(&self.config, &service));
    }
}

/// Parses `protos` with [`protox`] (imports searched in `includes`, in
/// order; the `google/protobuf/*.proto` well-known files are built in) and
/// writes the prost messages plus the service code of `config` into
/// `OUT_DIR`, one `package.name.rs` file per protobuf package. Prints
/// `cargo:rerun-if-changed` for every file read.
///
/// # Errors
///
/// A file that cannot be found or read, a parse or type error in the
/// `.proto` files, or a failure to write the output.
pub fn compile_protos(
    config: Config,
    protos: &[impl AsRef<Path>],
    includes: &[impl AsRef<Path>],
) -> Result<(), Box<dyn std::error::Error>> {
    compile_protos_into(config, protos, includes, None)
}

/// Parses `protos` with [`protox`], imports found by `resolver` (e.g. a
/// [`PrefixResolver`] chained before an include directory) and then, as
/// with [`compile_protos`], among the built-in `google/protobuf/*.proto`
/// well-known files, keeping the source info (the `.proto` comments become
/// doc comments) and the imported files; prints `cargo:rerun-if-changed`
/// for every file read.
/// Take `file_descriptor_set()` of the result for
/// [`Config::into_prost_build`]'s `compile_fds`.
///
/// # Errors
///
/// A file that cannot be found or read, or a parse or type error.
pub fn open_protos(
    resolver: impl protox::file::FileResolver + 'static,
    protos: &[impl AsRef<str>],
) -> Result<protox::Compiler, protox::Error> {
    // The well-known types last, so a resolver of the caller's that has its
    // own copies wins: without them, a file importing
    // `google/protobuf/timestamp.proto` was "not found" here while
    // `compile_protos` (protox's `Compiler::new`) finds it.
    let mut chain = protox::file::ChainFileResolver::new();
    chain.add(resolver);
    chain.add(protox::file::GoogleFileResolver::new());
    let mut compiler = protox::Compiler::with_file_resolver(chain);
    compiler.include_source_info(true).include_imports(true);
    compiler.open_files(protos.iter().map(AsRef::as_ref))?;
    for file in compiler.files() {
        if let Some(path) = file.path() {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
    Ok(compiler)
}

/// [`compile_protos`] writing into `out_dir` (`OUT_DIR` when `None`).
fn compile_protos_into(
    config: Config,
    protos: &[impl AsRef<Path>],
    includes: &[impl AsRef<Path>],
    out_dir: Option<&Path>,
) -> Result<(), Box<dyn std::error::Error>> {
    let mut compiler = protox::Compiler::new(includes)?;
    compiler.include_source_info(true).include_imports(true);
    compiler.open_files(protos)?;
    for file in compiler.files() {
        if let Some(path) = file.path() {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
    if let Some(path) = config.get_file_descriptor_set_path() {
        std::fs::write(path, compiler.encode_file_descriptor_set())
            .map_err(|e| format!("writing {}: {e}", path.display()))?;
    }
    // An explicit directory (the tests') over the config's; created if
    // missing (prost-build does not), as a second set under OUT_DIR is.
    let dir = out_dir
        .map(Path::to_path_buf)
        .or_else(|| config.out_dir.clone());
    let mut prost = config.into_prost_build();
    if let Some(dir) = dir {
        std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        prost.out_dir(dir);
    }
    prost.compile_fds(compiler.file_descriptor_set())?;
    Ok(())
}

/// A [`protox`] file resolver for imports written with a directory prefix
/// the files do not have on disk: with prefix `src/proto/grpc/testing/`
/// and directory `proto/grpc/testing`, the import
/// `src/proto/grpc/testing/empty.proto` opens `proto/grpc/testing/empty.proto`
/// (how gRPC's interop `test.proto` imports its siblings, by their path in
/// the gRPC repository). Names without the prefix are not found, so chain
/// it before an [`IncludeFileResolver`](protox::file::IncludeFileResolver)
/// in a [`ChainFileResolver`](protox::file::ChainFileResolver).
#[derive(Clone, Debug)]
pub struct PrefixResolver {
    prefix: String,
    dir: std::path::PathBuf,
}

impl PrefixResolver {
    /// Imports starting with `prefix` are looked up under `dir`, the
    /// prefix removed.
    pub fn new(prefix: impl Into<String>, dir: impl Into<std::path::PathBuf>) -> Self {
        PrefixResolver {
            prefix: prefix.into(),
            dir: dir.into(),
        }
    }
}

impl protox::file::FileResolver for PrefixResolver {
    fn open_file(&self, name: &str) -> Result<protox::file::File, protox::Error> {
        match name.strip_prefix(&self.prefix) {
            Some(rest) => protox::file::File::open(name, &self.dir.join(rest)),
            None => Err(protox::Error::file_not_found(name)),
        }
    }
}

/// How a method streams: the four gRPC call kinds.
fn kind_variant(method: &Method) -> &'static str {
    match (method.client_streaming, method.server_streaming) {
        (false, false) => "Unary",
        (false, true) => "ServerStreaming",
        (true, false) => "ClientStreaming",
        (true, true) => "BidiStreaming",
    }
}

fn kind_words(method: &Method) -> &'static str {
    match (method.client_streaming, method.server_streaming) {
        (false, false) => "unary",
        (false, true) => "server streaming",
        (true, false) => "client streaming",
        (true, true) => "bidirectional streaming",
    }
}

/// `echo_stream` → `EchoStream` (prost's method names are snake case,
/// possibly raw identifiers).
fn upper_camel(snake: &str) -> String {
    let mut out = String::with_capacity(snake.len());
    for part in snake.trim_start_matches("r#").split('_') {
        let mut chars = part.chars();
        if let Some(first) = chars.next() {
            out.extend(first.to_uppercase());
            out.push_str(chars.as_str());
        }
    }
    if out == "Self" {
        out.push('_');
    }
    out
}

/// `echo_stream` → `ECHO_STREAM`.
fn upper_snake(snake: &str) -> String {
    snake.trim_start_matches("r#").to_uppercase()
}

/// The gRPC path of a method: `/package.Service/Method`.
fn method_path(service: &Service, method: &Method) -> String {
    format!("/{}/{}", full_service_name(service), method.proto_name)
}

fn full_service_name(service: &Service) -> String {
    if service.package.is_empty() {
        service.proto_name.clone()
    } else {
        format!("{}.{}", service.package, service.proto_name)
    }
}

/// The code generated for one service under `config`: the method enum with
/// its typed descriptors, and the server trait if enabled. What is emitted
/// is described in the [crate docs](crate).
pub fn generate_service(config: &Config, service: &Service) -> String {
    let mut service = service.clone();
    for method in &mut service.methods {
        method.input_type = unshadow(&method.input_type);
        method.output_type = unshadow(&method.output_type);
    }
    let service = &service;
    let mut buf = String::new();
    generate_method_enum(config, service, &mut buf);
    if config.server_traits {
        generate_server_trait(config, service, &mut buf);
    }
    if config.server_router {
        generate_server_router(config, service, &mut buf);
    }
    if config.client_stubs {
        generate_client(config, service, &mut buf);
    }
    buf
}

/// The generic parameters the generated code declares: the runtime `R`
/// (routers, async stubs), the service `S` (routers) and the request
/// iterator `I` (client-streaming stubs).
const GENERIC_PARAMS: [&str; 3] = ["R", "S", "I"];

/// A message type as the generated code names it: one whose path starts
/// with a name the generated code declares as a generic parameter (a
/// message `R` or `S`, or a type nested in one) gets `self::`, which names
/// the module's item, not the parameter — without it, `Request<R>` in
/// `add_x_server<S, R>` meant the runtime.
fn unshadow(ty: &str) -> String {
    match ty.split("::").next() {
        Some(first) if GENERIC_PARAMS.contains(&first) => format!("self::{ty}"),
        _ => ty.to_owned(),
    }
}

/// `EchoV2` → `echo_v2`.
fn snake(camel: &str) -> String {
    let mut out = String::new();
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

fn generate_server_router(config: &Config, service: &Service, buf: &mut String) {
    if config.blocking {
        return generate_blocking_router(config, service, buf);
    }
    let rt = &config.runtime_path;
    let name = &service.name;
    let _ = writeln!(
        buf,
        "/// Routes every method of `service` (a [`{name}Server`]) on `server`.\npub fn add_{}_server<S: {name}Server, R: {rt}::Runtime>(server: {rt}::Server<R>, service: S) -> {rt}::Server<R> {{",
        snake(name)
    );
    // The trait method is called by its full path: `service` is an `Arc`,
    // and `service.clone(request)` for an RPC named `Clone` would find
    // `Arc::clone` first (as would any method `Arc` or `Deref` have).
    // A service with no methods routes nothing: `service` is dropped.
    buf.push_str(if service.methods.is_empty() {
        "    drop(service);\n    server\n"
    } else {
        "    let service = ::std::sync::Arc::new(service);\n    server\n"
    });
    for method in &service.methods {
        let path = method_path(service, method);
        let input = &method.input_type;
        let output = &method.output_type;
        let one = format!("request: {rt}::Request<{input}>");
        let many = format!("requests: {rt}::Request<{rt}::Streaming<{input}>>");
        let sink = format!("responses: {rt}::ResponseSink<{output}>");
        let (route, args, call) = match (method.client_streaming, method.server_streaming) {
            (false, false) => ("unary", one, "request"),
            (false, true) => (
                "server_streaming",
                format!("{one}, {sink}"),
                "request, responses",
            ),
            (true, false) => ("client_streaming", many, "requests"),
            (true, true) => (
                "bidi_streaming",
                format!("{many}, {sink}"),
                "requests, responses",
            ),
        };
        let _ = writeln!(
            buf,
            "        .{route}(\"{path}\", {{\n            let service = service.clone();\n            move |{args}| {{\n                let service = service.clone();\n                async move {{ <S as {name}Server>::{}(&service, {call}).await }}\n            }}\n        }})",
            method.name
        );
    }
    buf.push_str("}\n\n");
}

/// The router of a blocking server trait: each method's closure calls the
/// trait method on the shared service.
fn generate_blocking_router(config: &Config, service: &Service, buf: &mut String) {
    let rt = &config.runtime_path;
    let name = &service.name;
    let _ = writeln!(
        buf,
        "/// Routes every method of `service` (a [`{name}Server`]) on `server`.\npub fn add_{}_server<S: {name}Server>(server: {rt}::Server, service: S) -> {rt}::Server {{",
        snake(name)
    );
    // A service with no methods routes nothing: `service` is dropped.
    buf.push_str(if service.methods.is_empty() {
        "    drop(service);\n    server\n"
    } else {
        "    let service = ::std::sync::Arc::new(service);\n    server\n"
    });
    for method in &service.methods {
        let path = method_path(service, method);
        let input = &method.input_type;
        let route = match (method.client_streaming, method.server_streaming) {
            (false, false) => "unary",
            (false, true) => "server_streaming",
            (true, false) => "client_streaming",
            (true, true) => "bidi_streaming",
        };
        let request = if method.client_streaming {
            format!("{rt}::Request<{rt}::Streaming<{input}>>")
        } else {
            format!("{rt}::Request<{input}>")
        };
        let _ = writeln!(
            buf,
            "        .{route}(\"{path}\", {{\n            let service = service.clone();\n            move |request: {request}| <S as {name}Server>::{}(&service, request)\n        }})",
            method.name
        );
    }
    buf.push_str("}\n\n");
}

fn generate_method_enum(config: &Config, service: &Service, buf: &mut String) {
    let dp = &config.descriptor_path;
    let full = full_service_name(service);
    let enum_name = format!("{}Method", service.name);
    let variants: Vec<String> = service
        .methods
        .iter()
        .map(|m| upper_camel(&m.name))
        .collect();
    // Constant names, kept clear of the fixed ones.
    let mut taken: HashSet<String> = ["SERVICE", "ALL"].map(str::to_owned).into();
    let consts: Vec<String> = service
        .methods
        .iter()
        .map(|m| {
            let mut name = upper_snake(&m.name);
            while !taken.insert(name.clone()) {
                name.push_str("_METHOD");
            }
            name
        })
        .collect();

    let _ = writeln!(buf, "/// The methods of the `{full}` service.");
    if !service.comments.leading.is_empty() || !service.comments.trailing.is_empty() {
        buf.push_str("///\n");
        service.comments.append_with_indent(0, buf);
    }
    // Variants are the proto method names, shared suffixes and all.
    buf.push_str("#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]\n#[allow(clippy::enum_variant_names)]\n");
    let _ = writeln!(buf, "pub enum {enum_name} {{");
    for (method, variant) in service.methods.iter().zip(&variants) {
        let _ = writeln!(
            buf,
            "    /// `{}`, {}.",
            method_path(service, method),
            kind_words(method)
        );
        if !method.comments.leading.is_empty() || !method.comments.trailing.is_empty() {
            buf.push_str("    ///\n");
            method.comments.append_with_indent(1, buf);
        }
        let _ = writeln!(buf, "    {variant},");
    }
    buf.push_str("}\n\n");

    let _ = writeln!(buf, "impl {enum_name} {{");
    let _ = writeln!(
        buf,
        "    /// The fully qualified service name, `{full}`.\n    pub const SERVICE: &'static str = \"{full}\";"
    );
    let _ = writeln!(
        buf,
        "    /// Every method, in declaration order.\n    pub const ALL: &'static [Self] = &[{}];",
        variants
            .iter()
            .map(|v| format!("Self::{v}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    for (method, name) in service.methods.iter().zip(&consts) {
        let path = method_path(service, method);
        let _ = writeln!(
            buf,
            "    /// The typed descriptor of `{path}` ({}).\n    pub const {name}: {dp}::MethodDescriptor<{}, {}> = {dp}::MethodDescriptor::new(\"{path}\", {dp}::MethodKind::{});",
            kind_words(method),
            method.input_type,
            method.output_type,
            kind_variant(method),
        );
    }

    buf.push_str(
        "    /// The method's gRPC path, `/package.Service/Method`.\n    pub const fn path(self) -> &'static str {\n        match self {\n",
    );
    for (method, variant) in service.methods.iter().zip(&variants) {
        let _ = writeln!(
            buf,
            "            Self::{variant} => \"{}\",",
            method_path(service, method)
        );
    }
    buf.push_str("        }\n    }\n");

    buf.push_str(
        "    /// The method's name as written in the `.proto` file.\n    pub const fn name(self) -> &'static str {\n        match self {\n",
    );
    for (method, variant) in service.methods.iter().zip(&variants) {
        let _ = writeln!(
            buf,
            "            Self::{variant} => \"{}\",",
            method.proto_name
        );
    }
    buf.push_str("        }\n    }\n");

    let _ = writeln!(
        buf,
        "    /// How the method streams.\n    pub const fn kind(self) -> {dp}::MethodKind {{\n        match self {{"
    );
    for (method, variant) in service.methods.iter().zip(&variants) {
        let _ = writeln!(
            buf,
            "            Self::{variant} => {dp}::MethodKind::{},",
            kind_variant(method)
        );
    }
    buf.push_str("        }\n    }\n");

    buf.push_str(
        "    /// The method with this gRPC path, if the service has it.\n    pub fn from_path(path: &str) -> ::core::option::Option<Self> {\n        match path {\n",
    );
    for (method, variant) in service.methods.iter().zip(&variants) {
        let _ = writeln!(
            buf,
            "            \"{}\" => ::core::option::Option::Some(Self::{variant}),",
            method_path(service, method)
        );
    }
    buf.push_str("            _ => ::core::option::Option::None,\n        }\n    }\n}\n\n");
}

fn generate_server_trait(config: &Config, service: &Service, buf: &mut String) {
    let rt = &config.runtime_path;
    let full = full_service_name(service);
    let _ = writeln!(
        buf,
        "/// The server side of the `{full}` service: one method per RPC, for any runtime.\n///\n/// Implement it and hand it to the gRPC server of the runtime (`{rt}`)."
    );
    if !service.comments.leading.is_empty() || !service.comments.trailing.is_empty() {
        buf.push_str("///\n");
        service.comments.append_with_indent(0, buf);
    }
    let _ = writeln!(
        buf,
        "pub trait {}Server: ::core::marker::Send + ::core::marker::Sync + 'static {{",
        service.name
    );
    for method in &service.methods {
        let _ = writeln!(
            buf,
            "    /// `{}`, {}.",
            method_path(service, method),
            kind_words(method)
        );
        if !method.comments.leading.is_empty() || !method.comments.trailing.is_empty() {
            buf.push_str("    ///\n");
            method.comments.append_with_indent(1, buf);
        }
        let input = &method.input_type;
        let output = &method.output_type;
        let request = if method.client_streaming {
            format!("requests: {rt}::Request<{rt}::Streaming<{input}>>")
        } else {
            format!("request: {rt}::Request<{input}>")
        };
        if config.blocking {
            let ok = if method.server_streaming {
                format!("{rt}::Response<{rt}::Responses<{output}>>")
            } else {
                format!("{rt}::Response<{output}>")
            };
            let _ = writeln!(
                buf,
                "    fn {}(&self, {request}) -> ::core::result::Result<{ok}, {rt}::Status>;",
                method.name
            );
            continue;
        }
        let (sink, ok) = if method.server_streaming {
            (
                format!(", responses: {rt}::ResponseSink<{output}>"),
                "()".to_owned(),
            )
        } else {
            (String::new(), format!("{rt}::Response<{output}>"))
        };
        let _ = writeln!(
            buf,
            "    fn {}(&self, {request}{sink}) -> impl ::core::future::Future<Output = ::core::result::Result<{ok}, {rt}::Status>> + ::core::marker::Send;",
            method.name
        );
    }
    buf.push_str("}\n\n");
}

/// The helper names a client stub defines itself, and the methods of the
/// traits it derives (an inherent `clone(&self, request)` would shadow
/// `Clone::clone`, so `client.clone()` would no longer compile); an RPC
/// whose method name is one of these gets `_rpc` appended.
const CLIENT_HELPERS: [&str; 12] = [
    "clone",
    "clone_from",
    "fmt",
    "new",
    "with_options",
    "with_timeout",
    "with_metadata",
    "with_compression",
    "options",
    "channel",
    "into_channel",
    "call_options",
];

/// The stub's method name for each RPC, and for client-streaming ones the
/// name of the method that starts the call by hand (`start_{name}`), all
/// kept clear of the helpers and of each other.
fn client_method_names(service: &Service) -> Vec<(String, String)> {
    let mut taken: HashSet<String> = CLIENT_HELPERS.map(str::to_owned).into();
    let mut fresh = |mut name: String| {
        while !taken.insert(name.clone()) {
            name.push_str("_rpc");
        }
        name
    };
    let names: Vec<String> = service
        .methods
        .iter()
        .map(|m| fresh(m.name.clone()))
        .collect();
    names
        .into_iter()
        .zip(&service.methods)
        .map(|(name, method)| {
            let start = if method.client_streaming && !method.server_streaming {
                fresh(format!("start_{}", name.trim_start_matches("r#")))
            } else {
                String::new()
            };
            (name, start)
        })
        .collect()
}

/// The typed client stub of a service: a struct over the runtime's
/// `Channel` with default call options, and one method per RPC.
fn generate_client(config: &Config, service: &Service, buf: &mut String) {
    let rt = &config.runtime_path;
    let full = full_service_name(service);
    let name = &service.name;
    let blocking = config.blocking;
    let (generics, bound, channel, now, maybe_await, asyncness) = if blocking {
        (
            "",
            String::new(),
            format!("{rt}::Channel"),
            "::std::time::Instant::now()".to_owned(),
            "",
            "",
        )
    } else {
        (
            "<R>",
            format!("<R: {rt}::Runtime>"),
            format!("{rt}::Channel<R>"),
            format!("{rt}::Runtime::now(self.channel.runtime())"),
            ".await",
            "async ",
        )
    };
    let result = |ok: &str| format!("::core::result::Result<{ok}, {rt}::Status>");
    let _ = writeln!(
        buf,
        "/// A typed client of the `{full}` service: one {}method per RPC, over a [`{channel}`].\n///\n/// Every call takes the client's [`{rt}::CallOptions`] (set with\n/// [`with_options`]({name}Client::with_options) and the `with_*` helpers),\n/// with the metadata of its `Request` added and its deadline, if any, as the\n/// timeout when it is earlier.",
        if blocking { "blocking " } else { "`async` " }
    );
    if !service.comments.leading.is_empty() || !service.comments.trailing.is_empty() {
        buf.push_str("///\n");
        service.comments.append_with_indent(0, buf);
    }
    let _ = writeln!(
        buf,
        "#[derive(Clone, Debug)]\npub struct {name}Client{generics} {{\n    channel: {channel},\n    options: {rt}::CallOptions,\n}}\n"
    );
    let _ = writeln!(buf, "impl{bound} {name}Client{generics} {{");
    let _ = writeln!(
        buf,
        "    /// A client making its calls on `channel`, with the default call options.
    pub fn new(channel: {channel}) -> Self {{
        Self {{ channel, options: ::core::default::Default::default() }}
    }}

    /// The same client with `options` for every call.
    pub fn with_options(mut self, options: {rt}::CallOptions) -> Self {{
        self.options = options;
        self
    }}

    /// The same client with a timeout for every call.
    pub fn with_timeout(mut self, timeout: ::core::time::Duration) -> Self {{
        self.options = self.options.with_timeout(timeout);
        self
    }}

    /// The same client sending `metadata` with every call.
    pub fn with_metadata(mut self, metadata: {rt}::Metadata) -> Self {{
        self.options = self.options.with_metadata(metadata);
        self
    }}

    /// The same client compressing its requests with `encoding`.
    pub fn with_compression(mut self, encoding: {rt}::Encoding) -> Self {{
        self.options = self.options.with_compression(encoding);
        self
    }}

    /// The options every call starts from.
    pub fn options(&self) -> &{rt}::CallOptions {{
        &self.options
    }}

    /// The channel the calls are made on (for calls the stub does not offer).
    pub fn channel(&self) -> &{channel} {{
        &self.channel
    }}

    /// The channel, giving up the client.
    pub fn into_channel(self) -> {channel} {{
        self.channel
    }}

    /// One call's options: the client's, plus the request's metadata
    /// (replacing the client's values of the same keys) and its deadline
    /// when that comes before the client's timeout.
    #[allow(dead_code)] // unused by a service with no methods
    fn call_options(&self, metadata: {rt}::Metadata, deadline: ::core::option::Option<::std::time::Instant>) -> {rt}::CallOptions {{
        let left = deadline.map(|deadline| deadline.saturating_duration_since({now}));
        self.options.for_request(metadata, left)
    }}"
    );
    for (method, (fname, start)) in service.methods.iter().zip(client_method_names(service)) {
        let path = method_path(service, method);
        let input = &method.input_type;
        let output = &method.output_type;
        let doc = |buf: &mut String, what: &str| {
            let _ = writeln!(buf, "\n    /// `{path}`, {}: {what}", kind_words(method));
            if !method.comments.leading.is_empty() || !method.comments.trailing.is_empty() {
                buf.push_str("    ///\n");
                method.comments.append_with_indent(1, buf);
            }
        };
        match (method.client_streaming, method.server_streaming) {
            (false, false) => {
                doc(buf, "the response and its metadata.");
                let _ = writeln!(
                    buf,
                    "    pub {asyncness}fn {fname}(&self, request: {rt}::Request<{input}>) -> {} {{
        let options = self.call_options(request.metadata, request.deadline);
        self.channel.unary(\"{path}\", &request.message, &options){maybe_await}
    }}",
                    result(&format!("{rt}::Response<{output}>"))
                );
            }
            (false, true) => {
                doc(
                    buf,
                    "the initial metadata and the stream of responses (its trailers once it ends).",
                );
                let _ = writeln!(
                    buf,
                    "    pub {asyncness}fn {fname}(&self, request: {rt}::Request<{input}>) -> {} {{
        let options = self.call_options(request.metadata, request.deadline);
        self.channel.server_streaming(\"{path}\", &request.message, &options){maybe_await}
    }}",
                    result(&format!("({rt}::Metadata, {rt}::Streaming<{output}>)"))
                );
            }
            (true, false) => {
                let call = format!(
                    "{rt}::ClientStreamingCall<{}{input}, {output}>",
                    if blocking { "" } else { "R, " }
                );
                doc(
                    buf,
                    &format!(
                        "sends every request of the iterator, then reads the one response (see [`{start}`](Self::{start}) to send them one by one)."
                    ),
                );
                let started = if blocking {
                    format!("self.channel.client_streaming(\"{path}\", &options)?")
                } else {
                    format!("self.channel.client_streaming(\"{path}\", &options)")
                };
                let _ = writeln!(
                    buf,
                    "    pub {asyncness}fn {fname}<I: ::core::iter::IntoIterator<Item = {input}>>(&self, requests: {rt}::Request<I>) -> {} {{
        let options = self.call_options(requests.metadata, requests.deadline);
        let mut call: {call} = {started};
        for message in requests.message {{
            // A refused call fails the send; its status comes from `finish`.
            if call.send(&message){maybe_await}.is_err() {{
                break;
            }}
        }}
        call.finish(){maybe_await}
    }}",
                    result(&format!("{rt}::Response<{output}>"))
                );
                let _ = writeln!(
                    buf,
                    "\n    /// `{path}`, started by hand: send the requests with `send`, end with `finish` for the response."
                );
                let ret = if blocking {
                    result(&call)
                } else {
                    call.clone()
                };
                let _ = writeln!(
                    buf,
                    "    pub fn {start}(&self) -> {ret} {{
        self.channel.client_streaming(\"{path}\", &self.options)
    }}"
                );
            }
            (true, true) => {
                let call = format!(
                    "{rt}::StreamingCall<{}{input}, {output}>",
                    if blocking { "" } else { "R, " }
                );
                doc(
                    buf,
                    "the call, to send requests on (`send`, `close_send`) and read responses from (`message`, `metadata`, `trailers`).",
                );
                let ret = if blocking { result(&call) } else { call };
                let _ = writeln!(
                    buf,
                    "    pub fn {fname}(&self) -> {ret} {{
        self.channel.streaming(\"{path}\", &self.options)
    }}"
                );
            }
        }
    }
    buf.push_str("}\n\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_conversions() {
        assert_eq!(upper_camel("echo_stream"), "EchoStream");
        assert_eq!(upper_camel("r#type"), "Type");
        assert_eq!(upper_camel("r#self"), "Self_");
        assert_eq!(upper_camel("get_v2_thing"), "GetV2Thing");
        assert_eq!(upper_snake("full_duplex_call"), "FULL_DUPLEX_CALL");
        assert_eq!(upper_snake("r#type"), "TYPE");
    }

    #[test]
    fn compile_protos_writes_one_file_per_package() {
        let out = std::env::temp_dir().join(format!("wirestate-codegen-{}", std::process::id()));
        std::fs::create_dir_all(&out).unwrap();
        let protos = Path::new(env!("CARGO_MANIFEST_DIR")).join("../proto");
        compile_protos_into(
            Config::new("::rt").file_descriptor_set_path(out.join("set.bin")),
            &[
                "wirestate/echo/v1/echo.proto",
                "grpc/health/v1/health.proto",
            ],
            &[&protos],
            Some(&out),
        )
        .unwrap();
        let echo = std::fs::read_to_string(out.join("wirestate.echo.v1.rs")).unwrap();
        let health = std::fs::read_to_string(out.join("grpc.health.v1.rs")).unwrap();
        let set = std::fs::read(out.join("set.bin")).unwrap();
        // The descriptor set holds both files, with their comments.
        let pool = protox::prost_reflect::DescriptorPool::decode(&set[..]).unwrap();
        let echo_service = pool.get_service_by_name("wirestate.echo.v1.Echo").unwrap();
        assert!(pool.get_service_by_name("grpc.health.v1.Health").is_some());
        assert!(
            echo_service
                .parent_file()
                .file_descriptor_proto()
                .source_code_info
                .is_some()
        );
        assert!(echo.contains("pub struct EchoRequest"));
        assert!(echo.contains("pub trait EchoServer"));
        assert!(health.contains("pub enum HealthMethod"));
        assert!(health.contains("pub trait HealthServer"));

        // Config::out_dir: the same through the public compile_protos
        // (which otherwise needs OUT_DIR), e.g. for a second, blocking set.
        // Not created beforehand: compile_protos makes it.
        let blocking = out.join("blocking");
        compile_protos(
            Config::new("::rt").blocking(true).out_dir(&blocking),
            &["wirestate/echo/v1/echo.proto"],
            &[&protos],
        )
        .unwrap();
        let echo_blocking = std::fs::read_to_string(blocking.join("wirestate.echo.v1.rs")).unwrap();
        std::fs::remove_dir_all(&out).unwrap();
        assert!(echo_blocking.contains("pub trait EchoServer"));
        assert!(echo_blocking.contains("::rt::Responses<EchoResponse>"));

        let missing = compile_protos_into(
            Config::descriptors_only(),
            &["no/such.proto"],
            &[&protos],
            Some(Path::new("/nonexistent")),
        );
        assert!(missing.is_err());
    }

    fn method(name: &str, client_streaming: bool, server_streaming: bool) -> Method {
        Method {
            name: name.to_owned(),
            proto_name: upper_camel(name),
            comments: Default::default(),
            input_type: "In".to_owned(),
            output_type: "Out".to_owned(),
            input_proto_type: ".p.In".to_owned(),
            output_proto_type: ".p.Out".to_owned(),
            options: Default::default(),
            client_streaming,
            server_streaming,
        }
    }

    #[test]
    fn client_method_names_avoid_the_helpers() {
        let service = Service {
            name: "Odd".to_owned(),
            proto_name: "Odd".to_owned(),
            package: "p".to_owned(),
            comments: Default::default(),
            methods: vec![
                method("new", false, false),
                method("channel", true, true),
                method("upload", true, false),
                method("start_upload", false, false),
            ],
            options: Default::default(),
        };
        let names = client_method_names(&service);
        assert_eq!(
            names,
            [
                ("new_rpc".to_owned(), String::new()),
                ("channel_rpc".to_owned(), String::new()),
                ("upload".to_owned(), "start_upload_rpc".to_owned()),
                ("start_upload".to_owned(), String::new()),
            ]
        );
    }

    /// An RPC named `Clone`: the routers call the trait method by its full
    /// path (`service.clone(request)` on the `Arc` the routers share is
    /// `Arc::clone`, and the generated code did not compile), and the
    /// client stub's method is `clone_rpc` (an inherent `clone(&self,
    /// request)` shadows `Clone::clone`, so `client.clone()` did not
    /// compile). Checked by compiling such a service against
    /// wirestate-rt and wirestate-blocking outside the workspace.
    #[test]
    fn an_rpc_named_like_a_trait_method_compiles() {
        let service = Service {
            name: "Odd".to_owned(),
            proto_name: "Odd".to_owned(),
            package: "p".to_owned(),
            comments: Default::default(),
            methods: vec![method("clone", false, false), method("fmt", true, true)],
            options: Default::default(),
        };
        assert_eq!(
            client_method_names(&service),
            [
                ("clone_rpc".to_owned(), String::new()),
                ("fmt_rpc".to_owned(), String::new()),
            ]
        );
        let config = Config::new("::rt").server_router(true);
        let code = generate_service(&config, &service);
        assert!(
            code.contains("async move { <S as OddServer>::clone(&service, request).await }"),
            "{code}"
        );
        assert!(!code.contains("service.clone(request)"), "{code}");
        assert!(code.contains("pub async fn clone_rpc(&self"), "{code}");
        let blocking = generate_service(&config.blocking(true), &service);
        assert!(
            blocking.contains("| <S as OddServer>::clone(&service, request)\n"),
            "{blocking}"
        );
    }

    /// Messages named like the generated code's generic parameters (`R`,
    /// `S`, `I`): the generated code names them `self::R`, the module's
    /// items. Failed before: `Request<R>` in `add_letters_server<S, R>`
    /// and `unary(.., &R)` in `LettersClient<R>` meant the runtime, so the
    /// user's crate did not compile (E0277 `R: prost::Message`). Checked by
    /// compiling such a service outside the workspace.
    #[test]
    fn messages_named_like_generic_parameters() {
        let mut go = method("go", false, false);
        go.input_type = "R".to_owned();
        go.output_type = "S".to_owned();
        let mut up = method("up", true, false);
        up.input_type = "I".to_owned();
        up.output_type = "super::Rx".to_owned();
        let service = Service {
            name: "Letters".to_owned(),
            proto_name: "Letters".to_owned(),
            package: "p".to_owned(),
            comments: Default::default(),
            methods: vec![go, up],
            options: Default::default(),
        };
        let code = generate_service(&Config::new("::rt").server_router(true), &service);
        assert!(code.contains("request: ::rt::Request<self::R>"), "{code}");
        assert!(code.contains("::rt::Response<self::S>"), "{code}");
        assert!(code.contains("IntoIterator<Item = self::I>"), "{code}");
        assert!(
            code.contains("super::Rx") && !code.contains("self::super"),
            "{code}"
        );
        assert_eq!(unshadow("Rx"), "Rx");
        assert_eq!(unshadow("r::Nested"), "r::Nested");
        assert_eq!(unshadow("S::Nested"), "self::S::Nested");
        assert_eq!(unshadow("()"), "()");

        // A service with no methods: no unused `service` binding, no
        // unused private helper (both warned in the user's crate before).
        let empty = Service {
            methods: Vec::new(),
            ..service
        };
        for config in [
            Config::new("::rt").server_router(true),
            Config::new("::rt").server_router(true).blocking(true),
        ] {
            let code = generate_service(&config, &empty);
            assert!(code.contains("    drop(service);\n    server\n"), "{code}");
            assert!(
                code.contains("#[allow(dead_code)] // unused by a service with no methods\n    fn call_options"),
                "{code}"
            );
        }
    }

    #[test]
    fn paths_are_trimmed() {
        let config = Config::new("::wirestate_grpc::").descriptor_path(" crate:: ");
        assert_eq!(config.get_runtime_path(), "::wirestate_grpc");
        assert_eq!(config.get_descriptor_path(), "crate");
        assert!(config.has_server_traits());
        assert!(!Config::descriptors_only().has_server_traits());
        let routed = Config::descriptors_only().server_router(true);
        assert!(routed.has_server_traits() && routed.has_server_router());
        assert!(!config.has_server_router());
        assert_eq!(snake("EchoV2"), "echo_v2");
        assert_eq!(snake("Health"), "health");
    }
}
