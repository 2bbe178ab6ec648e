//! The generator run on wirestate-proto's real `.proto` files (the echo
//! service, the gRPC health service and the `grpc.testing` interop services),
//! with assertions on the emitted code.

use std::collections::HashMap;
use std::path::PathBuf;

use prost_build::Module;
use protox::file::{ChainFileResolver, IncludeFileResolver};
use wirestate_codegen::{Config, PrefixResolver};

fn proto_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../proto")
}

/// Generated code by package name, e.g. `"wirestate.echo.v1"`.
fn generate(config: Config) -> HashMap<String, String> {
    let dir = proto_dir();
    let mut resolver = ChainFileResolver::new();
    resolver.add(PrefixResolver::new(
        "src/proto/grpc/testing/",
        dir.join("grpc/testing"),
    ));
    resolver.add(IncludeFileResolver::new(dir));
    let compiler = wirestate_codegen::open_protos(
        resolver,
        &[
            "src/proto/grpc/testing/test.proto",
            "grpc/health/v1/health.proto",
            "wirestate/echo/v1/echo.proto",
        ],
    )
    .unwrap();
    let requests = compiler
        .file_descriptor_set()
        .file
        .into_iter()
        .map(|file| (Module::from_protobuf_package_name(file.package()), file))
        .collect();
    config
        .into_prost_build()
        .generate(requests)
        .unwrap()
        .into_iter()
        .map(|(module, code)| (module.parts().collect::<Vec<_>>().join("."), code))
        .collect()
}

#[test]
fn echo_descriptor_tables() {
    let out = generate(Config::descriptors_only().descriptor_path("crate"));
    let echo = &out["wirestate.echo.v1"];
    assert!(echo.contains("pub struct EchoRequest"), "{echo}");
    assert!(echo.contains("pub enum EchoMethod {"), "{echo}");
    assert!(echo.contains("pub const SERVICE: &'static str = \"wirestate.echo.v1.Echo\";"));
    for (variant, konst, kind) in [
        ("Echo", "ECHO", "Unary"),
        ("EchoStream", "ECHO_STREAM", "ServerStreaming"),
        ("EchoCollect", "ECHO_COLLECT", "ClientStreaming"),
        ("EchoBidi", "ECHO_BIDI", "BidiStreaming"),
    ] {
        let path = format!("/wirestate.echo.v1.Echo/{variant}");
        assert!(
            echo.contains(&format!("Self::{variant} => \"{path}\",")),
            "path of {variant}"
        );
        assert!(
            echo.contains(&format!(
                "\"{path}\" => ::core::option::Option::Some(Self::{variant}),"
            )),
            "from_path of {variant}"
        );
        assert!(
            echo.contains(&format!("Self::{variant} => crate::MethodKind::{kind},")),
            "kind of {variant}"
        );
        assert!(
            echo.contains(&format!(
                "pub const {konst}: crate::MethodDescriptor<EchoRequest, EchoResponse> = \
                 crate::MethodDescriptor::new(\"{path}\", crate::MethodKind::{kind});"
            )),
            "descriptor of {variant}"
        );
    }
    // Descriptors only: no trait, no runtime path.
    assert!(!echo.contains("trait EchoServer"));
    assert!(!echo.contains("wirestate_grpc"));
}

#[test]
fn grpc_testing_descriptor_tables() {
    let out = generate(Config::descriptors_only());
    let testing = &out["grpc.testing"];
    for (method, kind) in [
        ("EmptyCall", "Unary"),
        ("UnaryCall", "Unary"),
        ("CacheableUnaryCall", "Unary"),
        ("StreamingOutputCall", "ServerStreaming"),
        ("StreamingInputCall", "ClientStreaming"),
        ("FullDuplexCall", "BidiStreaming"),
        ("HalfDuplexCall", "BidiStreaming"),
        ("UnimplementedCall", "Unary"),
    ] {
        assert!(
            testing.contains(&format!(
                "Self::{method} => \"/grpc.testing.TestService/{method}\","
            )),
            "{method}"
        );
        assert!(
            testing.contains(&format!(
                "Self::{method} => ::wirestate_proto::MethodKind::{kind},"
            )),
            "{method}"
        );
    }
    assert!(testing.contains("pub enum TestServiceMethod {"));
    assert!(testing.contains("pub enum UnimplementedServiceMethod {"));
    assert!(testing.contains("pub enum ReconnectServiceMethod {"));
    assert!(testing.contains(
        "pub const UNARY_CALL: ::wirestate_proto::MethodDescriptor<SimpleRequest, SimpleResponse>"
    ));
    assert!(testing.contains(
        "\"/grpc.testing.ReconnectService/Stop\" => ::core::option::Option::Some(Self::Stop),"
    ));

    let health = &out["grpc.health.v1"];
    assert!(health.contains("Self::Check => ::wirestate_proto::MethodKind::Unary,"));
    assert!(health.contains("Self::Watch => ::wirestate_proto::MethodKind::ServerStreaming,"));
    assert!(health.contains("Self::Watch => \"/grpc.health.v1.Health/Watch\","));
}

#[test]
fn server_traits_on_request() {
    let out = generate(Config::new("::my_rt"));
    let echo = &out["wirestate.echo.v1"];
    assert!(
        echo.contains(
            "pub trait EchoServer: ::core::marker::Send + ::core::marker::Sync + 'static {"
        )
    );
    assert!(echo.contains(
        "fn echo(&self, request: ::my_rt::Request<EchoRequest>) -> impl ::core::future::Future<Output = \
         ::core::result::Result<::my_rt::Response<EchoResponse>, ::my_rt::Status>> + ::core::marker::Send;"
    ));
    assert!(echo.contains(
        "fn echo_stream(&self, request: ::my_rt::Request<EchoRequest>, responses: ::my_rt::ResponseSink<EchoResponse>) \
         -> impl ::core::future::Future<Output = ::core::result::Result<(), ::my_rt::Status>> + ::core::marker::Send;"
    ));
    assert!(echo.contains(
        "fn echo_collect(&self, requests: ::my_rt::Request<::my_rt::Streaming<EchoRequest>>) \
         -> impl ::core::future::Future<Output = ::core::result::Result<::my_rt::Response<EchoResponse>, ::my_rt::Status>> + ::core::marker::Send;"
    ));
    assert!(echo.contains(
        "fn echo_bidi(&self, requests: ::my_rt::Request<::my_rt::Streaming<EchoRequest>>, responses: ::my_rt::ResponseSink<EchoResponse>) \
         -> impl ::core::future::Future<Output = ::core::result::Result<(), ::my_rt::Status>> + ::core::marker::Send;"
    ));
    let testing = &out["grpc.testing"];
    assert!(testing.contains("pub trait TestServiceServer:"));
    assert!(testing.contains("fn full_duplex_call(&self, requests: ::my_rt::Request<::my_rt::Streaming<StreamingOutputCallRequest>>, responses: ::my_rt::ResponseSink<StreamingOutputCallResponse>)"));
    // The proto comments travel into the docs.
    assert!(testing.contains("/// One request followed by one response."));
}

#[test]
fn blocking_server_traits_and_router() {
    let out = generate(Config::new("::my_rt").server_router(true).blocking(true));
    let echo = &out["wirestate.echo.v1"];
    assert!(echo.contains(
        "fn echo(&self, request: ::my_rt::Request<EchoRequest>) -> \
         ::core::result::Result<::my_rt::Response<EchoResponse>, ::my_rt::Status>;"
    ));
    assert!(echo.contains(
        "fn echo_stream(&self, request: ::my_rt::Request<EchoRequest>) -> \
         ::core::result::Result<::my_rt::Response<::my_rt::Responses<EchoResponse>>, ::my_rt::Status>;"
    ));
    assert!(echo.contains(
        "fn echo_collect(&self, requests: ::my_rt::Request<::my_rt::Streaming<EchoRequest>>) -> \
         ::core::result::Result<::my_rt::Response<EchoResponse>, ::my_rt::Status>;"
    ));
    assert!(echo.contains(
        "fn echo_bidi(&self, requests: ::my_rt::Request<::my_rt::Streaming<EchoRequest>>) -> \
         ::core::result::Result<::my_rt::Response<::my_rt::Responses<EchoResponse>>, ::my_rt::Status>;"
    ));
    // No futures, no sinks, and a router without a runtime parameter.
    assert!(!echo.contains("Future"));
    assert!(!echo.contains("ResponseSink"));
    assert!(echo.contains(
        "pub fn add_echo_server<S: EchoServer>(server: ::my_rt::Server, service: S) -> ::my_rt::Server {"
    ));
    assert!(echo.contains(
        ".bidi_streaming(\"/wirestate.echo.v1.Echo/EchoBidi\", {\n            let service = service.clone();\n            move |request: ::my_rt::Request<::my_rt::Streaming<EchoRequest>>| <S as EchoServer>::echo_bidi(&service, request)\n        })"
    ));
}

#[test]
fn async_client_stubs() {
    let out = generate(Config::new("::my_rt"));
    let echo = &out["wirestate.echo.v1"];
    assert!(echo.contains(
        "pub struct EchoClient<R> {\n    channel: ::my_rt::Channel<R>,\n    options: ::my_rt::CallOptions,\n}"
    ));
    assert!(echo.contains("impl<R: ::my_rt::Runtime> EchoClient<R> {"));
    // Unary and server streaming take a Request and await the channel.
    assert!(echo.contains(
        "pub async fn echo(&self, request: ::my_rt::Request<EchoRequest>) -> \
         ::core::result::Result<::my_rt::Response<EchoResponse>, ::my_rt::Status> {"
    ));
    assert!(echo.contains(
        "self.channel.unary(\"/wirestate.echo.v1.Echo/Echo\", &request.message, &options).await"
    ));
    assert!(echo.contains(
        "pub async fn echo_stream(&self, request: ::my_rt::Request<EchoRequest>) -> \
         ::core::result::Result<(::my_rt::Metadata, ::my_rt::Streaming<EchoResponse>), ::my_rt::Status> {"
    ));
    // Client streaming: an iterator of requests, or a call started by hand.
    assert!(echo.contains(
        "pub async fn echo_collect<I: ::core::iter::IntoIterator<Item = EchoRequest>>(&self, \
         requests: ::my_rt::Request<I>) -> \
         ::core::result::Result<::my_rt::Response<EchoResponse>, ::my_rt::Status> {"
    ));
    assert!(echo.contains(
        "pub fn start_echo_collect(&self) -> ::my_rt::ClientStreamingCall<R, EchoRequest, EchoResponse> {"
    ));
    // Bidi: the call itself.
    assert!(echo.contains(
        "pub fn echo_bidi(&self) -> ::my_rt::StreamingCall<R, EchoRequest, EchoResponse> {\n        \
         self.channel.streaming(\"/wirestate.echo.v1.Echo/EchoBidi\", &self.options)"
    ));
    // A request's deadline is read on the runtime's clock.
    assert!(echo.contains("::my_rt::Runtime::now(self.channel.runtime())"));
    let testing = &out["grpc.testing"];
    assert!(testing.contains("pub struct TestServiceClient<R> {"));
    assert!(testing.contains(
        "pub fn full_duplex_call(&self) -> \
         ::my_rt::StreamingCall<R, StreamingOutputCallRequest, StreamingOutputCallResponse> {"
    ));
    assert!(testing.contains("pub fn start_streaming_input_call(&self)"));
    // Off with descriptors only, or on request.
    let off = generate(Config::new("::my_rt").client_stubs(false));
    assert!(!off["wirestate.echo.v1"].contains("EchoClient"));
    assert!(off["wirestate.echo.v1"].contains("pub trait EchoServer"));
    assert!(!generate(Config::descriptors_only())["wirestate.echo.v1"].contains("EchoClient"));
    assert!(Config::new("::my_rt").has_client_stubs());
    assert!(!Config::descriptors_only().has_client_stubs());
}

#[test]
fn blocking_client_stubs() {
    let out = generate(Config::new("::my_rt").blocking(true));
    let echo = &out["wirestate.echo.v1"];
    assert!(echo.contains("pub struct EchoClient {\n    channel: ::my_rt::Channel,"));
    assert!(echo.contains("impl EchoClient {"));
    assert!(echo.contains(
        "pub fn echo(&self, request: ::my_rt::Request<EchoRequest>) -> \
         ::core::result::Result<::my_rt::Response<EchoResponse>, ::my_rt::Status> {"
    ));
    assert!(echo.contains(
        "pub fn echo_collect<I: ::core::iter::IntoIterator<Item = EchoRequest>>(&self, \
         requests: ::my_rt::Request<I>)"
    ));
    assert!(echo.contains(
        "pub fn start_echo_collect(&self) -> \
         ::core::result::Result<::my_rt::ClientStreamingCall<EchoRequest, EchoResponse>, ::my_rt::Status> {"
    ));
    assert!(echo.contains(
        "pub fn echo_bidi(&self) -> \
         ::core::result::Result<::my_rt::StreamingCall<EchoRequest, EchoResponse>, ::my_rt::Status> {"
    ));
    // No futures, and deadlines on the system clock.
    assert!(!echo.contains("async fn"));
    assert!(!echo.contains(".await"));
    assert!(echo.contains("deadline.saturating_duration_since(::std::time::Instant::now())"));
}

/// `open_protos` with a resolver of the caller's finds the well-known
/// types, as `compile_protos` does: a file importing
/// `google/protobuf/timestamp.proto` and `empty.proto` opens, and its
/// service's code names prost-types' `Timestamp` and `()`. Failed before:
/// "import 'google/protobuf/timestamp.proto' not found".
#[test]
fn open_protos_finds_the_well_known_types() {
    let dir = std::env::temp_dir().join(format!("wirestate-codegen-wkt-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("shop/v1")).unwrap();
    std::fs::write(
        dir.join("shop/v1/clock.proto"),
        "syntax = \"proto3\";\npackage shop.v1;\n\
         import \"google/protobuf/timestamp.proto\";\nimport \"google/protobuf/empty.proto\";\n\
         service Clock { rpc Now(google.protobuf.Empty) returns (google.protobuf.Timestamp); }\n",
    )
    .unwrap();
    let compiler = wirestate_codegen::open_protos(
        IncludeFileResolver::new(dir.clone()),
        &["shop/v1/clock.proto"],
    );
    std::fs::remove_dir_all(&dir).unwrap();
    let fds = compiler
        .expect("the well-known imports resolve")
        .file_descriptor_set();
    let requests = fds
        .file
        .into_iter()
        .map(|file| (Module::from_protobuf_package_name(file.package()), file))
        .collect();
    let code = Config::new("::my_rt")
        .into_prost_build()
        .generate(requests)
        .unwrap()
        .into_iter()
        .find(|(module, _)| module.parts().collect::<Vec<_>>().join(".") == "shop.v1")
        .unwrap()
        .1;
    assert!(
        code.contains("fn now(&self, request: ::my_rt::Request<()>)")
            && code.contains("::my_rt::Response<::prost_types::Timestamp>"),
        "{code}"
    );
}
