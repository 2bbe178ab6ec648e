//! The server traits wirestate-codegen generates on request, compiled
//! against a stand-in for the gRPC runtime (the five names the traits use:
//! `Status`, `Request`, `Response`, `Streaming`, `ResponseSink`) and driven
//! by hand: the trait code is valid, implementable with `async fn`, and its
//! futures are `Send`.
//!
//! build.rs writes these modules to `OUT_DIR/server_traits/` with
//! `Config::new("crate::rt")`; the crate's own modules carry no traits.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

/// The stand-in runtime.
mod rt {
    use super::*;

    #[derive(Debug, PartialEq)]
    pub struct Status {
        pub code: u32,
        pub message: String,
    }

    pub struct Request<T> {
        pub message: T,
    }

    pub struct Response<T> {
        pub message: T,
    }

    pub struct Streaming<T> {
        pub messages: VecDeque<T>,
    }

    impl<T> Streaming<T> {
        pub async fn message(&mut self) -> Result<Option<T>, Status> {
            Ok(self.messages.pop_front())
        }
    }

    pub struct ResponseSink<T> {
        pub sent: Arc<Mutex<Vec<T>>>,
    }

    impl<T> ResponseSink<T> {
        pub async fn send(&mut self, message: T) -> Result<(), Status> {
            self.sent.lock().unwrap().push(message);
            Ok(())
        }
    }
}

#[allow(dead_code, missing_docs)]
mod echo {
    include!(concat!(
        env!("OUT_DIR"),
        "/server_traits/wirestate.echo.v1.rs"
    ));
}

// Compiled only: the interop and health traits are valid code too.
#[allow(dead_code, missing_docs)]
mod testing {
    include!(concat!(env!("OUT_DIR"), "/server_traits/grpc.testing.rs"));
}

#[allow(dead_code, missing_docs)]
mod health {
    include!(concat!(env!("OUT_DIR"), "/server_traits/grpc.health.v1.rs"));
}

use echo::{EchoMethod, EchoRequest, EchoResponse, EchoServer};
use rt::{Request, Response, ResponseSink, Status, Streaming};

/// The echo service as echo.proto describes it.
struct Echo;

impl EchoServer for Echo {
    async fn echo(&self, request: Request<EchoRequest>) -> Result<Response<EchoResponse>, Status> {
        let EchoRequest {
            message, payload, ..
        } = request.message;
        Ok(Response {
            message: EchoResponse {
                message,
                payload,
                index: 0,
            },
        })
    }

    async fn echo_stream(
        &self,
        request: Request<EchoRequest>,
        mut responses: ResponseSink<EchoResponse>,
    ) -> Result<(), Status> {
        let request = request.message;
        for index in 0..request.repeat {
            responses
                .send(EchoResponse {
                    message: request.message.clone(),
                    payload: request.payload.clone(),
                    index,
                })
                .await?;
        }
        Ok(())
    }

    async fn echo_collect(
        &self,
        requests: Request<Streaming<EchoRequest>>,
    ) -> Result<Response<EchoResponse>, Status> {
        let mut requests = requests.message;
        let mut response = EchoResponse::default();
        while let Some(request) = requests.message().await? {
            response.message = request.message;
            response.payload.extend_from_slice(&request.payload);
            response.index += 1;
        }
        Ok(Response { message: response })
    }

    async fn echo_bidi(
        &self,
        requests: Request<Streaming<EchoRequest>>,
        mut responses: ResponseSink<EchoResponse>,
    ) -> Result<(), Status> {
        let mut requests = requests.message;
        let mut index = 0;
        while let Some(request) = requests.message().await? {
            if request.message == "fail" {
                return Err(Status {
                    code: 3,
                    message: "asked to fail".into(),
                });
            }
            responses
                .send(EchoResponse {
                    message: request.message,
                    payload: request.payload,
                    index,
                })
                .await?;
            index += 1;
        }
        Ok(())
    }
}

/// Runs a future that never waits (the stand-in runtime never does).
fn run<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
    }
}

fn assert_send<T: Send>(value: T) -> T {
    value
}

fn request(message: &str, payload: &[u8], repeat: u32) -> EchoRequest {
    EchoRequest {
        message: message.into(),
        payload: payload.to_vec(),
        repeat,
    }
}

fn sink() -> (ResponseSink<EchoResponse>, Arc<Mutex<Vec<EchoResponse>>>) {
    let sent = Arc::new(Mutex::new(Vec::new()));
    (ResponseSink { sent: sent.clone() }, sent)
}

fn stream(requests: Vec<EchoRequest>) -> Request<Streaming<EchoRequest>> {
    Request {
        message: Streaming {
            messages: requests.into(),
        },
    }
}

#[test]
fn unary() {
    let future = assert_send(Echo.echo(Request {
        message: request("hi", b"\x01", 0),
    }));
    let response = run(future).unwrap().message;
    assert_eq!(response.message, "hi");
    assert_eq!(response.payload, b"\x01");
    assert_eq!(EchoMethod::Echo.path(), "/wirestate.echo.v1.Echo/Echo");
}

#[test]
fn server_streaming() {
    let (responses, sent) = sink();
    let future = assert_send(Echo.echo_stream(
        Request {
            message: request("n", b"p", 3),
        },
        responses,
    ));
    run(future).unwrap();
    let sent = sent.lock().unwrap();
    assert_eq!(sent.iter().map(|r| r.index).collect::<Vec<_>>(), [0, 1, 2]);
    assert!(sent.iter().all(|r| r.message == "n" && r.payload == b"p"));
    assert_eq!(
        EchoMethod::EchoStream.kind(),
        wirestate_proto::MethodKind::ServerStreaming
    );
}

#[test]
fn client_streaming() {
    let future = assert_send(
        Echo.echo_collect(stream(vec![request("a", b"12", 0), request("b", b"34", 0)])),
    );
    let response = run(future).unwrap().message;
    assert_eq!(response.message, "b");
    assert_eq!(response.payload, b"1234");
    assert_eq!(response.index, 2);
}

#[test]
fn bidi_streaming() {
    let (responses, sent) = sink();
    let future = assert_send(Echo.echo_bidi(
        stream(vec![request("a", b"", 0), request("b", b"", 0)]),
        responses,
    ));
    run(future).unwrap();
    let sent = sent.lock().unwrap();
    assert_eq!(
        sent.iter()
            .map(|r| (r.message.as_str(), r.index))
            .collect::<Vec<_>>(),
        [("a", 0), ("b", 1)]
    );

    let (responses, sent) = sink();
    let error = run(Echo.echo_bidi(
        stream(vec![request("a", b"", 0), request("fail", b"", 0)]),
        responses,
    ))
    .unwrap_err();
    assert_eq!(error.code, 3);
    assert_eq!(sent.lock().unwrap().len(), 1);
}

#[test]
fn trait_objects_are_not_needed_for_generic_servers() {
    // A runtime holds a server generically; the trait bounds allow sharing it
    // across threads.
    fn share<S: EchoServer>(server: S) -> Arc<S> {
        Arc::new(server)
    }
    let server = share(Echo);
    let handle = std::thread::spawn(move || {
        run(server.echo(Request {
            message: request("t", b"", 0),
        }))
        .unwrap()
        .message
        .message
    });
    assert_eq!(handle.join().unwrap(), "t");
}
