//! `wirestate grpc`: a small grpcurl for the services compiled into
//! wirestate-proto (the interop `grpc.testing` services, `grpc.health.v1`,
//! `wirestate.echo.v1`).
//!
//! ```text
//! wirestate grpc [--runtime tokio|smol|blocking] [--web[=binary|text] | --web-text] [-H 'k: v']... [--timeout D] HOST:PORT list
//! wirestate grpc [--runtime tokio|smol|blocking] [--web[=binary|text] | --web-text] [-H 'k: v']... [--timeout D] [--wait-for-ready] HOST:PORT /pkg.Service/Method [JSON | @FILE | @]
//! wirestate grpc [OPTIONS] -d (JSON | @FILE | @) HOST:PORT /pkg.Service/Method
//! wirestate grpc [OPTIONS] HOST:PORT list [pkg.Service]
//! wirestate grpc [OPTIONS] HOST:PORT describe (pkg.Service | pkg.Service.Method | pkg.Message | pkg.Enum)
//! ```
//!
//! Like grpcurl, `list` and `describe` ask the server's reflection service
//! (`grpc.reflection.v1`, or `v1alpha`), and a method that is not compiled
//! in is called with the descriptors reflection gives; a server without
//! reflection gets the compiled-in services (said on stderr).
//!
//! Messages go in and out as JSON with the proto3 JSON mapping
//! (lowerCamelCase names, 64-bit integers as strings, bytes as base64),
//! through `prost-reflect` dynamic messages over
//! [`wirestate_proto::FILE_DESCRIPTOR_SET`] — so every method of every
//! compiled-in service can be called without generated code here. The
//! request is one JSON object (`{}` when left out); for client- and
//! bidi-streaming methods, a sequence of JSON objects, each sent as one
//! message. As with grpcurl's `-d`, `@FILE` reads the JSON from a file
//! and `@` from stdin, so large requests need not fit in an argument.
//! Every response message is printed as one line of JSON; a status other
//! than OK goes to stderr as `ERROR: code=NAME message=...`, followed by
//! its `grpc-status-details-bin` decoded as a `google.rpc.Status` (code,
//! message, and each detail's type URL: as JSON when the type is
//! compiled in, else its length), and the exit status is 1. `--web` speaks gRPC-Web over HTTP/1.1
//! (unary and server-streaming methods, as browsers can; binary
//! `application/grpc-web`, or base64 `application/grpc-web-text` with
//! `--web=text` or `--web-text`), otherwise gRPC over h2c with prior
//! knowledge. `--tls` (with `--cacert`) puts either on TLS, the
//! certificate checked against HOST.

// `Status` is every gRPC call's error type.
#![allow(clippy::result_large_err)]

use crate::grpc_reflect::Failure;
use bytes::{Buf, BufMut};
use prost::encoding::{DecodeContext, WireType};
use prost_reflect::{DescriptorPool, DynamicMessage, MessageDescriptor, MethodDescriptor};
use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;
use wirestate_grpc::{Code, Metadata, MethodPath, Status, WebMode};

/// Which runtime drives the call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rt {
    /// tokio (current-thread).
    Tokio,
    /// smol.
    Smol,
    /// Blocking threads (`wirestate_blocking`).
    Blocking,
}

/// `wirestate grpc`'s options.
#[derive(Debug, Clone)]
pub struct Options {
    /// Which runtime drives the call.
    pub runtime: Rt,
    /// gRPC-Web over HTTP/1.1 (binary or text) instead of gRPC over h2c.
    pub web: Option<WebMode>,
    /// Metadata, `key: value` each (`-bin` keys take base64 values).
    pub headers: Vec<String>,
    /// The call's deadline (sent as `grpc-timeout`, enforced here).
    pub timeout: Option<Duration>,
    /// Wait for the server to be reachable (gRPC wait-for-ready, the
    /// channel reconnecting with backoff) until the deadline, instead of
    /// failing UNAVAILABLE at once; gRPC over h2 only.
    pub wait_for_ready: bool,
    /// The request as `-d` gave it: JSON, `@FILE` or `@` (stdin); instead
    /// of the JSON argument.
    pub data: Option<String>,
    /// gRPC over TLS (ALPN h2) with this client config, instead of h2c
    /// (`--tls`); with `web`, gRPC-Web over TLS (ALPN http/1.1).
    pub tls: Option<std::sync::Arc<wirestate_rt::tls::rustls::ClientConfig>>,
}

/// A blocking gRPC channel to `addr` for `target` (`HOST:PORT`), h2c or
/// over TLS (the certificate checked against HOST, ALPN h2 required).
pub(crate) fn blocking_channel(
    addr: SocketAddr,
    target: &str,
    tls: Option<&std::sync::Arc<wirestate_rt::tls::rustls::ClientConfig>>,
) -> Result<wirestate_blocking::grpc::Channel, Status> {
    use wirestate_blocking::grpc::Channel;
    let Some(config) = tls else {
        return Channel::connect_to(addr, target);
    };
    Channel::builder(target)
        .tls(config.clone(), tls_name(target)?)
        .connect()
}

/// The name a server's certificate must carry: HOST of `target`
/// (`HOST:PORT`).
fn tls_name(
    target: &str,
) -> Result<wirestate_rt::tls::rustls::pki_types::ServerName<'static>, Status> {
    let host = target.rsplit_once(':').map_or(target, |(host, _)| host);
    wirestate_rt::tls::server_name(host)
        .map_err(|e| Status::new(Code::InvalidArgument, e.to_string()))
}

/// An HTTP/2 connection to `addr` for `target` (`HOST:PORT`), h2c or over
/// TLS (the certificate checked against HOST, ALPN h2 required as gRPC
/// requires it), its driver spawned.
pub(crate) async fn h2_connect<R: wirestate_rt::Runtime>(
    rt: &R,
    addr: SocketAddr,
    target: &str,
    tls: Option<&std::sync::Arc<wirestate_rt::tls::rustls::ClientConfig>>,
) -> Result<wirestate_rt::h2::SendRequest, Status> {
    let unavailable =
        |e: std::io::Error| Status::new(Code::Unavailable, format!("connecting to {target}: {e}"));
    let Some(config) = tls else {
        let io = rt.connect(addr).await.map_err(unavailable)?;
        return Ok(wirestate_rt::h2::start(rt, io, Default::default()));
    };
    let name = tls_name(target)?;
    wirestate_rt::h2::connect_tls(rt, addr, config.clone(), name, Default::default())
        .await
        .map_err(unavailable)
}

/// How a method streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Unary,
    ServerStreaming,
    ClientStreaming,
    Bidi,
}

impl Kind {
    fn of(m: &MethodDescriptor) -> Kind {
        match (m.is_client_streaming(), m.is_server_streaming()) {
            (false, false) => Kind::Unary,
            (false, true) => Kind::ServerStreaming,
            (true, false) => Kind::ClientStreaming,
            (true, true) => Kind::Bidi,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Kind::Unary => "unary",
            Kind::ServerStreaming => "server-streaming",
            Kind::ClientStreaming => "client-streaming",
            Kind::Bidi => "bidi-streaming",
        }
    }
}

/// A message as its encoded bytes, whatever its type: what the typed
/// channels carry for a dynamic call (encoding is a copy of the bytes,
/// decoding keeps every field as it came).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RawMessage(pub Vec<u8>);

impl prost::Message for RawMessage {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        buf.put_slice(&self.0);
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), prost::DecodeError> {
        use prost::encoding::{bytes, encode_key, encode_varint, fixed32, fixed64, uint64};
        let out = &mut self.0;
        match wire_type {
            WireType::Varint => {
                let mut v = 0;
                uint64::merge(wire_type, &mut v, buf, ctx)?;
                encode_key(tag, wire_type, out);
                encode_varint(v, out);
            }
            WireType::SixtyFourBit => {
                let mut v = 0;
                fixed64::merge(wire_type, &mut v, buf, ctx)?;
                encode_key(tag, wire_type, out);
                out.put_u64_le(v);
            }
            WireType::ThirtyTwoBit => {
                let mut v = 0;
                fixed32::merge(wire_type, &mut v, buf, ctx)?;
                encode_key(tag, wire_type, out);
                out.put_u32_le(v);
            }
            WireType::LengthDelimited => {
                let mut v: Vec<u8> = Vec::new();
                bytes::merge(wire_type, &mut v, buf, ctx)?;
                encode_key(tag, wire_type, out);
                encode_varint(v.len() as u64, out);
                out.extend_from_slice(&v);
            }
            // Groups (proto2 only): not kept.
            WireType::StartGroup | WireType::EndGroup => {
                prost::encoding::skip_field(wire_type, tag, buf, ctx)?;
            }
        }
        Ok(())
    }

    fn encoded_len(&self) -> usize {
        self.0.len()
    }

    fn clear(&mut self) {
        self.0.clear();
    }
}

/// The descriptors of every compiled-in service.
fn pool() -> Result<DescriptorPool, String> {
    DescriptorPool::decode(wirestate_proto::FILE_DESCRIPTOR_SET)
        .map_err(|e| format!("the compiled-in descriptors: {e}"))
}

/// Every method of every compiled-in service: `/pkg.Service/Method kind
/// Input -> Output`, one per line.
pub fn list() -> Result<Vec<String>, String> {
    Ok(method_lines(&pool()?, None))
}

/// The methods of the services of `pool` (of `only` when given), one line
/// each, sorted.
fn method_lines(pool: &DescriptorPool, only: Option<&[String]>) -> Vec<String> {
    let mut lines = Vec::new();
    for service in pool
        .services()
        .filter(|s| only.is_none_or(|only| only.iter().any(|o| o == s.full_name())))
    {
        for m in service.methods() {
            lines.push(format!(
                "/{}/{} {} {} -> {}",
                service.full_name(),
                m.name(),
                Kind::of(&m).name(),
                m.input().full_name(),
                m.output().full_name()
            ));
        }
    }
    lines.sort();
    lines
}

/// Finds `/pkg.Service/Method` among the compiled-in services.
fn method(pool: &DescriptorPool, path: &str) -> Result<MethodDescriptor, String> {
    let parsed = MethodPath::parse(path).map_err(|e| format!("{path}: {e}"))?;
    pool.get_service_by_name(parsed.service())
        .and_then(|s| s.methods().find(|m| m.name() == parsed.method()))
        .ok_or_else(|| {
            format!("unknown method {path} (`wirestate grpc HOST:PORT list` lists the known ones)")
        })
}

/// The request messages: a sequence of JSON objects, each encoded as
/// `desc`.
fn requests(desc: &MessageDescriptor, json: &str) -> Result<Vec<RawMessage>, String> {
    let mut out = Vec::new();
    for value in serde_json::Deserializer::from_str(json).into_iter::<serde_json::Value>() {
        let value = value.map_err(|e| format!("request JSON: {e}"))?;
        let message = DynamicMessage::deserialize(desc.clone(), value)
            .map_err(|e| format!("request JSON for {}: {e}", desc.full_name()))?;
        out.push(RawMessage(prost::Message::encode_to_vec(&message)));
    }
    Ok(out)
}

/// The request JSON: `-d`'s value or the argument after the method (not
/// both), `{}` when neither is given. `@` reads `stdin`, `@PATH` the file
/// at PATH (grpcurl's convention: no JSON text starts with `@`).
fn request_text(
    data: Option<&str>,
    argument: Option<&str>,
    stdin: impl std::io::Read,
) -> Result<String, String> {
    let source = match (data, argument) {
        (Some(_), Some(_)) => {
            return Err("give the request once: with -d or as the argument, not both".into());
        }
        (Some(s), None) | (None, Some(s)) => s,
        (None, None) => return Ok("{}".into()),
    };
    crate::argument_text(source, "the request", stdin)
}

/// `google.rpc.Status`, as `grpc-status-details-bin` carries it (the
/// proto is not among the compiled-in ones, so declared here).
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
    #[prost(message, repeated, tag = "3")]
    details: Vec<RpcAny>,
}

/// `google.protobuf.Any`: a detail of a [`RpcStatus`].
#[derive(Clone, PartialEq, prost::Message)]
struct RpcAny {
    #[prost(string, tag = "1")]
    type_url: String,
    #[prost(bytes = "vec", tag = "2")]
    value: Vec<u8>,
}

/// The lines that describe a status's binary details (none when it has
/// none): the `google.rpc.Status` code and message, then one line per
/// detail with its type URL and, when `pool` knows the type, the detail
/// as JSON, else its length. Details that are not a `google.rpc.Status`
/// are reported as such, never a panic.
fn describe_details(pool: Option<&DescriptorPool>, details: &[u8]) -> Vec<String> {
    if details.is_empty() {
        return Vec::new();
    }
    let status = match <RpcStatus as prost::Message>::decode(details) {
        Ok(s) => s,
        Err(e) => {
            return vec![format!(
                "details: {} bytes, not a google.rpc.Status ({e})",
                details.len()
            )];
        }
    };
    // The number too: codes past 16 all name as UNKNOWN.
    let mut lines = vec![format!(
        "details: google.rpc.Status code={} ({}) message={}",
        Code::from_i32(status.code).name(),
        status.code,
        status.message
    )];
    for any in &status.details {
        // The type's full name follows the URL's last `/`.
        let name = any.type_url.rsplit('/').next().unwrap_or_default();
        let json = pool
            .and_then(|p| p.get_message_by_name(name))
            .and_then(|desc| to_json(&desc, &any.value).ok());
        lines.push(match json {
            Some(json) => format!("  detail {}: {json}", any.type_url),
            None => format!("  detail {} ({} bytes)", any.type_url, any.value.len()),
        });
    }
    lines
}

/// A response message as one line of JSON.
fn to_json(desc: &MessageDescriptor, raw: &[u8]) -> Result<String, Status> {
    let message = DynamicMessage::decode(desc.clone(), raw).map_err(|e| {
        Status::new(
            Code::Internal,
            format!("decoding {}: {e}", desc.full_name()),
        )
    })?;
    serde_json::to_string(&message).map_err(|e| Status::new(Code::Internal, e.to_string()))
}

/// The metadata of `-H 'key: value'` options.
fn metadata(headers: &[String]) -> Result<Metadata, String> {
    let mut md = Metadata::new();
    for h in headers {
        let (k, v) = h
            .split_once(':')
            .ok_or_else(|| format!("header {h:?}: want `key: value`"))?;
        let (k, v) = (k.trim().to_ascii_lowercase(), v.trim());
        let added = if k.ends_with("-bin") {
            use base64::Engine;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(v)
                .map_err(|e| format!("header {k}: base64: {e}"))?;
            md.append_bin(&k, &bytes)
        } else {
            md.append(&k, v)
        };
        added.map_err(|e| format!("header {k}: {e}"))?;
    }
    Ok(md)
}

/// Parses a duration: `1.5` (seconds), `250ms`, `10s`, `2m`, `100us`.
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, unit) = s.split_at(split);
    let n: f64 = number
        .parse()
        .map_err(|_| format!("duration {s:?}: want e.g. 1.5, 250ms, 10s, 2m"))?;
    let scale = match unit {
        "" | "s" => 1.0,
        "ms" => 1e-3,
        "us" => 1e-6,
        "m" => 60.0,
        "h" => 3600.0,
        _ => return Err(format!("duration {s:?}: unknown unit {unit:?}")),
    };
    Duration::try_from_secs_f64(n * scale).map_err(|e| format!("duration {s:?}: {e}"))
}

/// What the call prints: each response message on its own line.
struct Printer {
    output: MessageDescriptor,
    /// Why a response could not be shown: writing to stdout failed
    /// (closed early, `| head -1`), or the response has no JSON form here
    /// (a `google.protobuf.Any` of a type neither compiled in nor
    /// reflected). A local error, reported as such rather than as the
    /// call's status: the server answered, and said nothing of the sort.
    stdout_error: std::sync::Mutex<Option<String>>,
}

impl Printer {
    fn print(&self, raw: &RawMessage) -> Result<(), Status> {
        let line = to_json(&self.output, &raw.0).map_err(|e| {
            self.local(format!(
                "a response could not be printed as JSON: {}",
                e.message
            ))
        })?;
        let mut out = std::io::stdout().lock();
        writeln!(out, "{line}")
            .and_then(|()| out.flush())
            .map_err(|e| self.local(format!("stdout: {e}")))
    }

    /// Records a local error; the status returned ends the call, and `run`
    /// reports the error instead of it.
    fn local(&self, error: String) -> Status {
        let mut failed = self.stdout_error.lock().unwrap_or_else(|e| e.into_inner());
        *failed = Some(error.clone());
        Status::new(Code::Cancelled, error)
    }
}

/// Everything a call needs, decided before any IO.
struct Call {
    target: String,
    addr: SocketAddr,
    path: String,
    kind: Kind,
    requests: Vec<RawMessage>,
    metadata: Metadata,
    timeout: Option<Duration>,
    wait_for_ready: bool,
    printer: Printer,
    tls: Option<std::sync::Arc<wirestate_rt::tls::rustls::ClientConfig>>,
}

/// Runs `wirestate grpc`: `words` is `HOST:PORT list` or `HOST:PORT
/// /pkg.Service/Method [JSON]`.
pub fn run(opts: &Options, words: &[String]) -> Result<ExitCode, String> {
    let (target, rest) = words
        .split_first()
        .ok_or("usage: wirestate grpc HOST:PORT (list | /pkg.Service/Method [JSON])")?;
    let Some(path) = rest.first() else {
        return Err("missing the method (or `list`)".into());
    };
    if path == "list" {
        if rest.len() > 2 {
            return Err("too many arguments: `list [pkg.Service]`".into());
        }
        return list_command(opts, target, rest.get(1));
    }
    if path == "describe" {
        if rest.len() > 2 {
            return Err("too many arguments: `describe SYMBOL`".into());
        }
        let symbol = rest
            .get(1)
            .ok_or("describe what? `describe pkg.Service` (or a method, message or enum)")?;
        return describe_command(opts, target, symbol);
    }
    if rest.len() > 2 {
        return Err("too many arguments: the request is one JSON argument".into());
    }
    // A compiled-in method is called with the compiled-in descriptors, any
    // other with those the server's reflection gives.
    let (pool, m) = match method(&pool()?, path) {
        Ok(m) => (m.parent_pool().clone(), m),
        Err(unknown) => {
            let service = MethodPath::parse(path)
                .map(|p| p.service().to_owned())
                .map_err(|_| unknown.clone())?;
            let reflected = reflection(opts, target).and_then(|s| s.pool(&[service]));
            match reflected {
                Ok(pool) => {
                    let m = method(&pool, path).map_err(|_| unknown)?;
                    (pool, m)
                }
                // Not knowing the method is not the news when the server
                // could not be asked.
                Err(e @ Failure::Unreachable(_)) => {
                    return Err(format!(
                        "{e}; {path} is not compiled in, and the server could not be asked for it"
                    ));
                }
                Err(e) => return Err(format!("{unknown}; {e}")),
            }
        }
    };
    let kind = Kind::of(&m);
    let json = request_text(
        opts.data.as_deref(),
        rest.get(1).map(String::as_str),
        std::io::stdin().lock(),
    )?;
    let requests = requests(&m.input(), &json)?;
    if matches!(kind, Kind::Unary | Kind::ServerStreaming) && requests.len() != 1 {
        return Err(format!(
            "a {} method takes one request message, got {}",
            kind.name(),
            requests.len()
        ));
    }
    if opts.web.is_some() && matches!(kind, Kind::ClientStreaming | Kind::Bidi) {
        return Err("gRPC-Web carries unary and server-streaming calls only".into());
    }
    let addr = resolve(target)?;
    let call = Call {
        target: target.clone(),
        addr,
        path: path.clone(),
        kind,
        requests,
        metadata: metadata(&opts.headers)?,
        timeout: opts.timeout,
        wait_for_ready: opts.wait_for_ready,
        printer: Printer {
            output: m.output(),
            stdout_error: std::sync::Mutex::new(None),
        },
        tls: opts.tls.clone(),
    };
    let result = match (opts.runtime, opts.web) {
        (Rt::Tokio, web) => {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            rt.block_on(native_call(wirestate_tokio::TokioRuntime, &call, web))
        }
        (Rt::Smol, web) => {
            smol::block_on(native_call(wirestate_smol::SmolRuntime::new(), &call, web))
        }
        (Rt::Blocking, web) => blocking_call(&call, web),
    };
    let stdout_error = call
        .printer
        .stdout_error
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .take();
    if let Some(e) = stdout_error {
        return Err(e);
    }
    match result {
        Ok(()) => Ok(ExitCode::SUCCESS),
        Err(status) => {
            eprintln!(
                "ERROR: code={} message={}",
                status.code.name(),
                status.message
            );
            for line in describe_details(Some(&pool), &status.details) {
                eprintln!("{line}");
            }
            Ok(ExitCode::FAILURE)
        }
    }
}

/// The first address `target` (HOST:PORT) resolves to.
fn resolve(target: &str) -> Result<SocketAddr, String> {
    std::net::ToSocketAddrs::to_socket_addrs(target)
        .map_err(|e| format!("{target}: {e}"))?
        .next()
        .ok_or_else(|| format!("{target}: no address"))
}

/// The server at `target`, to be asked through reflection. Reflection is
/// a bidi-streaming call, which gRPC-Web cannot carry, so with `--web` it
/// is asked over h2c (h2 with `--tls`) on the same address: servers that
/// speak both on one port (`wirestate serve`, tonic with tonic-web) answer
/// it, and a user's own service can be called over gRPC-Web. Nothing
/// listening there is an error, as without `--web`; a server that does
/// not speak HTTP/2 is one without reflection.
fn reflection<'a>(
    opts: &Options,
    target: &'a str,
) -> Result<crate::grpc_reflect::Server<'a>, Failure> {
    let addr = resolve(target).map_err(Failure::Unreachable)?;
    let metadata = metadata(&opts.headers).map_err(Failure::Unreachable)?;
    if opts.web.is_some() {
        // The h2c answer cannot tell "nothing there" from "not HTTP/2":
        // a plain connection can.
        std::net::TcpStream::connect_timeout(&addr, WEB_CONNECT_PROBE)
            .map_err(|e| Failure::Unreachable(format!("connecting to {target}: {e}")))?;
    }
    Ok(crate::grpc_reflect::Server {
        runtime: opts.runtime,
        tls: opts.tls.clone(),
        target,
        addr,
        metadata,
        timeout: opts.timeout,
        web: opts.web.is_some(),
    })
}

/// How long `--web`'s reachability check may wait for a connection.
const WEB_CONNECT_PROBE: std::time::Duration = std::time::Duration::from_secs(10);

/// `list [SERVICE]`: the methods of the services the server lists through
/// reflection (of SERVICE alone when given); when the server answers no
/// reflection, the compiled-in services, saying so on stderr.
fn list_command(opts: &Options, target: &str, only: Option<&String>) -> Result<ExitCode, String> {
    let reflected = reflection(opts, target).and_then(|server| {
        let services = match only {
            Some(service) => vec![service.clone()],
            None => server.services()?,
        };
        let pool = server.pool(&services)?;
        Ok(method_lines(&pool, Some(&services)))
    });
    let lines = match reflected {
        Ok(lines) => lines,
        Err(e @ Failure::Answer(_)) => return Err(format!("{target}: {e}")),
        // Its message names the address (or the header) already.
        Err(e @ Failure::Unreachable(_)) => return Err(e.to_string()),
        Err(e @ Failure::NoReflection(_)) => {
            eprintln!("wirestate: {target}: {e}; listing the compiled-in services instead");
            let pool = pool()?;
            let only = only.map(|s| vec![s.clone()]);
            method_lines(&pool, only.as_deref())
        }
    };
    for line in lines {
        println!("{line}");
    }
    Ok(ExitCode::SUCCESS)
}

/// `describe SYMBOL`: a service, method, message or enum in protobuf
/// syntax, from the server's reflection (from the compiled-in descriptors,
/// saying so, when the server answers no reflection).
fn describe_command(opts: &Options, target: &str, symbol: &str) -> Result<ExitCode, String> {
    let pool = match reflection(opts, target).and_then(|s| s.symbol_pool(symbol)) {
        Ok(pool) => pool,
        Err(e @ Failure::Answer(_)) => return Err(format!("{target}: {e}")),
        // Its message names the address (or the header) already.
        Err(e @ Failure::Unreachable(_)) => return Err(e.to_string()),
        Err(e @ Failure::NoReflection(_)) => {
            eprintln!("wirestate: {target}: {e}; describing from the compiled-in services instead");
            pool()?
        }
    };
    let text = crate::grpc_reflect::describe(&pool, symbol)
        .ok_or_else(|| format!("{symbol}: no service, method, message or enum of that name"))?;
    println!("{text}");
    Ok(ExitCode::SUCCESS)
}

/// The call's options on the async channel.
fn async_options(call: &Call) -> wirestate_rt::grpc::CallOptions {
    let mut o = wirestate_rt::grpc::CallOptions::default().with_metadata(call.metadata.clone());
    o.timeout = call.timeout;
    o
}

/// gRPC over h2c, or gRPC-Web over HTTP/1.1 in `web` mode (a channel in
/// gRPC-Web mode), on an async runtime.
async fn native_call<R: wirestate_rt::Runtime>(
    rt: R,
    call: &Call,
    web: Option<WebMode>,
) -> Result<(), Status> {
    use wirestate_rt::grpc::{Channel, ChannelConfig};
    if let Some(mode) = web {
        let mut builder = Channel::builder(rt, call.addr)
            .config(ChannelConfig::new().authority(&call.target))
            .grpc_web(mode);
        if let Some(config) = &call.tls {
            // gRPC-Web over TLS: the channel offers ALPN http/1.1 itself.
            builder = builder.tls(config.clone(), tls_name(&call.target)?);
        }
        let ch = builder.connect().await?;
        return async_calls(&ch, call).await;
    }
    if call.wait_for_ready {
        // A channel that dials (and redials) by itself, its calls waiting
        // for the connection.
        let mut builder = Channel::builder(rt, call.addr)
            .config(ChannelConfig::new().authority(&call.target))
            .wait_for_ready(true);
        if let Some(config) = &call.tls {
            builder = builder.tls(config.clone(), tls_name(&call.target)?);
        }
        return async_calls(&builder.connect_lazy()?, call).await;
    }
    let send = h2_connect(&rt, call.addr, &call.target, call.tls.as_ref()).await?;
    let ch = Channel::new(rt, send, &call.target)?;
    async_calls(&ch, call).await
}

/// The call on an async channel.
async fn async_calls<R: wirestate_rt::Runtime>(
    ch: &wirestate_rt::grpc::Channel<R>,
    call: &Call,
) -> Result<(), Status> {
    let opts = async_options(call);
    let p = &call.printer;
    match call.kind {
        Kind::Unary => {
            let r = ch
                .unary::<_, RawMessage>(&call.path, &call.requests[0], &opts)
                .await?;
            p.print(&r.message)
        }
        Kind::ServerStreaming => {
            let (_, mut stream) = ch
                .server_streaming::<_, RawMessage>(&call.path, &call.requests[0], &opts)
                .await?;
            while let Some(m) = stream.message().await? {
                p.print(&m)?;
            }
            Ok(())
        }
        Kind::ClientStreaming | Kind::Bidi => {
            let mut c = ch.streaming::<RawMessage, RawMessage>(&call.path, &opts);
            for m in &call.requests {
                // A failed send ends the call: its status is read below.
                if c.send(m).await.is_err() {
                    break;
                }
            }
            c.close_send();
            while let Some(m) = c.message().await? {
                p.print(&m)?;
            }
            Ok(())
        }
    }
}

/// gRPC over h2c, or gRPC-Web over HTTP/1.1 in `web` mode (a channel in
/// gRPC-Web mode), on blocking threads.
fn blocking_call(call: &Call, web: Option<WebMode>) -> Result<(), Status> {
    use wirestate_blocking::grpc::{CallOptions, Channel};
    let ch = if let Some(mode) = web {
        let mut builder = Channel::builder(&call.target).grpc_web(mode);
        if let Some(config) = &call.tls {
            builder = builder.tls(config.clone(), tls_name(&call.target)?);
        }
        builder.connect()?
    } else if call.wait_for_ready {
        let mut builder = Channel::builder(&call.target).wait_for_ready(true);
        if let Some(config) = &call.tls {
            builder = builder.tls(config.clone(), tls_name(&call.target)?);
        }
        builder.connect_lazy()?
    } else {
        blocking_channel(call.addr, &call.target, call.tls.as_ref())?
    };
    let mut opts = CallOptions::default().with_metadata(call.metadata.clone());
    opts.timeout = call.timeout;
    let p = &call.printer;
    match call.kind {
        Kind::Unary => {
            let r = ch.unary::<_, RawMessage>(&call.path, &call.requests[0], &opts)?;
            p.print(&r.message)
        }
        Kind::ServerStreaming => {
            let (_, stream) =
                ch.server_streaming::<_, RawMessage>(&call.path, &call.requests[0], &opts)?;
            for m in stream {
                p.print(&m?)?;
            }
            Ok(())
        }
        Kind::ClientStreaming | Kind::Bidi => {
            let mut c = ch.streaming::<RawMessage, RawMessage>(&call.path, &opts)?;
            for m in &call.requests {
                if c.send(m).is_err() {
                    break;
                }
            }
            c.close_send();
            while let Some(m) = c.message()? {
                p.print(&m)?;
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    /// A response holding a `google.protobuf.Any` of a type no descriptor
    /// here describes has no proto3 JSON form: a local error naming the
    /// type, not a call status. Failed before: `ERROR: code=INTERNAL
    /// message=message 'unknown.Thing' not found`, as if the server had
    /// failed the call (found against a grpcio server answering such an
    /// Any).
    #[test]
    fn an_unprintable_response_is_a_local_error() {
        use prost_reflect::prost_types::field_descriptor_proto::{Label, Type};
        use prost_reflect::prost_types::{
            DescriptorProto, FieldDescriptorProto, FileDescriptorProto,
        };
        let field =
            |name: &str, number: i32, ty: Type, type_name: Option<&str>| FieldDescriptorProto {
                name: Some(name.into()),
                number: Some(number),
                label: Some(Label::Optional as i32),
                r#type: Some(ty as i32),
                type_name: type_name.map(Into::into),
                json_name: Some(name.into()),
                ..Default::default()
            };
        let any = FileDescriptorProto {
            name: Some("google/protobuf/any.proto".into()),
            package: Some("google.protobuf".into()),
            syntax: Some("proto3".into()),
            message_type: vec![DescriptorProto {
                name: Some("Any".into()),
                field: vec![
                    field("type_url", 1, Type::String, None),
                    field("value", 2, Type::Bytes, None),
                ],
                ..Default::default()
            }],
            ..Default::default()
        };
        let holder = FileDescriptorProto {
            name: Some("t/holder.proto".into()),
            package: Some("t".into()),
            dependency: vec!["google/protobuf/any.proto".into()],
            syntax: Some("proto3".into()),
            message_type: vec![DescriptorProto {
                name: Some("Holder".into()),
                field: vec![field("a", 1, Type::Message, Some(".google.protobuf.Any"))],
                ..Default::default()
            }],
            ..Default::default()
        };
        let mut pool = DescriptorPool::new();
        pool.add_file_descriptor_protos([any, holder]).unwrap();
        let printer = Printer {
            output: pool.get_message_by_name("t.Holder").unwrap(),
            stdout_error: std::sync::Mutex::new(None),
        };
        // Holder { a: Any { type_url: "type.googleapis.com/unknown.Thing", value: [8, 1] } }
        let url = b"type.googleapis.com/unknown.Thing";
        let mut any_bytes = vec![0x0a, url.len() as u8];
        any_bytes.extend_from_slice(url);
        any_bytes.extend_from_slice(&[0x12, 2, 8, 1]);
        let mut raw = vec![0x0a, any_bytes.len() as u8];
        raw.extend_from_slice(&any_bytes);
        let status = printer.print(&RawMessage(raw)).unwrap_err();
        assert_eq!(status.code, Code::Cancelled);
        let local = printer.stdout_error.lock().unwrap().clone().unwrap();
        assert!(
            local.starts_with("a response could not be printed as JSON: ")
                && local.contains("unknown.Thing"),
            "{local}"
        );
    }

    #[test]
    fn raw_messages_keep_every_field() {
        use wirestate_proto::grpc::testing::{EchoStatus, Payload, SimpleRequest};
        let m = SimpleRequest {
            response_size: 314,
            payload: Some(Payload {
                r#type: 0,
                body: vec![1, 2, 3],
            }),
            response_status: Some(EchoStatus {
                code: 2,
                message: "x".into(),
            }),
            fill_username: true,
            ..Default::default()
        };
        let bytes = m.encode_to_vec();
        let raw = RawMessage::decode(&bytes[..]).unwrap();
        assert_eq!(SimpleRequest::decode(&raw.encode_to_vec()[..]).unwrap(), m);
    }

    #[test]
    fn json_in_and_out_with_the_proto3_mapping() {
        let pool = pool().unwrap();
        let m = method(&pool, "/grpc.testing.TestService/UnaryCall").unwrap();
        let reqs = requests(
            &m.input(),
            r#"{"responseSize": 3, "payload": {"body": "AAEC"}}"#,
        )
        .unwrap();
        assert_eq!(reqs.len(), 1);
        let decoded =
            wirestate_proto::grpc::testing::SimpleRequest::decode(&reqs[0].0[..]).unwrap();
        assert_eq!(decoded.response_size, 3);
        assert_eq!(decoded.payload.unwrap().body, [0, 1, 2]);
        let json = to_json(&m.input(), &reqs[0].0).unwrap();
        assert_eq!(json, r#"{"responseSize":3,"payload":{"body":"AAEC"}}"#);
        // A sequence of objects for streaming methods; bad JSON refused.
        assert_eq!(requests(&m.input(), "{} {}").unwrap().len(), 2);
        assert!(requests(&m.input(), r#"{"nope": 1}"#).is_err());
        assert!(method(&pool, "/grpc.testing.TestService/Nope").is_err());
    }

    #[test]
    fn list_names_every_method() {
        let lines = list().unwrap();
        assert!(lines.contains(
            &"/grpc.health.v1.Health/Watch server-streaming grpc.health.v1.HealthCheckRequest -> grpc.health.v1.HealthCheckResponse"
                .to_string()
        ));
        assert!(
            lines
                .iter()
                .any(|l| l.starts_with("/wirestate.echo.v1.Echo/EchoBidi bidi-streaming"))
        );
    }

    #[test]
    fn request_text_sources() {
        let none: &[u8] = b"";
        assert_eq!(request_text(None, None, none).unwrap(), "{}");
        assert_eq!(
            request_text(None, Some("{\"a\":1}"), none).unwrap(),
            "{\"a\":1}"
        );
        assert_eq!(
            request_text(Some("@"), None, &b"{} {}"[..]).unwrap(),
            "{} {}"
        );
        assert_eq!(request_text(None, Some("@"), &b"{}"[..]).unwrap(), "{}");
        assert!(request_text(Some("{}"), Some("{}"), none).is_err());
        assert!(request_text(None, Some("@/no/such/file"), none).is_err());
    }

    #[test]
    fn details_that_are_not_a_status_are_reported_not_fatal() {
        assert!(describe_details(None, &[]).is_empty());
        let lines = describe_details(None, &[0xff, 0xff, 0xff]);
        assert_eq!(lines.len(), 1);
        assert!(lines[0].starts_with("details: 3 bytes, not a google.rpc.Status"));
        // Without a pool every detail is shown by type URL and length.
        let status = RpcStatus {
            code: 99,
            message: "m".into(),
            details: vec![RpcAny {
                type_url: "x/grpc.testing.Payload".into(),
                value: vec![1, 2],
            }],
        };
        let lines = describe_details(None, &prost::Message::encode_to_vec(&status));
        assert_eq!(
            lines,
            [
                "details: google.rpc.Status code=UNKNOWN (99) message=m",
                "  detail x/grpc.testing.Payload (2 bytes)",
            ]
        );
    }

    #[test]
    fn durations_and_metadata() {
        assert_eq!(parse_duration("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_duration("1.5").unwrap(), Duration::from_millis(1500));
        assert_eq!(parse_duration("2m").unwrap(), Duration::from_secs(120));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("5 parsecs").is_err());
        let md = metadata(&["X-Key: v".into(), "k-bin: AAE=".into()]).unwrap();
        assert_eq!(md.get_str("x-key"), Some("v"));
        assert_eq!(&md.get_bin("k-bin").unwrap().unwrap()[..], [0, 1]);
        assert!(metadata(&["novalue".into()]).is_err());
        assert!(metadata(&["grpc-status: 1".into()]).is_err());
    }
}
