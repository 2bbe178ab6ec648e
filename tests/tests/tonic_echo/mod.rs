//! The Echo service on tonic, written the way tonic's code generator
//! writes a service (no codegen, prost types from wirestate-proto): the
//! peer of tests/tests/grpc_interop.rs and of the gRPC echo benchmark.
//! `Echo` with message "fail" answers INVALID_ARGUMENT, with "sleep" sleeps
//! 2 s; the "x-initial" request metadata is echoed in the response head.

#![allow(dead_code)]

use futures_util::StreamExt;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tonic::codec::CompressionEncoding;
use tonic::codegen::{BoxFuture, StdError};
use wirestate_proto::wirestate::echo::v1::{EchoRequest, EchoResponse};

/// The Echo service on tonic, as tonic's code generator would route it.
#[derive(Clone)]
pub struct TonicEcho {
    /// Whether responses are gzip-compressed for clients that accept gzip
    /// (`send_compressed`; requests are accepted compressed either way).
    /// Off is tonic's default, and what the benchmarks use: our client
    /// advertises gzip, and compressing every 100-byte message would
    /// measure zlib, not gRPC.
    pub gzip: bool,
}

impl tonic::server::NamedService for TonicEcho {
    const NAME: &'static str = "wirestate.echo.v1.Echo";
}

type ResponseStream =
    Pin<Box<dyn futures_core::Stream<Item = Result<EchoResponse, tonic::Status>> + Send>>;

struct Unary;
impl tonic::server::UnaryService<EchoRequest> for Unary {
    type Response = EchoResponse;
    type Future = BoxFuture<tonic::Response<EchoResponse>, tonic::Status>;
    fn call(&mut self, req: tonic::Request<EchoRequest>) -> Self::Future {
        Box::pin(async move {
            let initial = req.metadata().get("x-initial").cloned();
            let r = req.into_inner();
            match r.message.as_str() {
                "fail" => Err(tonic::Status::invalid_argument("asked to fail")),
                "sleep" => {
                    tokio::time::sleep(Duration::from_secs(2)).await;
                    Ok(tonic::Response::new(EchoResponse::default()))
                }
                _ => {
                    let mut resp = tonic::Response::new(EchoResponse {
                        message: r.message,
                        payload: r.payload,
                        index: 0,
                    });
                    if let Some(v) = initial {
                        resp.metadata_mut().insert("x-initial", v);
                    }
                    Ok(resp)
                }
            }
        })
    }
}

struct ServerStream;
impl tonic::server::ServerStreamingService<EchoRequest> for ServerStream {
    type Response = EchoResponse;
    type ResponseStream = ResponseStream;
    type Future = BoxFuture<tonic::Response<ResponseStream>, tonic::Status>;
    fn call(&mut self, req: tonic::Request<EchoRequest>) -> Self::Future {
        Box::pin(async move {
            let r = req.into_inner();
            let items = (0..r.repeat).map(move |index| {
                Ok(EchoResponse {
                    message: r.message.clone(),
                    payload: r.payload.clone(),
                    index,
                })
            });
            let stream: ResponseStream = Box::pin(futures_util::stream::iter(items));
            Ok(tonic::Response::new(stream))
        })
    }
}

struct ClientStream;
impl tonic::server::ClientStreamingService<EchoRequest> for ClientStream {
    type Response = EchoResponse;
    type Future = BoxFuture<tonic::Response<EchoResponse>, tonic::Status>;
    fn call(&mut self, req: tonic::Request<tonic::Streaming<EchoRequest>>) -> Self::Future {
        Box::pin(async move {
            let mut s = req.into_inner();
            let mut out = EchoResponse::default();
            while let Some(r) = s.message().await? {
                out.message = r.message;
                out.payload.extend_from_slice(&r.payload);
                out.index += 1;
            }
            Ok(tonic::Response::new(out))
        })
    }
}

struct Bidi;
impl tonic::server::StreamingService<EchoRequest> for Bidi {
    type Response = EchoResponse;
    type ResponseStream = ResponseStream;
    type Future = BoxFuture<tonic::Response<ResponseStream>, tonic::Status>;
    fn call(&mut self, req: tonic::Request<tonic::Streaming<EchoRequest>>) -> Self::Future {
        Box::pin(async move {
            let s = req.into_inner();
            let stream: ResponseStream = Box::pin(s.enumerate().map(|(i, r)| {
                r.map(|r| EchoResponse {
                    message: r.message,
                    payload: r.payload,
                    index: i as u32,
                })
            }));
            Ok(tonic::Response::new(stream))
        })
    }
}

fn grpc<Req, Resp>(gzip: bool) -> tonic::server::Grpc<tonic_prost::ProstCodec<Resp, Req>>
where
    Req: prost::Message + Default + 'static,
    Resp: prost::Message + Send + 'static,
{
    let grpc = tonic::server::Grpc::new(tonic_prost::ProstCodec::default())
        .accept_compressed(CompressionEncoding::Gzip);
    if gzip {
        grpc.send_compressed(CompressionEncoding::Gzip)
    } else {
        grpc
    }
}

impl<B> tonic::codegen::Service<http::Request<B>> for TonicEcho
where
    B: tonic::codegen::Body + Send + 'static,
    B::Error: Into<StdError> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = std::convert::Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let gzip = self.gzip;
        match req.uri().path() {
            "/wirestate.echo.v1.Echo/Echo" => Box::pin(async move {
                Ok(grpc::<EchoRequest, EchoResponse>(gzip)
                    .unary(Unary, req)
                    .await)
            }),
            "/wirestate.echo.v1.Echo/EchoStream" => Box::pin(async move {
                Ok(grpc::<EchoRequest, EchoResponse>(gzip)
                    .server_streaming(ServerStream, req)
                    .await)
            }),
            "/wirestate.echo.v1.Echo/EchoCollect" => Box::pin(async move {
                Ok(grpc::<EchoRequest, EchoResponse>(gzip)
                    .client_streaming(ClientStream, req)
                    .await)
            }),
            "/wirestate.echo.v1.Echo/EchoBidi" => Box::pin(async move {
                Ok(grpc::<EchoRequest, EchoResponse>(gzip)
                    .streaming(Bidi, req)
                    .await)
            }),
            _ => Box::pin(async move { Ok(tonic::Status::unimplemented("").into_http()) }),
        }
    }
}

/// Starts the tonic server on the current tokio runtime, compressing
/// responses with gzip for clients that accept it.
pub async fn start_tonic() -> SocketAddr {
    start(true).await
}

/// Starts the tonic server on the current tokio runtime, responses sent
/// uncompressed (tonic's default).
pub async fn start_tonic_plain() -> SocketAddr {
    start(false).await
}

async fn start(gzip: bool) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve(listener, gzip));
    addr
}

/// Serves the Echo service on tonic's server over `listener` until the
/// accept loop fails (see [`TonicEcho::gzip`]).
pub async fn serve(
    listener: tokio::net::TcpListener,
    gzip: bool,
) -> Result<(), tonic::transport::Error> {
    let incoming = futures_util::stream::unfold(listener, |l| async move {
        // TCP_NODELAY, as our server and tonic's own `serve` set it.
        let accepted = l.accept().await.map(|(s, _)| {
            let _ = s.set_nodelay(true);
            s
        });
        Some((accepted, l))
    });
    tonic::transport::Server::builder()
        .add_service(TonicEcho { gzip })
        .serve_with_incoming(incoming)
        .await
}
