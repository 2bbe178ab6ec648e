//! Compiles `proto/**/*.proto` with protox (a `.proto` compiler in pure Rust,
//! so no system `protoc`) and prost-build, plus the method descriptor tables
//! of wirestate-codegen, into `OUT_DIR`:
//!
//! * `grpc.testing.rs`, `grpc.health.v1.rs`, `grpc.reflection.v1.rs`,
//!   `grpc.reflection.v1alpha.rs`, `wirestate.echo.v1.rs`: the crate's
//!   modules (messages and descriptor tables, no server traits);
//! * `file_descriptor_set.bin`: the encoded `FileDescriptorSet` of them all;
//! * `server_traits/*.rs`: the same files generated with server traits
//!   against `crate::rt`, for the tests that compile the trait code against a
//!   stand-in runtime (the gRPC runtime crate does not exist yet).

use std::path::{Path, PathBuf};

use protox::file::{ChainFileResolver, IncludeFileResolver};
use wirestate_codegen::{Config, PrefixResolver};

const ROOTS: [&str; 5] = [
    "src/proto/grpc/testing/test.proto",
    "grpc/health/v1/health.proto",
    "grpc/reflection/v1/reflection.proto",
    "grpc/reflection/v1alpha/reflection.proto",
    "wirestate/echo/v1/echo.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let manifest =
        PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").ok_or("no CARGO_MANIFEST_DIR")?);
    let out = PathBuf::from(std::env::var_os("OUT_DIR").ok_or("no OUT_DIR")?);
    let protos = manifest.join("proto");
    println!("cargo:rerun-if-changed={}", protos.display());

    let mut resolver = ChainFileResolver::new();
    // `test.proto` imports its siblings by their path in the gRPC
    // repository, `src/proto/grpc/testing/…`; they live in `proto/grpc/testing/`.
    resolver.add(PrefixResolver::new(
        "src/proto/grpc/testing/",
        protos.join("grpc/testing"),
    ));
    resolver.add(IncludeFileResolver::new(protos.clone()));
    let compiler = wirestate_codegen::open_protos(resolver, &ROOTS)?;
    let fds = compiler.file_descriptor_set();

    // The published descriptor set carries no source info (comments and spans).
    let mut bare = compiler.file_descriptor_set();
    for file in &mut bare.file {
        file.source_code_info = None;
    }
    std::fs::write(
        out.join("file_descriptor_set.bin"),
        prost::Message::encode_to_vec(&bare),
    )?;

    Config::descriptors_only()
        .descriptor_path("crate")
        .into_prost_build()
        .compile_fds(fds.clone())?;

    let traits = out.join("server_traits");
    create_dir(&traits)?;
    // Server traits only: the stand-in runtime has no channel for stubs
    // (the stubs are compiled against the real runtimes in the examples).
    Config::new("crate::rt")
        .descriptor_path("::wirestate_proto")
        .client_stubs(false)
        .into_prost_build()
        .out_dir(&traits)
        .compile_fds(fds)?;
    Ok(())
}

fn create_dir(dir: &Path) -> std::io::Result<()> {
    match std::fs::create_dir(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        other => other,
    }
}
