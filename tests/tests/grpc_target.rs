//! `Channel::builder_for(rt, "host:port")`: an async channel to a server
//! named as users name it (`localhost:PORT`, an IP literal, `[::1]:PORT`),
//! the name resolved on the runtime, on tokio and smol, against a
//! blocking server; a target without a port or a name that does not
//! resolve is refused with the right code, without dialing.

#![allow(clippy::result_large_err)]

use std::time::Duration;
use wirestate_blocking::grpc::{Request as BRequest, Response as BResponse, Server};
use wirestate_grpc::Code;
use wirestate_proto::wirestate::echo::v1::{EchoRequest, EchoResponse};
use wirestate_rt::Runtime;
use wirestate_rt::grpc::{CallOptions, Channel};

const ECHO: &str = "/wirestate.echo.v1.Echo/Echo";

/// A blocking server echoing the message and the `:authority` it got.
fn start() -> (u16, wirestate_blocking::ServerHandle) {
    let server = Server::new().unary(ECHO, |r: BRequest<EchoRequest>| {
        Ok(BResponse::new(EchoResponse {
            message: r.message.message,
            ..Default::default()
        }))
    });
    let http = wirestate_blocking::Server::bind("127.0.0.1:0", Default::default()).unwrap();
    let port = http.local_addr().unwrap().port();
    let handle = http.handle();
    std::thread::spawn(move || http.serve(server));
    (port, handle)
}

async fn scenario<R: Runtime>(rt: R, port: u16) {
    let opts = CallOptions::default().with_timeout(Duration::from_secs(10));
    for target in [format!("localhost:{port}"), format!("127.0.0.1:{port}")] {
        let channel = Channel::builder_for(rt.clone(), &target)
            .await
            .unwrap_or_else(|e| panic!("{target}: {e:?}"))
            .connect()
            .await
            .unwrap_or_else(|e| panic!("{target}: {e:?}"));
        let request = EchoRequest {
            message: target.clone(),
            ..Default::default()
        };
        let r = channel
            .unary::<_, EchoResponse>(ECHO, &request, &opts)
            .await
            .unwrap();
        assert_eq!(r.message.message, target);
    }
    // No port, not an authority: refused before any lookup.
    for bad in ["localhost", "a b:1", ""] {
        let Err(e) = Channel::builder_for(rt.clone(), bad).await else {
            panic!("{bad}: accepted");
        };
        assert_eq!(e.code, Code::InvalidArgument, "{bad}: {e:?}");
    }
    let Err(e) = Channel::builder_for(rt.clone(), "nosuchhost.invalid:1").await else {
        panic!("nosuchhost.invalid resolved");
    };
    assert_eq!(e.code, Code::Unavailable, "{e:?}");
    assert!(e.message.contains("nosuchhost.invalid"), "{e:?}");
    // An IPv6 literal in brackets resolves to itself (nothing listens on
    // ::1 here: the builder is all this checks).
    assert!(
        Channel::builder_for(rt, &format!("[::1]:{port}"))
            .await
            .is_ok()
    );
}

#[test]
fn tokio_channel_to_a_named_target() {
    let (port, handle) = start();
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(scenario(wirestate_tokio::TokioRuntime, port));
    handle.shutdown();
}

#[test]
fn smol_channel_to_a_named_target() {
    let (port, handle) = start();
    smol::block_on(scenario(wirestate_smol::SmolRuntime::new(), port));
    handle.shutdown();
}
