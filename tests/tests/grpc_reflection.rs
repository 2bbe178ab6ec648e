//! gRPC server reflection on the runtimes, our channel against our server
//! over h2c on 127.0.0.1 (tokio, smol, blocking): a user's server with its
//! own descriptor set (importing a file of wirestate's) registered with
//! `add_reflection`, asked question by question on one stream — each answer
//! read before the next request is sent — on the v1 and v1alpha paths, by
//! our channel and by tonic-reflection's generated clients (tonic's own, an
//! independent implementation of the messages and the call); and
//! `wirestate serve`'s services, as its reflection lists them.

// `Status` is every gRPC call's error type.
#![allow(clippy::result_large_err)]

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use prost::Message;
use prost_types::{FileDescriptorProto, FileDescriptorSet, MethodDescriptorProto};
use wirestate_grpc_reflection::{Reflection, V1_PATH, V1ALPHA_PATH};
use wirestate_proto::grpc::health::v1::{HealthCheckRequest, HealthCheckResponse};
use wirestate_proto::grpc::reflection::v1alpha::{
    ExtensionRequest, ServerReflectionRequest, ServerReflectionResponse,
    server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
};
use wirestate_rt::Runtime;
use wirestate_rt::grpc::{CallOptions, Channel};
use wirestate_rt::http1::ServerConfig;

const BOUND: Duration = Duration::from_secs(20);
const NOT_FOUND: i32 = 5;

/// A user's own `shop/v1/cart.proto`: service `shop.v1.Cart` whose method
/// takes and returns messages of wirestate's health.proto (so the answer
/// needs an import from the other registered set).
fn user_set() -> Vec<u8> {
    let cart = FileDescriptorProto {
        name: Some("shop/v1/cart.proto".into()),
        package: Some("shop.v1".into()),
        dependency: vec!["grpc/health/v1/health.proto".into()],
        syntax: Some("proto3".into()),
        service: vec![prost_types::ServiceDescriptorProto {
            name: Some("Cart".into()),
            method: vec![MethodDescriptorProto {
                name: Some("Check".into()),
                input_type: Some(".grpc.health.v1.HealthCheckRequest".into()),
                output_type: Some(".grpc.health.v1.HealthCheckResponse".into()),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    FileDescriptorSet { file: vec![cart] }.encode_to_vec()
}

fn reflection() -> Reflection {
    Reflection::builder()
        .register_file_descriptor_set(wirestate_proto::FILE_DESCRIPTOR_SET)
        .unwrap()
        .register_file_descriptor_set(&user_set())
        .unwrap()
        .advertise("shop.v1.Cart")
        .advertise("grpc.reflection.v1.ServerReflection")
        .advertise("grpc.reflection.v1alpha.ServerReflection")
        .build()
        .unwrap()
}

const CART_CHECK: &str = "/shop.v1.Cart/Check";

fn cart_answer() -> HealthCheckResponse {
    HealthCheckResponse { status: 1 }
}

/// A check of one answer.
type Check = fn(&ServerReflectionResponse);

/// The questions of one stream, each with a check of its answer.
fn script() -> Vec<(MessageRequest, Check)> {
    fn files(answer: &ServerReflectionResponse) -> Vec<String> {
        match &answer.message_response {
            Some(MessageResponse::FileDescriptorResponse(r)) => r
                .file_descriptor_proto
                .iter()
                .map(|b| {
                    FileDescriptorProto::decode(&b[..])
                        .unwrap()
                        .name()
                        .to_owned()
                })
                .collect(),
            other => panic!("not a file answer: {other:?}"),
        }
    }
    vec![
        (MessageRequest::ListServices(String::new()), |a| {
            let Some(MessageResponse::ListServicesResponse(list)) = &a.message_response else {
                panic!("{a:?}")
            };
            let names: Vec<_> = list.service.iter().map(|s| s.name.as_str()).collect();
            assert_eq!(
                names,
                [
                    "grpc.reflection.v1.ServerReflection",
                    "grpc.reflection.v1alpha.ServerReflection",
                    "shop.v1.Cart"
                ]
            );
        }),
        (
            MessageRequest::FileContainingSymbol("shop.v1.Cart.Check".into()),
            |a| {
                assert_eq!(
                    files(a),
                    ["shop/v1/cart.proto", "grpc/health/v1/health.proto"]
                )
            },
        ),
        (
            MessageRequest::FileContainingSymbol("shop.v1.Cart.Nope".into()),
            |a| {
                let Some(MessageResponse::ErrorResponse(e)) = &a.message_response else {
                    panic!("{a:?}")
                };
                assert_eq!(e.error_code, NOT_FOUND);
            },
        ),
        // health.proto was sent on this stream: a symbol of it brings it
        // again (it is the file asked for).
        (
            MessageRequest::FileContainingSymbol(
                "grpc.health.v1.HealthCheckResponse.ServingStatus".into(),
            ),
            |a| assert_eq!(files(a), ["grpc/health/v1/health.proto"]),
        ),
        (
            MessageRequest::FileContainingExtension(ExtensionRequest {
                containing_type: "grpc.health.v1.HealthCheckRequest".into(),
                extension_number: 100,
            }),
            |a| {
                assert!(
                    matches!(&a.message_response, Some(MessageResponse::ErrorResponse(e)) if e.error_code == NOT_FOUND),
                    "{a:?}"
                )
            },
        ),
    ]
}

fn request(r: MessageRequest) -> ServerReflectionRequest {
    ServerReflectionRequest {
        host: String::new(),
        message_request: Some(r),
    }
}

/// One reflection stream on `path`, question by question.
async fn ask<R: Runtime>(ch: &Channel<R>, path: &str) {
    let opts = CallOptions::default().with_timeout(BOUND);
    let mut call = ch.streaming::<ServerReflectionRequest, ServerReflectionResponse>(path, &opts);
    for (question, check) in script() {
        let sent = request(question);
        call.send(&sent).await.unwrap();
        let answer = call.message().await.unwrap().expect("an answer");
        assert_eq!(answer.original_request.as_ref(), Some(&sent));
        check(&answer);
    }
    call.close_send();
    assert!(call.message().await.unwrap().is_none());
}

async fn async_checks<R: Runtime>(rt: R, addr: SocketAddr) {
    let io = rt.connect(addr).await.unwrap();
    let (send, driver) = wirestate_rt::h2::handshake(rt.clone(), io, Default::default());
    rt.spawn(Box::pin(async move {
        let _ = driver.await;
    }));
    let ch = Channel::new(rt, send, &addr.to_string()).unwrap();
    ask(&ch, V1_PATH).await;
    ask(&ch, V1ALPHA_PATH).await;
    // The user's own method is served beside reflection.
    let r = ch
        .unary::<_, HealthCheckResponse>(
            CART_CHECK,
            &HealthCheckRequest::default(),
            &CallOptions::default(),
        )
        .await
        .unwrap();
    assert_eq!(r.message, cart_answer());
}

/// A user's async server: its method and reflection.
fn user_server<R: wirestate_rt::grpc::Runtime>(rt: R) -> wirestate_rt::grpc::Server<R> {
    let server = wirestate_rt::grpc::Server::new(rt).unary(
        CART_CHECK,
        |_: wirestate_rt::grpc::Request<HealthCheckRequest>| async {
            Ok(wirestate_rt::grpc::Response::new(cart_answer()))
        },
    );
    wirestate_grpc_reflection::rt::add_reflection(server, reflection())
}

#[test]
fn tokio_reflection() {
    let (addr, rt) = support::tokio_server(user_server(wirestate_tokio::TokioRuntime));
    rt.block_on(async {
        tokio::time::timeout(BOUND, async_checks(wirestate_tokio::TokioRuntime, addr))
            .await
            .expect("in time");
    });
}

/// A user's smol server (its method and reflection) on a thread of its own.
fn start_smol() -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let ex = std::sync::Arc::new(smol::Executor::new());
        let rt = wirestate_smol::SmolRuntime::with_executor(ex.clone());
        smol::block_on(ex.run(async move {
            let listener = wirestate_smol::bind("127.0.0.1:0".parse().unwrap()).unwrap();
            tx.send(wirestate_rt::Listener::local_addr(&listener).unwrap())
                .unwrap();
            let _ = wirestate_rt::http1::serve(
                rt.clone(),
                listener,
                user_server(rt),
                ServerConfig::default(),
                wirestate_rt::Shutdown::new(),
            )
            .await;
        }));
    });
    rx.recv().unwrap()
}

#[test]
fn smol_reflection() {
    let addr = start_smol();
    smol::block_on(futures_lite::future::or(
        async_checks(wirestate_smol::SmolRuntime::new(), addr),
        async {
            smol::Timer::after(BOUND).await;
            panic!("not in time");
        },
    ));
}

/// A user's blocking server (its method and reflection) on a thread.
fn start_blocking() -> (
    SocketAddr,
    wirestate_blocking::ServerHandle,
    std::thread::JoinHandle<std::io::Result<()>>,
) {
    use wirestate_blocking::grpc::{Request, Response, Server};
    let server = Server::new().unary(CART_CHECK, |_: Request<HealthCheckRequest>| {
        Ok(Response::new(cart_answer()))
    });
    let server = wirestate_grpc_reflection::blocking::add_reflection(server, reflection());
    let http = wirestate_blocking::Server::bind("127.0.0.1:0", Default::default()).unwrap();
    let addr = http.local_addr().unwrap();
    let handle = http.handle();
    (addr, handle, std::thread::spawn(move || http.serve(server)))
}

#[test]
fn blocking_reflection() {
    use wirestate_blocking::grpc::{CallOptions, Channel};
    let (addr, handle, thread) = start_blocking();

    let ch = Channel::connect(&addr.to_string()).unwrap();
    let opts = CallOptions::default().with_timeout(BOUND);
    for path in [V1_PATH, V1ALPHA_PATH] {
        let mut call = ch
            .streaming::<ServerReflectionRequest, ServerReflectionResponse>(path, &opts)
            .unwrap();
        for (question, check) in script() {
            let sent = request(question);
            call.send(&sent).unwrap();
            let answer = call.message().unwrap().expect("an answer");
            assert_eq!(answer.original_request.as_ref(), Some(&sent));
            check(&answer);
        }
        call.close_send();
        assert!(call.message().unwrap().is_none());
    }
    let r = ch
        .unary::<_, HealthCheckResponse>(CART_CHECK, &HealthCheckRequest::default(), &opts)
        .unwrap();
    assert_eq!(r.message, cart_answer());
    handle.shutdown();
    thread.join().unwrap().unwrap();
}

#[test]
fn wirestate_serve_lists_what_it_serves() {
    // Every service `wirestate serve` lists is routed on its servers (a
    // listed service that is not would send reflection clients to
    // UNIMPLEMENTED), and each is in the descriptor set.
    let reflection = wirestate_examples::grpc::reflection();
    let listed = reflection.services();
    assert_eq!(
        listed,
        [
            "grpc.health.v1.Health",
            "grpc.reflection.v1.ServerReflection",
            "grpc.reflection.v1alpha.ServerReflection",
            "grpc.testing.TestService",
            "wirestate.echo.v1.Echo",
        ]
    );
    let set = FileDescriptorSet::decode(wirestate_proto::FILE_DESCRIPTOR_SET).unwrap();
    let rt_server =
        wirestate_examples::grpc::server(wirestate_tokio::TokioRuntime, Default::default());
    let blocking_server = wirestate_examples::grpc_blocking::server(None);
    for service in listed {
        let (package, name) = service.rsplit_once('.').unwrap();
        let file = set
            .file
            .iter()
            .find(|f| f.package() == package && f.service.iter().any(|s| s.name() == name))
            .unwrap();
        let methods = &file
            .service
            .iter()
            .find(|s| s.name() == name)
            .unwrap()
            .method;
        assert!(!methods.is_empty());
        for m in methods {
            let path = format!("/{service}/{}", m.name());
            // The interop UnimplementedCall is left unrouted on purpose.
            if path == "/grpc.testing.TestService/UnimplementedCall" {
                continue;
            }
            assert!(rt_server.has_route(&path), "{path} (rt)");
            assert!(blocking_server.has_route(&path), "{path} (blocking)");
        }
    }
}

/// tonic-reflection's clients, v1 and v1alpha, question by question on one
/// stream against `addr`: the same script, read through tonic's types.
async fn tonic_asks(addr: SocketAddr) {
    use prost::Message as _;
    use tonic_reflection::pb::{v1 as tv1, v1alpha as tv1a};
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap();

    // v1: each of our requests re-encoded into tonic's type, each of its
    // answers into ours for the script's checks (same wire format: this is
    // also what a tonic client sends and reads).
    let mut client = tv1::server_reflection_client::ServerReflectionClient::new(channel.clone());
    let (tx, rx) = futures_channel::mpsc::unbounded::<tv1::ServerReflectionRequest>();
    let mut script = script().into_iter();
    let (first, check) = script.next().unwrap();
    let encode = |q: MessageRequest| {
        tv1::ServerReflectionRequest::decode(&request(q).encode_to_vec()[..]).unwrap()
    };
    tx.unbounded_send(encode(first)).unwrap();
    let mut answers = client
        .server_reflection_info(rx)
        .await
        .unwrap()
        .into_inner();
    let mut next_check = Some(check);
    loop {
        let answer = answers.message().await.unwrap().expect("an answer");
        let ours = ServerReflectionResponse::decode(&answer.encode_to_vec()[..]).unwrap();
        (next_check.take().unwrap())(&ours);
        match script.next() {
            Some((q, check)) => {
                tx.unbounded_send(encode(q)).unwrap();
                next_check = Some(check);
            }
            None => break,
        }
    }
    drop(tx);
    assert!(answers.message().await.unwrap().is_none());

    // v1alpha, with tonic's types alone: list, then a method's file.
    let mut client = tv1a::server_reflection_client::ServerReflectionClient::new(channel);
    let requests = [
        tv1a::server_reflection_request::MessageRequest::ListServices(String::new()),
        tv1a::server_reflection_request::MessageRequest::FileContainingSymbol(
            "shop.v1.Cart.Check".into(),
        ),
    ]
    .map(|r| tv1a::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(r),
    });
    let mut answers = client
        .server_reflection_info(futures_util::stream::iter(requests))
        .await
        .unwrap()
        .into_inner();
    let Some(tv1a::server_reflection_response::MessageResponse::ListServicesResponse(list)) =
        answers.message().await.unwrap().unwrap().message_response
    else {
        panic!("not a list")
    };
    assert!(list.service.iter().any(|s| s.name == "shop.v1.Cart"));
    let Some(tv1a::server_reflection_response::MessageResponse::FileDescriptorResponse(files)) =
        answers.message().await.unwrap().unwrap().message_response
    else {
        panic!("not files")
    };
    let cart = FileDescriptorProto::decode(&files.file_descriptor_proto[0][..]).unwrap();
    assert_eq!(cart.name(), "shop/v1/cart.proto");
    assert_eq!(
        cart.service[0].method[0].input_type(),
        ".grpc.health.v1.HealthCheckRequest"
    );
    assert!(answers.message().await.unwrap().is_none());
}

#[test]
fn tonic_reflection_clients_against_every_runtime() {
    let (tokio_addr, rt) = support::tokio_server(user_server(wirestate_tokio::TokioRuntime));
    let smol_addr = start_smol();
    let (blocking_addr, handle, thread) = start_blocking();
    rt.block_on(async {
        for addr in [tokio_addr, smol_addr, blocking_addr] {
            tokio::time::timeout(BOUND, tonic_asks(addr))
                .await
                .expect("in time");
        }
    });
    handle.shutdown();
    thread.join().unwrap().unwrap();
}
