//! Generates the server traits and routers of the Echo and Health services
//! (wirestate-codegen with `server_router`, against `wirestate_rt::grpc`),
//! with the message types taken from wirestate-proto (`extern_path`), so
//! that src/grpc.rs serves them as trait implementations.

use std::path::PathBuf;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let manifest =
        PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").ok_or("no CARGO_MANIFEST_DIR")?);
    let protos = manifest.join("../proto/proto");
    let files = [
        "wirestate/echo/v1/echo.proto",
        "grpc/health/v1/health.proto",
    ];
    for f in files {
        println!("cargo:rerun-if-changed={}", protos.join(f).display());
    }
    let fds = protox::compile(files, [&protos])?;
    let mut config = wirestate_codegen::Config::new("::wirestate_rt::grpc")
        .server_router(true)
        .into_prost_build();
    config
        .extern_path(
            ".wirestate.echo.v1",
            "::wirestate_proto::wirestate::echo::v1",
        )
        .extern_path(".grpc.health.v1", "::wirestate_proto::grpc::health::v1")
        .compile_fds(fds)?;
    Ok(())
}
