//! tonic as the standard gRPC interop peer (grpc/grpc
//! `doc/interop-test-descriptions.md`), both ways, over h2c and over
//! gRPC-Web (tonic-web, HTTP/1.1):
//!
//! * [`serve`]: `grpc.testing.TestService` on tonic's server, routed the
//!   way tonic's code generator routes a service (no codegen; prost types
//!   from wirestate-proto); [`serve_web`] adds tonic-web's `GrpcWebLayer`
//!   and HTTP/1.1 on the same port (h2c still served);
//! * [`run_cases`]: the 18 client cases on tonic's client;
//!   [`run_web_cases`]: the ones gRPC-Web can carry ([`WEB_CASES`]) on
//!   tonic's client through tonic-web's `GrpcWebClientLayer` over
//!   hyper-util's HTTP/1.1 client.
//!
//! gRPC-Web carries unary and server-streaming calls only (a browser
//! cannot stream a request body): the client-streaming and bidi cases are
//! not run over it ([`web_unsupported`] says why). Three cases use
//! `FullDuplexCall` for half of what they check; over gRPC-Web that half
//! goes through the server-streaming `StreamingOutputCall`, which takes
//! the same `response_status`, payload and metadata echo
//! (`status_code_and_message`, `custom_metadata`), and
//! `timeout_on_sleeping_server` asks `StreamingOutputCall` for a response
//! a second away with a 1 ms deadline.
//!
//! Used by tests/tests/grpc_interop.rs and by the `tonic_interop_server` /
//! `tonic_interop_client` examples of this crate (scripts/interop-grpc.sh).
//!
//! What tonic's API does not offer, and what stands in for it here:
//!
//! * Trailing metadata on a successful call (the echoed
//!   `x-grpc-test-echo-trailing-bin`): added to the response's trailers
//!   frame by a body map, as tonic's own interop server does it.
//! * The compressed flag of a message (the CompressedRequest feature on the
//!   server, the response checks of `server_compressed_*` on the client):
//!   read off the body as it goes by ([`Flags`]); tonic decodes the
//!   messages itself.
//! * Per-message compression within a stream (`server_compressed_streaming`
//!   asks for the first message compressed and the second not): tonic
//!   compresses every message of a stream or none. The stream is
//!   compressed by tonic and the messages that must not be are
//!   decompressed and sent with the flag clear ([`Uncompress`]). Unary
//!   responses use tonic's own `SingleMessageCompressionOverride`.
//! * On the client, `client_compressed_streaming`'s second message
//!   (uncompressed on a compressed call) cannot be sent by tonic: it goes
//!   compressed with `expect_compressed` true, and the PASS line says so.

#![allow(dead_code)]

use bytes::{Buf, Bytes, BytesMut};
use futures_util::StreamExt;
use http_body_util::BodyExt;
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tonic::codec::{CompressionEncoding, SingleMessageCompressionOverride};
use tonic::codegen::{BoxFuture, StdError};
use tonic::metadata::{MetadataMap, MetadataValue};
use wirestate_proto::grpc::testing::{
    BoolValue, EchoStatus, Empty, Payload, ResponseParameters, SimpleRequest, SimpleResponse,
    StreamingInputCallRequest, StreamingInputCallResponse, StreamingOutputCallRequest,
    StreamingOutputCallResponse,
};

const ECHO_INITIAL: &str = "x-grpc-test-echo-initial";
const ECHO_TRAILING: &str = "x-grpc-test-echo-trailing-bin";

// --- message flags off the wire ---------------------------------------------

/// Reads the 5-byte message prefixes of a gRPC body as its chunks go by
/// and keeps each message's compressed flag, in order.
#[derive(Default)]
pub struct Flags {
    buf: BytesMut,
    flags: VecDeque<bool>,
}

/// [`Flags`] shared between a body and whoever checks them.
pub type FlagLog = Arc<Mutex<Flags>>;

impl Flags {
    fn feed(&mut self, chunk: &[u8]) {
        self.buf.extend_from_slice(chunk);
        while self.buf.len() >= 5 {
            let len = u32::from_be_bytes([self.buf[1], self.buf[2], self.buf[3], self.buf[4]]);
            if self.buf.len() < 5 + len as usize {
                break;
            }
            self.flags.push_back(self.buf[0] & 1 == 1);
            self.buf.advance(5 + len as usize);
        }
    }

    /// The flag of the oldest message not taken yet.
    pub fn take(&mut self) -> Option<bool> {
        self.flags.pop_front()
    }

    /// Every flag not taken yet.
    pub fn take_all(&mut self) -> Vec<bool> {
        self.flags.drain(..).collect()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// `body` with each message's flag noted in `log`.
fn tapped<B>(
    body: B,
    log: FlagLog,
) -> impl tonic::codegen::Body<Data = Bytes, Error = B::Error> + Send + 'static
where
    B: tonic::codegen::Body + Send + 'static,
    B::Data: Send,
{
    body.map_frame(move |frame| {
        frame.map_data(|mut d| {
            let bytes = d.copy_to_bytes(d.remaining());
            lock(&log).feed(&bytes);
            bytes
        })
    })
}

/// Rewrites a response body compressed by tonic so that the messages the
/// handler wanted uncompressed (`wants`, one entry per message, pushed
/// before the message is yielded) go decompressed with the flag clear.
struct Uncompress {
    buf: BytesMut,
    wants: Arc<Mutex<VecDeque<bool>>>,
}

impl Uncompress {
    fn feed(&mut self, chunk: &[u8]) -> Bytes {
        self.buf.extend_from_slice(chunk);
        let mut out = BytesMut::new();
        while self.buf.len() >= 5 {
            let len =
                u32::from_be_bytes([self.buf[1], self.buf[2], self.buf[3], self.buf[4]]) as usize;
            if self.buf.len() < 5 + len {
                break;
            }
            let message = self.buf.split_to(5 + len);
            let want = lock(&self.wants).pop_front().unwrap_or(true);
            if message[0] & 1 == 1 && !want {
                let mut plain = BytesMut::new();
                match wirestate_grpc::decompress(
                    wirestate_grpc::Encoding::Gzip,
                    &message[5..],
                    64 << 20,
                    &mut plain,
                ) {
                    Ok(()) => {
                        out.extend_from_slice(&[0]);
                        out.extend_from_slice(&(plain.len() as u32).to_be_bytes());
                        out.extend_from_slice(&plain);
                    }
                    Err(_) => out.extend_from_slice(&message),
                }
            } else {
                out.extend_from_slice(&message);
            }
        }
        out.freeze()
    }
}

// --- the server ---------------------------------------------------------------

fn payload(n: i32) -> Option<Payload> {
    Some(Payload {
        r#type: 0,
        body: vec![0; n.max(0) as usize],
    })
}

fn flag(v: &Option<BoolValue>) -> bool {
    v.as_ref().is_some_and(|v| v.value)
}

fn asked_status(s: &Option<EchoStatus>) -> Result<(), tonic::Status> {
    match s {
        Some(s) if s.code != 0 => Err(tonic::Status::new(
            tonic::Code::from_i32(s.code),
            s.message.clone(),
        )),
        _ => Ok(()),
    }
}

/// The CompressedRequest feature: a message whose `expect_compressed`
/// does not match how it came fails the call with INVALID_ARGUMENT.
fn check_compressed(expect: &Option<BoolValue>, came: Option<bool>) -> Result<(), tonic::Status> {
    match (expect, came) {
        (None, _) => Ok(()),
        (Some(_), None) => Err(tonic::Status::internal("no flag seen for this message")),
        (Some(e), Some(c)) if e.value != c => Err(tonic::Status::invalid_argument(
            "compressed request expectation not met",
        )),
        _ => Ok(()),
    }
}

fn request_flags<T>(req: &tonic::Request<T>) -> FlagLog {
    req.extensions()
        .get::<FlagLog>()
        .cloned()
        .unwrap_or_default()
}

fn echo_initial<T, U>(req: &tonic::Request<T>, resp: &mut tonic::Response<U>) {
    if let Some(v) = req.metadata().get(ECHO_INITIAL) {
        resp.metadata_mut().insert(ECHO_INITIAL, v.clone());
    }
}

type OutStream = Pin<
    Box<dyn futures_core::Stream<Item = Result<StreamingOutputCallResponse, tonic::Status>> + Send>,
>;

struct EmptyCall;
impl tonic::server::UnaryService<Empty> for EmptyCall {
    type Response = Empty;
    type Future = BoxFuture<tonic::Response<Empty>, tonic::Status>;
    fn call(&mut self, req: tonic::Request<Empty>) -> Self::Future {
        Box::pin(async move {
            let mut resp = tonic::Response::new(Empty {});
            echo_initial(&req, &mut resp);
            Ok(resp)
        })
    }
}

struct UnaryCall;
impl tonic::server::UnaryService<SimpleRequest> for UnaryCall {
    type Response = SimpleResponse;
    type Future = BoxFuture<tonic::Response<SimpleResponse>, tonic::Status>;
    fn call(&mut self, req: tonic::Request<SimpleRequest>) -> Self::Future {
        Box::pin(async move {
            let came = lock(&request_flags(&req)).take();
            let r = req.get_ref();
            check_compressed(&r.expect_compressed, came)?;
            asked_status(&r.response_status)?;
            let mut resp = tonic::Response::new(SimpleResponse {
                payload: payload(r.response_size),
                ..Default::default()
            });
            if !flag(&r.response_compressed) {
                resp.extensions_mut()
                    .insert(SingleMessageCompressionOverride::Disable);
            }
            echo_initial(&req, &mut resp);
            Ok(resp)
        })
    }
}

/// One response per parameter, each after its `interval_us`, its wanted
/// compression pushed to `wants` first.
fn stream_out(
    params: Vec<ResponseParameters>,
    wants: Arc<Mutex<VecDeque<bool>>>,
) -> impl futures_core::Stream<Item = Result<StreamingOutputCallResponse, tonic::Status>> + Send {
    futures_util::stream::unfold(params.into_iter(), move |mut it| {
        let wants = wants.clone();
        async move {
            let p = it.next()?;
            if p.interval_us > 0 {
                tokio::time::sleep(Duration::from_micros(p.interval_us as u64)).await;
            }
            lock(&wants).push_back(flag(&p.compressed));
            let m = StreamingOutputCallResponse {
                payload: payload(p.size),
            };
            Some((Ok(m), it))
        }
    })
}

struct StreamingOutputCall;
impl tonic::server::ServerStreamingService<StreamingOutputCallRequest> for StreamingOutputCall {
    type Response = StreamingOutputCallResponse;
    type ResponseStream = OutStream;
    type Future = BoxFuture<tonic::Response<OutStream>, tonic::Status>;
    fn call(&mut self, req: tonic::Request<StreamingOutputCallRequest>) -> Self::Future {
        Box::pin(async move {
            let wants = req
                .extensions()
                .get::<Arc<Mutex<VecDeque<bool>>>>()
                .cloned()
                .unwrap_or_default();
            let r = req.get_ref().clone();
            let status = r.response_status.clone();
            let out = stream_out(r.response_parameters, wants).chain(futures_util::stream::iter(
                asked_status(&status).err().map(Err),
            ));
            let mut resp = tonic::Response::new(Box::pin(out) as OutStream);
            echo_initial(&req, &mut resp);
            Ok(resp)
        })
    }
}

struct StreamingInputCall;
impl tonic::server::ClientStreamingService<StreamingInputCallRequest> for StreamingInputCall {
    type Response = StreamingInputCallResponse;
    type Future = BoxFuture<tonic::Response<StreamingInputCallResponse>, tonic::Status>;
    fn call(
        &mut self,
        req: tonic::Request<tonic::Streaming<StreamingInputCallRequest>>,
    ) -> Self::Future {
        Box::pin(async move {
            let flags = request_flags(&req);
            let initial = req.metadata().get(ECHO_INITIAL).cloned();
            let mut s = req.into_inner();
            let mut total = 0;
            while let Some(m) = s.message().await? {
                let came = lock(&flags).take();
                check_compressed(&m.expect_compressed, came)?;
                total += m.payload.map_or(0, |p| p.body.len() as i32);
            }
            let mut resp = tonic::Response::new(StreamingInputCallResponse {
                aggregated_payload_size: total,
            });
            if let Some(v) = initial {
                resp.metadata_mut().insert(ECHO_INITIAL, v);
            }
            Ok(resp)
        })
    }
}

struct FullDuplexCall;
impl tonic::server::StreamingService<StreamingOutputCallRequest> for FullDuplexCall {
    type Response = StreamingOutputCallResponse;
    type ResponseStream = OutStream;
    type Future = BoxFuture<tonic::Response<OutStream>, tonic::Status>;
    fn call(
        &mut self,
        req: tonic::Request<tonic::Streaming<StreamingOutputCallRequest>>,
    ) -> Self::Future {
        Box::pin(async move {
            let initial = req.metadata().get(ECHO_INITIAL).cloned();
            let input = req.into_inner();
            let wants: Arc<Mutex<VecDeque<bool>>> = Arc::default();
            // Each request's responses, in order; a request asking for a
            // status ends the call with it.
            let out = input.flat_map(move |r| -> OutStream {
                match r {
                    Err(s) => Box::pin(futures_util::stream::iter([Err(s)])),
                    Ok(r) => match asked_status(&r.response_status) {
                        Err(s) => Box::pin(futures_util::stream::iter([Err(s)])),
                        Ok(()) => Box::pin(stream_out(r.response_parameters, wants.clone())),
                    },
                }
            });
            // Stop after the first error (tonic ends the call with it).
            let out = out.scan(false, |failed, item| {
                let stop = *failed;
                *failed |= item.is_err();
                futures_util::future::ready((!stop).then_some(item))
            });
            let mut resp = tonic::Response::new(Box::pin(out) as OutStream);
            if let Some(v) = initial {
                resp.metadata_mut().insert(ECHO_INITIAL, v);
            }
            Ok(resp)
        })
    }
}

fn grpc<Req, Resp>() -> tonic::server::Grpc<tonic_prost::ProstCodec<Resp, Req>>
where
    Req: prost::Message + Default + 'static,
    Resp: prost::Message + Send + 'static,
{
    tonic::server::Grpc::new(tonic_prost::ProstCodec::default())
        .accept_compressed(CompressionEncoding::Gzip)
        .send_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(16 << 20)
        .max_encoding_message_size(16 << 20)
}

/// `grpc.testing.TestService` on tonic, as tonic's code generator would
/// route it, plus the interop server's echo of trailing metadata.
#[derive(Clone)]
pub struct TonicTestService;

impl tonic::server::NamedService for TonicTestService {
    const NAME: &'static str = "grpc.testing.TestService";
}

type HttpResponse = http::Response<tonic::body::Body>;

impl<B> tonic::codegen::Service<http::Request<B>> for TonicTestService
where
    B: tonic::codegen::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<StdError> + Send + 'static,
{
    type Response = HttpResponse;
    type Error = std::convert::Infallible;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let trailing = req.headers().get(ECHO_TRAILING).cloned();
        let log = FlagLog::default();
        let wants: Arc<Mutex<VecDeque<bool>>> = Arc::default();
        let path = req.uri().path().to_owned();
        let (mut parts, body) = req.into_parts();
        parts.extensions.insert(log.clone());
        parts.extensions.insert(wants.clone());
        let req = http::Request::from_parts(parts, tapped(body, log));
        Box::pin(async move {
            let resp: HttpResponse = match path.as_str() {
                "/grpc.testing.TestService/EmptyCall" => grpc().unary(EmptyCall, req).await,
                "/grpc.testing.TestService/UnaryCall"
                | "/grpc.testing.TestService/CacheableUnaryCall" => {
                    grpc().unary(UnaryCall, req).await
                }
                "/grpc.testing.TestService/StreamingOutputCall" => {
                    let resp = grpc().server_streaming(StreamingOutputCall, req).await;
                    let mut rewrite = Uncompress {
                        buf: BytesMut::new(),
                        wants,
                    };
                    resp.map(|b| {
                        tonic::body::Body::new(b.map_frame(move |f| {
                            f.map_data(|mut d| rewrite.feed(&d.copy_to_bytes(d.remaining())))
                        }))
                    })
                }
                "/grpc.testing.TestService/StreamingInputCall" => {
                    grpc().client_streaming(StreamingInputCall, req).await
                }
                "/grpc.testing.TestService/FullDuplexCall" => {
                    grpc().streaming(FullDuplexCall, req).await
                }
                _ => tonic::Status::unimplemented("").into_http(),
            };
            // The echoed trailing metadata, in the trailers frame (or the
            // head of a trailers-only response).
            let Some(value) = trailing else {
                return Ok(resp);
            };
            let (mut parts, body) = resp.into_parts();
            if parts.headers.contains_key("grpc-status") {
                parts.headers.insert(ECHO_TRAILING, value);
                return Ok(http::Response::from_parts(parts, body));
            }
            let body = body.map_frame(move |mut f| {
                if let Some(t) = f.trailers_mut() {
                    t.insert(ECHO_TRAILING, value.clone());
                }
                f
            });
            Ok(http::Response::from_parts(
                parts,
                tonic::body::Body::new(body),
            ))
        })
    }
}

/// Serves [`TonicTestService`] on `listener` until the runtime ends.
pub async fn serve(listener: tokio::net::TcpListener) {
    let _ = tonic::transport::Server::builder()
        .add_service(TonicTestService)
        .serve_with_incoming(incoming(listener))
        .await;
}

/// Serves [`TonicTestService`] on `listener` until the runtime ends, with
/// tonic-web: gRPC-Web (binary and text) over HTTP/1.1, and gRPC over h2c
/// as [`serve`] does (tonic-web passes HTTP/2 requests through).
pub async fn serve_web(listener: tokio::net::TcpListener) {
    let _ = tonic::transport::Server::builder()
        .accept_http1(true)
        .layer(tonic_web::GrpcWebLayer::new())
        .add_service(TonicTestService)
        .serve_with_incoming(incoming(listener))
        .await;
}

fn incoming(
    listener: tokio::net::TcpListener,
) -> impl futures_core::Stream<Item = std::io::Result<tokio::net::TcpStream>> {
    futures_util::stream::unfold(listener, |l| async move {
        let accepted = l.accept().await.map(|(s, _)| {
            let _ = s.set_nodelay(true);
            s
        });
        Some((accepted, l))
    })
}

/// Starts [`serve`] on 127.0.0.1 (a free port) on the current runtime.
pub async fn start() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve(listener));
    addr
}

/// Starts [`serve_web`] on 127.0.0.1 (a free port) on the current runtime.
pub async fn start_web() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve_web(listener));
    addr
}

// --- the client -----------------------------------------------------------------

/// tonic-web's client over hyper-util's HTTP/1.1 client (the pairing
/// tonic-web documents for clients outside a browser).
type WebClient = tonic_web::GrpcWebClientService<
    hyper_util::client::legacy::Client<
        hyper_util::client::legacy::connect::HttpConnector,
        tonic_web::GrpcWebCall<tonic::body::Body>,
    >,
>;

/// How tonic's client reaches the server.
#[derive(Clone)]
enum Transport {
    /// gRPC over h2c: tonic's own channel.
    H2(tonic::transport::Channel),
    /// gRPC-Web over HTTP/1.1: tonic-web's client layer (boxed: the
    /// hyper-util client is large and cloned per call).
    Web(Box<WebClient>),
}

/// A tonic channel whose response bodies go through a [`Flags`] tap.
#[derive(Clone)]
pub struct TapChannel {
    inner: Transport,
    log: FlagLog,
}

impl tonic::codegen::Service<http::Request<tonic::body::Body>> for TapChannel {
    type Response = HttpResponse;
    type Error = StdError;
    type Future = BoxFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        match &mut self.inner {
            Transport::H2(c) => c.poll_ready(cx).map_err(Into::into),
            Transport::Web(c) => c.poll_ready(cx).map_err(Into::into),
        }
    }

    fn call(&mut self, req: http::Request<tonic::body::Body>) -> Self::Future {
        let log = self.log.clone();
        match &mut self.inner {
            Transport::H2(c) => {
                let fut = c.call(req);
                Box::pin(async move {
                    let resp = fut.await?;
                    Ok(resp.map(|b| tonic::body::Body::new(tapped(b, log))))
                })
            }
            Transport::Web(c) => {
                let fut = c.call(req);
                Box::pin(async move {
                    let resp = fut.await?;
                    Ok(resp.map(|b| tonic::body::Body::new(tapped(b, log))))
                })
            }
        }
    }
}

type Client = tonic::client::Grpc<TapChannel>;

/// A case's outcome: a note for the PASS line, or why it failed.
pub type Outcome = Result<Option<&'static str>, String>;

/// The 18 cases, in the order they run: the same list as our interop
/// client's. (The server binary including this module does not use it.)
#[allow(unused_imports)]
pub use wirestate_examples::grpc::interop::CASES;

/// The cases gRPC-Web can carry (unary and server-streaming calls), in
/// the order they run, and why the others cannot (client-streaming and
/// bidi calls): the same lists as our gRPC-Web interop client's. (Each
/// binary including this module uses one or the other.)
#[allow(unused_imports)]
pub use wirestate_examples::grpc_web::interop::{
    CASES as WEB_CASES, unsupported as web_unsupported,
};

macro_rules! ensure {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            return Err(format!($($msg)+));
        }
    };
}

fn st(s: tonic::Status) -> String {
    format!("{:?}: {}", s.code(), s.message())
}

fn body_len(p: &Option<Payload>) -> Result<usize, String> {
    let body = p.as_ref().map_or(&[][..], |p| &p.body[..]);
    ensure!(body.iter().all(|&b| b == 0), "payload not all zeros");
    Ok(body.len())
}

fn method(name: &str) -> http::uri::PathAndQuery {
    format!("/grpc.testing.TestService/{name}").parse().unwrap()
}

fn codec<Req, Resp>() -> tonic_prost::ProstCodec<Req, Resp> {
    tonic_prost::ProstCodec::default()
}

fn yes(value: bool) -> Option<BoolValue> {
    Some(BoolValue { value })
}

const SPECIAL: &str = "\t\ntest with whitespace\r\nand Unicode BMP ☺ and non-BMP 😈\t\n";

struct Peer {
    channel: Transport,
    /// `http://host:port`: the origin requests go to (tonic's channel
    /// knows it; hyper-util's client wants absolute URIs).
    origin: http::Uri,
    log: FlagLog,
}

impl Peer {
    fn web(&self) -> bool {
        matches!(self.channel, Transport::Web(_))
    }

    fn client(&self) -> Client {
        tonic::client::Grpc::with_origin(
            TapChannel {
                inner: self.channel.clone(),
                log: self.log.clone(),
            },
            self.origin.clone(),
        )
        .accept_compressed(CompressionEncoding::Gzip)
        .max_decoding_message_size(16 << 20)
    }

    async fn unary<Req, Resp>(
        &self,
        c: &mut Client,
        name: &str,
        req: tonic::Request<Req>,
    ) -> Result<tonic::Response<Resp>, tonic::Status>
    where
        Req: prost::Message + Send + Sync + 'static,
        Resp: prost::Message + Default + Send + Sync + 'static,
    {
        c.ready()
            .await
            .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
        c.unary(req, method(name), codec::<Req, Resp>()).await
    }

    async fn server_streaming<Req, Resp>(
        &self,
        c: &mut Client,
        name: &str,
        req: tonic::Request<Req>,
    ) -> Result<tonic::Response<tonic::Streaming<Resp>>, tonic::Status>
    where
        Req: prost::Message + Send + Sync + 'static,
        Resp: prost::Message + Default + Send + Sync + 'static,
    {
        c.ready()
            .await
            .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
        c.server_streaming(req, method(name), codec::<Req, Resp>())
            .await
    }

    async fn streaming<Req, Resp>(
        &self,
        c: &mut Client,
        name: &str,
        req: tonic::Request<impl futures_core::Stream<Item = Req> + Send + 'static>,
    ) -> Result<tonic::Response<tonic::Streaming<Resp>>, tonic::Status>
    where
        Req: prost::Message + Send + Sync + 'static,
        Resp: prost::Message + Default + Send + Sync + 'static,
    {
        c.ready()
            .await
            .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
        c.streaming(req, method(name), codec::<Req, Resp>()).await
    }
}

/// Connects to `addr` over h2c and runs `cases` (names from [`CASES`]),
/// each bounded to 10 s, on one channel.
pub async fn run_cases(addr: SocketAddr, cases: &[&'static str]) -> Vec<(&'static str, Outcome)> {
    let origin: http::Uri = format!("http://{addr}").parse().unwrap();
    let channel = match tonic::transport::Endpoint::from(origin.clone())
        .tcp_nodelay(true)
        .connect()
        .await
    {
        Ok(c) => c,
        Err(e) => {
            return cases
                .iter()
                .map(|c| (*c, Err(format!("connect: {e}"))))
                .collect();
        }
    };
    let peer = Peer {
        channel: Transport::H2(channel),
        origin,
        log: FlagLog::default(),
    };
    run_on(&peer, cases).await
}

/// Runs `cases` (names from [`WEB_CASES`]; the others fail with
/// [`web_unsupported`]'s reason) over gRPC-Web to `addr`, each bounded to
/// 10 s: tonic's client through tonic-web's `GrpcWebClientLayer` over
/// hyper-util's HTTP/1.1 client (keep-alive, one connection at a time).
pub async fn run_web_cases(
    addr: SocketAddr,
    cases: &[&'static str],
) -> Vec<(&'static str, Outcome)> {
    let mut connector = hyper_util::client::legacy::connect::HttpConnector::new();
    connector.set_nodelay(true);
    let http1 = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build(connector);
    let peer = Peer {
        channel: Transport::Web(Box::new(tonic_web::GrpcWebClientService::new(http1))),
        origin: format!("http://{addr}").parse().unwrap(),
        log: FlagLog::default(),
    };
    run_on(&peer, cases).await
}

async fn run_on(peer: &Peer, cases: &[&'static str]) -> Vec<(&'static str, Outcome)> {
    let mut out = Vec::new();
    for &case in cases {
        if let Some(why) = web_unsupported(case).filter(|_| peer.web()) {
            out.push((case, Err(format!("not run over gRPC-Web: {why}"))));
            continue;
        }
        let r = tokio::time::timeout(Duration::from_secs(10), run_case(peer, case))
            .await
            .unwrap_or_else(|_| Err("timed out".into()));
        out.push((case, r));
    }
    out
}

async fn run_case(p: &Peer, case: &str) -> Outcome {
    let r = match case {
        "empty_unary" => empty_unary(p).await,
        "large_unary" => large_unary(p).await,
        "client_streaming" => client_streaming(p).await,
        "server_streaming" => server_streaming(p).await,
        "ping_pong" => ping_pong(p).await,
        "empty_stream" => empty_stream(p).await,
        "status_code_and_message" => status_code_and_message(p).await,
        "special_status_message" => special_status_message(p).await,
        "custom_metadata" => custom_metadata(p).await,
        "unimplemented_method" => unimplemented_method(p).await,
        "unimplemented_service" => unimplemented_service(p).await,
        "timeout_on_sleeping_server" => timeout_on_sleeping_server(p).await,
        "cancel_after_begin" => cancel_after_begin(p).await,
        "cancel_after_first_response" => cancel_after_first_response(p).await,
        "client_compressed_unary" => client_compressed_unary(p).await,
        "server_compressed_unary" => server_compressed_unary(p).await,
        "client_compressed_streaming" => return client_compressed_streaming(p).await,
        "server_compressed_streaming" => server_compressed_streaming(p).await,
        other => Err(format!("unknown test case {other:?}")),
    };
    r.map(|()| None)
}

fn expect<T>(
    r: Result<T, tonic::Status>,
    code: tonic::Code,
    message: Option<&str>,
) -> Result<(), String> {
    match r {
        Ok(_) => Err(format!("no error, want {code:?}")),
        Err(s) => {
            ensure!(s.code() == code, "{}, want {code:?}", st(s));
            if let Some(m) = message {
                ensure!(s.message() == m, "message {:?}", s.message());
            }
            Ok(())
        }
    }
}

async fn empty_unary(p: &Peer) -> Result<(), String> {
    let r: tonic::Response<Empty> = p
        .unary(&mut p.client(), "EmptyCall", tonic::Request::new(Empty {}))
        .await
        .map_err(st)?;
    ensure!(r.into_inner() == Empty {}, "not empty");
    Ok(())
}

fn large_request() -> SimpleRequest {
    SimpleRequest {
        response_size: 314_159,
        payload: payload(271_828),
        ..Default::default()
    }
}

async fn large_unary(p: &Peer) -> Result<(), String> {
    let r: tonic::Response<SimpleResponse> = p
        .unary(
            &mut p.client(),
            "UnaryCall",
            tonic::Request::new(large_request()),
        )
        .await
        .map_err(st)?;
    ensure!(
        body_len(&r.into_inner().payload)? == 314_159,
        "payload size"
    );
    Ok(())
}

async fn client_compressed_unary(p: &Peer) -> Result<(), String> {
    let req = |expect| SimpleRequest {
        expect_compressed: yes(expect),
        ..large_request()
    };
    // The feature probe, uncompressed.
    let r: Result<tonic::Response<SimpleResponse>, _> = p
        .unary(&mut p.client(), "UnaryCall", tonic::Request::new(req(true)))
        .await;
    expect(r, tonic::Code::InvalidArgument, None).map_err(|e| format!("probe: {e}"))?;
    let mut gz = p.client().send_compressed(CompressionEncoding::Gzip);
    let r: tonic::Response<SimpleResponse> = p
        .unary(&mut gz, "UnaryCall", tonic::Request::new(req(true)))
        .await
        .map_err(|e| format!("compressed: {}", st(e)))?;
    ensure!(
        body_len(&r.into_inner().payload)? == 314_159,
        "payload size"
    );
    let r: tonic::Response<SimpleResponse> = p
        .unary(
            &mut p.client(),
            "UnaryCall",
            tonic::Request::new(req(false)),
        )
        .await
        .map_err(|e| format!("uncompressed: {}", st(e)))?;
    ensure!(
        body_len(&r.into_inner().payload)? == 314_159,
        "payload size"
    );
    Ok(())
}

async fn server_compressed_unary(p: &Peer) -> Result<(), String> {
    for compressed in [true, false] {
        lock(&p.log).take_all();
        let req = SimpleRequest {
            response_compressed: yes(compressed),
            ..large_request()
        };
        let r: tonic::Response<SimpleResponse> = p
            .unary(&mut p.client(), "UnaryCall", tonic::Request::new(req))
            .await
            .map_err(st)?;
        ensure!(
            body_len(&r.into_inner().payload)? == 314_159,
            "payload size"
        );
        let flags = lock(&p.log).take_all();
        ensure!(
            flags == [compressed],
            "response_compressed {compressed}: flags {flags:?}"
        );
    }
    Ok(())
}

async fn client_streaming(p: &Peer) -> Result<(), String> {
    let msgs: Vec<_> = [27_182, 8, 1_828, 45_904]
        .into_iter()
        .map(|n| StreamingInputCallRequest {
            payload: payload(n),
            ..Default::default()
        })
        .collect();
    let mut c = p.client();
    c.ready().await.map_err(|e| e.to_string())?;
    let r: tonic::Response<StreamingInputCallResponse> = c
        .client_streaming(
            tonic::Request::new(futures_util::stream::iter(msgs)),
            method("StreamingInputCall"),
            codec(),
        )
        .await
        .map_err(st)?;
    let n = r.into_inner().aggregated_payload_size;
    ensure!(n == 74_922, "aggregated {n}");
    Ok(())
}

async fn client_compressed_streaming(p: &Peer) -> Outcome {
    let probe = StreamingInputCallRequest {
        expect_compressed: yes(true),
        payload: payload(27_182),
    };
    let mut c = p.client();
    c.ready().await.map_err(|e| e.to_string())?;
    let r: Result<tonic::Response<StreamingInputCallResponse>, _> = c
        .client_streaming(
            tonic::Request::new(futures_util::stream::iter([probe.clone()])),
            method("StreamingInputCall"),
            codec(),
        )
        .await;
    expect(r, tonic::Code::InvalidArgument, None).map_err(|e| format!("probe: {e}"))?;
    // tonic compresses every message of a call or none: the second goes
    // compressed too, and says so.
    let second = StreamingInputCallRequest {
        expect_compressed: yes(true),
        payload: payload(45_904),
    };
    let mut gz = p.client().send_compressed(CompressionEncoding::Gzip);
    gz.ready().await.map_err(|e| e.to_string())?;
    let r: tonic::Response<StreamingInputCallResponse> = gz
        .client_streaming(
            tonic::Request::new(futures_util::stream::iter([probe, second])),
            method("StreamingInputCall"),
            codec(),
        )
        .await
        .map_err(st)?;
    let n = r.into_inner().aggregated_payload_size;
    ensure!(n == 73_086, "aggregated {n}");
    Ok(Some(
        "second message compressed too: tonic has no per-message switch",
    ))
}

fn sized(sizes: &[i32]) -> StreamingOutputCallRequest {
    StreamingOutputCallRequest {
        response_parameters: sizes
            .iter()
            .map(|&size| ResponseParameters {
                size,
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

async fn server_streaming(p: &Peer) -> Result<(), String> {
    let sizes = [31_415, 9, 2_653, 58_979];
    let mut c = p.client();
    c.ready().await.map_err(|e| e.to_string())?;
    let mut s = c
        .server_streaming(
            tonic::Request::new(sized(&sizes)),
            method("StreamingOutputCall"),
            codec::<_, StreamingOutputCallResponse>(),
        )
        .await
        .map_err(st)?
        .into_inner();
    let mut got = Vec::new();
    while let Some(m) = s.message().await.map_err(st)? {
        got.push(body_len(&m.payload)? as i32);
    }
    ensure!(got == sizes, "sizes {got:?}");
    Ok(())
}

async fn server_compressed_streaming(p: &Peer) -> Result<(), String> {
    let wanted = [(true, 31_415), (false, 92_653)];
    let req = StreamingOutputCallRequest {
        response_parameters: wanted
            .iter()
            .map(|&(c, size)| ResponseParameters {
                size,
                compressed: yes(c),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    };
    lock(&p.log).take_all();
    let mut c = p.client();
    c.ready().await.map_err(|e| e.to_string())?;
    let mut s = c
        .server_streaming(
            tonic::Request::new(req),
            method("StreamingOutputCall"),
            codec::<_, StreamingOutputCallResponse>(),
        )
        .await
        .map_err(st)?
        .into_inner();
    let mut sizes = Vec::new();
    while let Some(m) = s.message().await.map_err(st)? {
        sizes.push(body_len(&m.payload)? as i32);
    }
    let flags = lock(&p.log).take_all();
    let got: Vec<(bool, i32)> = flags.into_iter().zip(sizes).collect();
    ensure!(got == wanted, "(compressed, size) {got:?}, want {wanted:?}");
    Ok(())
}

/// A request stream fed from the test, for the bidi cases.
fn pipe<T: Send + 'static>() -> (
    tokio::sync::mpsc::UnboundedSender<T>,
    impl futures_core::Stream<Item = T> + Send + 'static,
) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let stream =
        futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|m| (m, rx)) });
    (tx, stream)
}

async fn ping_pong(p: &Peer) -> Result<(), String> {
    let (tx, rx) = pipe();
    let mut c = p.client();
    let mut s = p
        .streaming::<StreamingOutputCallRequest, StreamingOutputCallResponse>(
            &mut c,
            "FullDuplexCall",
            tonic::Request::new(rx),
        )
        .await
        .map_err(st)?
        .into_inner();
    for (rsize, psize) in [(31_415, 27_182), (9, 8), (2_653, 1_828), (58_979, 45_904)] {
        let mut req = sized(&[rsize]);
        req.payload = payload(psize);
        tx.send(req).map_err(|_| "request stream closed")?;
        let m = s.message().await.map_err(st)?.ok_or("no response")?;
        ensure!(body_len(&m.payload)? == rsize as usize, "size");
    }
    drop(tx);
    ensure!(s.message().await.map_err(st)?.is_none(), "extra response");
    Ok(())
}

async fn empty_stream(p: &Peer) -> Result<(), String> {
    let mut c = p.client();
    let mut s = p
        .streaming::<StreamingOutputCallRequest, StreamingOutputCallResponse>(
            &mut c,
            "FullDuplexCall",
            tonic::Request::new(futures_util::stream::empty()),
        )
        .await
        .map_err(st)?
        .into_inner();
    ensure!(s.message().await.map_err(st)?.is_none(), "a response");
    Ok(())
}

fn with_status(message: &str) -> Option<EchoStatus> {
    Some(EchoStatus {
        code: 2,
        message: message.into(),
    })
}

async fn status_code_and_message(p: &Peer) -> Result<(), String> {
    let req = SimpleRequest {
        response_status: with_status("test status message"),
        ..Default::default()
    };
    let r: Result<tonic::Response<SimpleResponse>, _> = p
        .unary(&mut p.client(), "UnaryCall", tonic::Request::new(req))
        .await;
    expect(r, tonic::Code::Unknown, Some("test status message"))?;
    let req = StreamingOutputCallRequest {
        response_status: with_status("test status message"),
        ..Default::default()
    };
    if p.web() {
        // No FullDuplexCall over gRPC-Web: the server-streaming call
        // takes the same status request.
        let r = p
            .server_streaming::<_, StreamingOutputCallResponse>(
                &mut p.client(),
                "StreamingOutputCall",
                tonic::Request::new(req),
            )
            .await;
        let r = match r {
            Ok(s) => s.into_inner().message().await,
            Err(e) => Err(e),
        };
        return expect(r, tonic::Code::Unknown, Some("test status message"));
    }
    let mut c = p.client();
    let r = p
        .streaming::<_, StreamingOutputCallResponse>(
            &mut c,
            "FullDuplexCall",
            tonic::Request::new(futures_util::stream::iter([req])),
        )
        .await;
    let r = match r {
        Ok(s) => s.into_inner().message().await,
        Err(e) => Err(e),
    };
    expect(r, tonic::Code::Unknown, Some("test status message"))
}

async fn special_status_message(p: &Peer) -> Result<(), String> {
    let req = SimpleRequest {
        response_status: with_status(SPECIAL),
        ..Default::default()
    };
    let r: Result<tonic::Response<SimpleResponse>, _> = p
        .unary(&mut p.client(), "UnaryCall", tonic::Request::new(req))
        .await;
    expect(r, tonic::Code::Unknown, Some(SPECIAL))
}

fn echo_metadata(md: &mut MetadataMap) {
    md.insert(ECHO_INITIAL, "test_initial_metadata_value".parse().unwrap());
    md.insert_bin(ECHO_TRAILING, MetadataValue::from_bytes(b"\xab\xab\xab"));
}

fn check_echo(initial: &MetadataMap, trailing: &MetadataMap) -> Result<(), String> {
    ensure!(
        initial.get(ECHO_INITIAL).and_then(|v| v.to_str().ok())
            == Some("test_initial_metadata_value"),
        "initial metadata {initial:?}"
    );
    let t = trailing
        .get_bin(ECHO_TRAILING)
        .and_then(|v| v.to_bytes().ok());
    ensure!(
        t.as_deref() == Some(&b"\xab\xab\xab"[..]),
        "trailing metadata {trailing:?}"
    );
    Ok(())
}

async fn custom_metadata(p: &Peer) -> Result<(), String> {
    let mut req = tonic::Request::new(large_request());
    echo_metadata(req.metadata_mut());
    let r: tonic::Response<SimpleResponse> = p
        .unary(&mut p.client(), "UnaryCall", req)
        .await
        .map_err(st)?;
    // tonic merges a unary response's trailers into its metadata.
    check_echo(r.metadata(), r.metadata())?;
    let mut first = sized(&[314_159]);
    first.payload = payload(271_828);
    let r = if p.web() {
        // No FullDuplexCall over gRPC-Web: the same request and metadata
        // on the server-streaming call.
        let mut req = tonic::Request::new(first);
        echo_metadata(req.metadata_mut());
        p.server_streaming::<_, StreamingOutputCallResponse>(
            &mut p.client(),
            "StreamingOutputCall",
            req,
        )
        .await
    } else {
        let mut req = tonic::Request::new(futures_util::stream::iter([first]));
        echo_metadata(req.metadata_mut());
        let mut c = p.client();
        p.streaming::<_, StreamingOutputCallResponse>(&mut c, "FullDuplexCall", req)
            .await
    }
    .map_err(st)?;
    let initial = r.metadata().clone();
    let mut s = r.into_inner();
    ensure!(s.message().await.map_err(st)?.is_some(), "no response");
    ensure!(s.message().await.map_err(st)?.is_none(), "extra response");
    let trailing = s.trailers().await.map_err(st)?.ok_or("no trailers")?;
    check_echo(&initial, &trailing)
}

async fn timeout_on_sleeping_server(p: &Peer) -> Result<(), String> {
    if p.web() {
        // No FullDuplexCall over gRPC-Web: a server-streaming call whose
        // only response is due a second later, with a 1 ms deadline that
        // the server enforces (tonic's client sends grpc-timeout; over
        // hyper-util it keeps no timer of its own).
        let mut req = tonic::Request::new(StreamingOutputCallRequest {
            response_parameters: vec![ResponseParameters {
                size: 1,
                interval_us: 1_000_000,
                ..Default::default()
            }],
            payload: payload(27_182),
            ..Default::default()
        });
        req.set_timeout(Duration::from_millis(1));
        let r = p
            .server_streaming::<_, StreamingOutputCallResponse>(
                &mut p.client(),
                "StreamingOutputCall",
                req,
            )
            .await;
        let r = match r {
            Ok(s) => s.into_inner().message().await,
            Err(e) => Err(e),
        };
        return expect(r, tonic::Code::DeadlineExceeded, None);
    }
    let (tx, rx) = pipe();
    let req = StreamingOutputCallRequest {
        payload: payload(27_182),
        ..Default::default()
    };
    let _ = tx.send(req);
    let mut req = tonic::Request::new(rx);
    // tonic sends grpc-timeout; the server enforces it.
    req.set_timeout(Duration::from_millis(1));
    let mut c = p.client();
    let r = p
        .streaming::<_, StreamingOutputCallResponse>(&mut c, "FullDuplexCall", req)
        .await;
    let r = match r {
        Ok(s) => s.into_inner().message().await,
        Err(e) => Err(e),
    };
    drop(tx);
    expect(r, tonic::Code::DeadlineExceeded, None)
}

async fn cancel_after_begin(p: &Peer) -> Result<(), String> {
    let (tx, rx) = pipe::<StreamingInputCallRequest>();
    let mut c = p.client();
    c.ready().await.map_err(|e| e.to_string())?;
    let call = c.client_streaming::<_, _, StreamingInputCallResponse, _>(
        tonic::Request::new(rx),
        method("StreamingInputCall"),
        codec(),
    );
    // tonic cancels a call by dropping it: give the request head time to
    // go out, then drop the call (RST_STREAM CANCEL).
    let r = tokio::time::timeout(Duration::from_millis(100), call).await;
    ensure!(r.is_err(), "the call ended before it was cancelled: {r:?}");
    drop(tx);
    // The connection goes on serving.
    empty_unary(p).await
}

async fn cancel_after_first_response(p: &Peer) -> Result<(), String> {
    let (tx, rx) = pipe();
    let mut c = p.client();
    let mut s = p
        .streaming::<StreamingOutputCallRequest, StreamingOutputCallResponse>(
            &mut c,
            "FullDuplexCall",
            tonic::Request::new(rx),
        )
        .await
        .map_err(st)?
        .into_inner();
    let mut req = sized(&[31_415]);
    req.payload = payload(27_182);
    tx.send(req).map_err(|_| "request stream closed")?;
    let m = s.message().await.map_err(st)?.ok_or("no response")?;
    ensure!(body_len(&m.payload)? == 31_415, "size");
    // Dropping the response stream cancels the call.
    drop(s);
    drop(tx);
    empty_unary(p).await
}

async fn unimplemented_method(p: &Peer) -> Result<(), String> {
    let r: Result<tonic::Response<Empty>, _> = p
        .unary(
            &mut p.client(),
            "UnimplementedCall",
            tonic::Request::new(Empty {}),
        )
        .await;
    expect(r, tonic::Code::Unimplemented, None)
}

async fn unimplemented_service(p: &Peer) -> Result<(), String> {
    let mut c = p.client();
    c.ready().await.map_err(|e| e.to_string())?;
    let r: Result<tonic::Response<Empty>, _> = c
        .unary(
            tonic::Request::new(Empty {}),
            "/grpc.testing.UnimplementedService/UnimplementedCall"
                .parse()
                .unwrap(),
            codec::<Empty, Empty>(),
        )
        .await;
    expect(r, tonic::Code::Unimplemented, None)
}
