//! Generates the server traits, routers and typed client stubs of the
//! Echo, Health and `grpc.testing` services (wirestate-codegen with
//! `server_router`, against `wirestate_rt::grpc`), with the message types
//! taken from wirestate-proto (`extern_path`), so that src/grpc.rs serves
//! Echo and Health as trait implementations and calls services through
//! `EchoClient`, `HealthClient` and `TestServiceClient`; and the same for
//! the blocking runtime (`Config::blocking`, against
//! `wirestate_blocking::grpc`) for src/grpc_blocking.rs.

use protox::file::{ChainFileResolver, IncludeFileResolver};
use std::path::PathBuf;
use wirestate_codegen::PrefixResolver;

/// The messages come from wirestate-proto: only the service code is new.
macro_rules! extern_messages {
    ($config:expr) => {
        $config
            .extern_path(
                ".wirestate.echo.v1",
                "::wirestate_proto::wirestate::echo::v1",
            )
            .extern_path(".grpc.health.v1", "::wirestate_proto::grpc::health::v1")
            .extern_path(".grpc.testing", "::wirestate_proto::grpc::testing")
    };
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let manifest =
        PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").ok_or("no CARGO_MANIFEST_DIR")?);
    let protos = manifest.join("../proto/proto");
    let files = [
        "wirestate/echo/v1/echo.proto",
        "grpc/health/v1/health.proto",
        "src/proto/grpc/testing/test.proto",
    ];
    // `test.proto` imports its siblings by their path in the gRPC
    // repository; they live in `grpc/testing/` here.
    let mut resolver = ChainFileResolver::new();
    resolver.add(PrefixResolver::new(
        "src/proto/grpc/testing/",
        protos.join("grpc/testing"),
    ));
    resolver.add(IncludeFileResolver::new(protos.clone()));
    let fds = wirestate_codegen::open_protos(resolver, &files)?.file_descriptor_set();
    let mut config = wirestate_codegen::Config::new("::wirestate_rt::grpc")
        .server_router(true)
        .into_prost_build();
    extern_messages!(config).compile_fds(fds.clone())?;

    // The same traits for the blocking runtime (src/grpc_blocking.rs), in a
    // directory of their own: the files have the same names.
    let out = PathBuf::from(std::env::var_os("OUT_DIR").ok_or("no OUT_DIR")?).join("blocking");
    std::fs::create_dir_all(&out)?;
    let mut config = wirestate_codegen::Config::new("::wirestate_blocking::grpc")
        .server_router(true)
        .blocking(true)
        .into_prost_build();
    extern_messages!(config).out_dir(&out).compile_fds(fds)?;
    Ok(())
}
