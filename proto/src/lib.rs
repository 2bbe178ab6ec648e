//! Protobuf definitions for wirestate's gRPC work, and the Rust types
//! generated from them.
//!
//! | module                      | `.proto` (in `proto/` of this crate)        | what                                              |
//! | --------------------------- | -------------------------------------------- | ------------------------------------------------- |
//! | [`grpc::health::v1`]        | `grpc/health/v1/health.proto`                | the standard gRPC health service (`Check`, `Watch`) |
//! | [`grpc::reflection::v1`]  | `grpc/reflection/v1/reflection.proto`        | gRPC server reflection (`ServerReflectionInfo`), as tools like grpcurl call it |
//! | [`grpc::reflection::v1alpha`] | `grpc/reflection/v1alpha/reflection.proto` | the same messages in the older package many tools still call |
//! | [`grpc::testing`]           | `grpc/testing/{test,messages,empty}.proto`   | the gRPC interop test services and messages, as the gRPC project publishes them |
//! | [`wirestate::echo::v1`]     | `wirestate/echo/v1/echo.proto`               | an echo service with all four call kinds, for benchmarks and examples |
//! | [`google::rpc`]             | (googleapis' `google/rpc/status.proto`)      | `Status`: the rich error model carried in `grpc-status-details-bin` |
//!
//! The types are generated at build time by `prost-build` from descriptors
//! that `protox` compiles — both pure Rust, so building needs no system
//! `protoc`. Each module holds the prost messages and enums, and for every
//! service a `{Service}Method` enum (from `wirestate-codegen`): the gRPC path,
//! name and [`MethodKind`] of each method, `from_path` for routing, and a
//! typed [`MethodDescriptor`] per method as an associated constant.
//! [`FILE_DESCRIPTOR_SET`] holds the encoded descriptors of all the files
//! (for server reflection and dynamic decoding).
//!
//! Server traits and client stubs come with the gRPC runtime layer: see
//! `wirestate-codegen`, which also generates all of this for your own
//! `.proto` files.
//!
//! ```
//! use prost::Message;
//! use wirestate_proto::MethodKind;
//! use wirestate_proto::grpc::testing::TestServiceMethod;
//! use wirestate_proto::wirestate::echo::v1::{EchoMethod, EchoRequest};
//!
//! let request = EchoRequest { message: "hi".into(), ..Default::default() };
//! let bytes = request.encode_to_vec();
//! assert_eq!(bytes, [0x0a, 0x02, b'h', b'i']);
//! assert_eq!(EchoRequest::decode(&bytes[..]).unwrap(), request);
//!
//! let method = EchoMethod::from_path("/wirestate.echo.v1.Echo/EchoStream").unwrap();
//! assert_eq!(method, EchoMethod::EchoStream);
//! assert_eq!(method.kind(), MethodKind::ServerStreaming);
//! assert_eq!(EchoMethod::ECHO_STREAM.path(), method.path());
//!
//! assert_eq!(
//!     TestServiceMethod::FullDuplexCall.kind(),
//!     MethodKind::BidiStreaming,
//! );
//! ```

#![forbid(unsafe_code)]

mod method;

pub use method::{MethodDescriptor, MethodKind};

/// The encoded `google.protobuf.FileDescriptorSet` of every `.proto` file of
/// this crate (without source info), as `protoc --descriptor_set_out
/// --include_imports` writes it. The interop files are named as in the gRPC
/// repository (`src/proto/grpc/testing/test.proto`).
pub const FILE_DESCRIPTOR_SET: &[u8] =
    include_bytes!(concat!(env!("OUT_DIR"), "/file_descriptor_set.bin"));

/// Packages under `grpc.`.
pub mod grpc {
    /// `grpc.health.*`.
    pub mod health {
        #[allow(missing_docs)]
        pub mod v1 {
            //! The gRPC health checking protocol, package `grpc.health.v1`:
            //! [`HealthCheckRequest`], [`HealthCheckResponse`] and the
            //! [`HealthMethod`] table (`Check` unary, `Watch` server streaming).

            include!(concat!(env!("OUT_DIR"), "/grpc.health.v1.rs"));
        }
    }

    /// `grpc.reflection.*`: server reflection, answered by
    /// `wirestate-grpc-reflection`.
    pub mod reflection {
        #[allow(missing_docs)]
        pub mod v1 {
            //! gRPC server reflection, package `grpc.reflection.v1`:
            //! [`ServerReflectionRequest`], [`ServerReflectionResponse`] and
            //! the [`ServerReflectionMethod`] table (`ServerReflectionInfo`,
            //! bidirectional streaming).

            include!(concat!(env!("OUT_DIR"), "/grpc.reflection.v1.rs"));
        }

        #[allow(missing_docs, deprecated)]
        pub mod v1alpha {
            //! gRPC server reflection, package `grpc.reflection.v1alpha`: the
            //! same messages as [`v1`](super::v1) in the older package that
            //! many clients still call first or fall back to.

            include!(concat!(env!("OUT_DIR"), "/grpc.reflection.v1alpha.rs"));
        }
    }

    #[allow(missing_docs)]
    pub mod testing {
        //! The gRPC interop test services and messages, package `grpc.testing`
        //! (`test.proto`, `messages.proto`, `empty.proto` as the gRPC project
        //! publishes them): [`TestServiceMethod`], [`UnimplementedServiceMethod`],
        //! [`ReconnectServiceMethod`] and their messages.

        include!(concat!(env!("OUT_DIR"), "/grpc.testing.rs"));
    }
}

/// Packages under `google.`.
pub mod google {
    /// `google.rpc`: the error model of googleapis' `google/rpc/status.proto`.
    pub mod rpc {
        /// `google.rpc.Status`: a status with typed details, what a server
        /// puts (encoded) in `grpc-status-details-bin` — with
        /// `wirestate_grpc::Status::with_details(status.encode_to_vec().into())`
        /// — and what grpcio's `rpc_status`, grpc-go's `status.FromError`
        /// and tonic-types read back. Its code and message should equal the
        /// call's `grpc-status` and `grpc-message`.
        ///
        /// ```
        /// use prost::Message;
        /// use wirestate_proto::google::rpc::Status;
        /// let status = Status {
        ///     code: 9, // FAILED_PRECONDITION
        ///     message: "cart is closed".into(),
        ///     details: vec![prost_types::Any {
        ///         type_url: "type.googleapis.com/shop.v1.Cart".into(),
        ///         value: vec![0x0a, 0x01, b'c'],
        ///     }],
        /// };
        /// let bytes = status.encode_to_vec();
        /// assert_eq!(Status::decode(&bytes[..]).unwrap(), status);
        /// ```
        #[derive(Clone, PartialEq, ::prost::Message)]
        pub struct Status {
            /// The status code, a `google.rpc.Code` (the gRPC codes).
            #[prost(int32, tag = "1")]
            pub code: i32,
            /// A developer-facing message, in English.
            #[prost(string, tag = "2")]
            pub message: ::prost::alloc::string::String,
            /// Typed details (`google.rpc.ErrorInfo`, `BadRequest`, …, or
            /// the service's own messages), each a `google.protobuf.Any`.
            #[prost(message, repeated, tag = "3")]
            pub details: ::prost::alloc::vec::Vec<::prost_types::Any>,
        }
    }
}

/// wirestate's own packages.
pub mod wirestate {
    /// `wirestate.echo.*`.
    pub mod echo {
        #[allow(missing_docs)]
        pub mod v1 {
            //! The echo service, package `wirestate.echo.v1`: [`EchoRequest`],
            //! [`EchoResponse`] and the [`EchoMethod`] table (`Echo` unary,
            //! `EchoStream` server streaming, `EchoCollect` client streaming,
            //! `EchoBidi` bidirectional).

            include!(concat!(env!("OUT_DIR"), "/wirestate.echo.v1.rs"));
        }
    }
}
