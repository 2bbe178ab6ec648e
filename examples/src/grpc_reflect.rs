//! `wirestate grpc`'s server reflection client: the services a server
//! lists, and the descriptors of a symbol with the files it imports, asked
//! over `grpc.reflection.v1` (`v1alpha` when the server has only that) on
//! the runtime of `--runtime`, so that `list`, `describe` and calls reach
//! services that are not compiled in.

// `Status` is every gRPC call's error type.
#![allow(clippy::result_large_err)]

use prost::Message;
use prost_reflect::prost_types::FileDescriptorProto;
use prost_reflect::{Cardinality, DescriptorPool, Kind as FieldKind, MessageDescriptor, Syntax};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::Duration;
use wirestate_grpc::{Code, Metadata, Status};
use wirestate_grpc_reflection::{V1_PATH, V1ALPHA_PATH};
use wirestate_proto::grpc::reflection::v1::{
    ServerReflectionRequest, ServerReflectionResponse, server_reflection_request::MessageRequest,
    server_reflection_response::MessageResponse,
};

use crate::grpc_cli::Rt;

/// How long one reflection stream may take when `--timeout` is not given.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(20);
/// At most this many rounds of asking for imports the answers left out (a
/// server may leave out files it already sent on the stream; each round is
/// a new stream asking for them by name).
const MAX_ROUNDS: usize = 8;

/// Why reflection gave no answer.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The server could not be asked: not reached, no reflection service,
    /// the call failed (gRPC-Web too: it cannot carry the call).
    NoReflection(String),
    /// The server answered, and the answer is an error (NOT_FOUND) or
    /// unusable.
    Answer(String),
    /// The server was not reached (its name not resolved, the connection
    /// refused or reset, no answer in time: UNAVAILABLE or
    /// DEADLINE_EXCEEDED), or the request could not be made (a bad
    /// header): an error to report, not a sign that the server has no
    /// reflection — describing the compiled-in services then would answer
    /// a question about a server that was never asked.
    Unreachable(String),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::NoReflection(e) => write!(f, "no server reflection: {e}"),
            Failure::Answer(e) => write!(f, "server reflection: {e}"),
            Failure::Unreachable(e) => write!(f, "{e}"),
        }
    }
}

/// Where and how to ask.
pub(crate) struct Server<'a> {
    pub(crate) runtime: Rt,
    /// gRPC over TLS with this config.
    pub(crate) tls: Option<std::sync::Arc<wirestate_rt::tls::rustls::ClientConfig>>,
    pub(crate) target: &'a str,
    pub(crate) addr: SocketAddr,
    pub(crate) metadata: Metadata,
    pub(crate) timeout: Option<Duration>,
    /// The calls go over gRPC-Web: reflection is asked over h2c anyway,
    /// and its failure means the server has none there (not that it is
    /// down: that was checked).
    pub(crate) web: bool,
}

impl Server<'_> {
    /// The services the server lists.
    pub(crate) fn services(&self) -> Result<Vec<String>, Failure> {
        let answers = self.ask(vec![MessageRequest::ListServices(String::new())])?;
        match answers.into_iter().next().and_then(|a| a.message_response) {
            Some(MessageResponse::ListServicesResponse(list)) => {
                let mut names: Vec<_> = list.service.into_iter().map(|s| s.name).collect();
                names.sort();
                Ok(names)
            }
            Some(MessageResponse::ErrorResponse(e)) => Err(Failure::Answer(e.error_message)),
            other => Err(Failure::Answer(format!(
                "unexpected answer to list_services: {other:?}"
            ))),
        }
    }

    /// The descriptors of the files declaring `symbols`, with everything
    /// they import.
    pub(crate) fn pool(&self, symbols: &[String]) -> Result<DescriptorPool, Failure> {
        let mut files: BTreeMap<String, FileDescriptorProto> = BTreeMap::new();
        let mut requests: Vec<MessageRequest> = symbols
            .iter()
            .map(|s| MessageRequest::FileContainingSymbol(s.clone()))
            .collect();
        for _ in 0..MAX_ROUNDS {
            if requests.is_empty() {
                break;
            }
            for answer in self.ask(std::mem::take(&mut requests))? {
                match answer.message_response {
                    Some(MessageResponse::FileDescriptorResponse(r)) => {
                        for bytes in r.file_descriptor_proto {
                            let file = FileDescriptorProto::decode(&bytes[..]).map_err(|e| {
                                Failure::Answer(format!("a file descriptor of the answer: {e}"))
                            })?;
                            files.insert(file.name().to_owned(), file);
                        }
                    }
                    Some(MessageResponse::ErrorResponse(e)) => {
                        let asked = match answer.original_request.and_then(|r| r.message_request) {
                            Some(MessageRequest::FileContainingSymbol(s)) => s,
                            Some(MessageRequest::FileByFilename(f)) => f,
                            _ => String::new(),
                        };
                        return Err(Failure::Answer(format!("{asked}: {}", e.error_message)));
                    }
                    other => return Err(Failure::Answer(format!("unexpected answer: {other:?}"))),
                }
            }
            // Each missing import once, however many files import it
            // (`dedup` on the list would only drop adjacent repeats).
            let missing: BTreeSet<&String> = files
                .values()
                .flat_map(|f| f.dependency.iter())
                .filter(|d| !files.contains_key(*d))
                .collect();
            requests = missing
                .into_iter()
                .map(|d| MessageRequest::FileByFilename(d.clone()))
                .collect();
        }
        let mut pool = DescriptorPool::new();
        pool.add_file_descriptor_protos(files.into_values())
            .map_err(|e| Failure::Answer(format!("the server's descriptors: {e}")))?;
        Ok(pool)
    }

    /// The descriptors `describe SYMBOL` needs: the file declaring
    /// `symbol`, or, when the server finds no such symbol, the file
    /// declaring its parent (a method's service, a nested type's message).
    /// Servers need not index a method's full name: grpcio's reflection
    /// (Python's descriptor pool) answers NOT_FOUND for
    /// `pkg.Service.Method` and finds `pkg.Service`. When the parent is not
    /// found either, the error is the symbol's own.
    pub(crate) fn symbol_pool(&self, symbol: &str) -> Result<DescriptorPool, Failure> {
        match self.pool(&[symbol.to_owned()]) {
            Err(Failure::Answer(e)) => match symbol.rsplit_once('.') {
                Some((parent, _)) if !parent.is_empty() => self
                    .pool(&[parent.to_owned()])
                    .map_err(|_| Failure::Answer(e)),
                _ => Err(Failure::Answer(e)),
            },
            other => other,
        }
    }

    /// One reflection stream carrying `requests`: the answers, in order.
    /// v1 first; v1alpha when the server does not know v1.
    fn ask(&self, requests: Vec<MessageRequest>) -> Result<Vec<ServerReflectionResponse>, Failure> {
        let requests: Vec<_> = requests
            .into_iter()
            .map(|r| ServerReflectionRequest {
                host: String::new(),
                message_request: Some(r),
            })
            .collect();
        let answers = match self.stream(V1_PATH, &requests) {
            Err(s) if s.code == Code::Unimplemented => self.stream(V1ALPHA_PATH, &requests),
            other => other,
        };
        let answers = answers.map_err(|s| {
            let e = format!("{} ({})", s.message, s.code.name());
            match s.code {
                _ if self.web => Failure::NoReflection(format!(
                    "{e}, asked over h2c (gRPC-Web cannot carry it: a bidi-streaming call)"
                )),
                Code::Unavailable | Code::DeadlineExceeded => Failure::Unreachable(e),
                _ => Failure::NoReflection(e),
            }
        })?;
        if answers.len() != requests.len() {
            return Err(Failure::Answer(format!(
                "{} answers to {} requests",
                answers.len(),
                requests.len()
            )));
        }
        Ok(answers)
    }

    fn stream(
        &self,
        path: &str,
        requests: &[ServerReflectionRequest],
    ) -> Result<Vec<ServerReflectionResponse>, Status> {
        let timeout = self.timeout.unwrap_or(DEFAULT_TIMEOUT);
        match self.runtime {
            Rt::Tokio => {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| Status::new(Code::Internal, e.to_string()))?;
                rt.block_on(self.async_stream(
                    wirestate_tokio::TokioRuntime,
                    path,
                    requests,
                    timeout,
                ))
            }
            Rt::Smol => smol::block_on(self.async_stream(
                wirestate_smol::SmolRuntime::new(),
                path,
                requests,
                timeout,
            )),
            Rt::Blocking => {
                use wirestate_blocking::grpc::CallOptions;
                let ch =
                    crate::grpc_cli::blocking_channel(self.addr, self.target, self.tls.as_ref())?;
                let opts = CallOptions::default()
                    .with_metadata(self.metadata.clone())
                    .with_timeout(timeout);
                let mut call =
                    ch.streaming::<ServerReflectionRequest, ServerReflectionResponse>(path, &opts)?;
                for r in requests {
                    // A failed send ends the call: its status is read below.
                    if call.send(r).is_err() {
                        break;
                    }
                }
                call.close_send();
                let mut out = Vec::new();
                while let Some(m) = call.message()? {
                    out.push(m);
                }
                Ok(out)
            }
        }
    }

    async fn async_stream<R: wirestate_rt::Runtime>(
        &self,
        rt: R,
        path: &str,
        requests: &[ServerReflectionRequest],
        timeout: Duration,
    ) -> Result<Vec<ServerReflectionResponse>, Status> {
        use wirestate_rt::grpc::{CallOptions, Channel};
        let send =
            crate::grpc_cli::h2_connect(&rt, self.addr, self.target, self.tls.as_ref()).await?;
        let ch = Channel::new(rt, send, self.target)?;
        let opts = CallOptions::default()
            .with_metadata(self.metadata.clone())
            .with_timeout(timeout);
        let mut call =
            ch.streaming::<ServerReflectionRequest, ServerReflectionResponse>(path, &opts);
        for r in requests {
            if call.send(r).await.is_err() {
                break;
            }
        }
        call.close_send();
        let mut out = Vec::new();
        while let Some(m) = call.message().await? {
            out.push(m);
        }
        Ok(out)
    }
}

/// `symbol` in protobuf syntax, as `grpcurl describe` prints it: a service
/// with its methods, a method, a message with its fields, an enum with its
/// values; `None` when `pool` has no such service, method, message or enum.
pub(crate) fn describe(pool: &DescriptorPool, symbol: &str) -> Option<String> {
    let mut out = String::new();
    if let Some(service) = pool.get_service_by_name(symbol) {
        let _ = writeln!(out, "{symbol} is a service:");
        let _ = writeln!(out, "service {} {{", service.name());
        for m in service.methods() {
            let _ = writeln!(out, "  {}", rpc(&m));
        }
        out.push('}');
        return Some(out);
    }
    if let Some((service, method)) = symbol.rsplit_once('.')
        && let Some(m) = pool
            .get_service_by_name(service)
            .and_then(|s| s.methods().find(|m| m.name() == method))
    {
        let _ = write!(out, "{symbol} is a method:\n{}", rpc(&m));
        return Some(out);
    }
    if let Some(message) = pool.get_message_by_name(symbol) {
        let _ = writeln!(out, "{symbol} is a message:");
        message_body(&message, "", &mut out);
        return Some(out);
    }
    if let Some(e) = pool.get_enum_by_name(symbol) {
        let _ = writeln!(out, "{symbol} is an enum:");
        let _ = writeln!(out, "enum {} {{", e.name());
        for v in e.values() {
            let _ = writeln!(out, "  {} = {};", v.name(), v.number());
        }
        out.push('}');
        return Some(out);
    }
    None
}

fn rpc(m: &prost_reflect::MethodDescriptor) -> String {
    let stream = |yes: bool| if yes { "stream " } else { "" };
    format!(
        "rpc {} ( {}.{} ) returns ( {}.{} );",
        m.name(),
        stream(m.is_client_streaming()),
        m.input().full_name(),
        stream(m.is_server_streaming()),
        m.output().full_name()
    )
}

/// `message Name { fields; nested messages and enums }`, indented. The
/// fields of a oneof are printed inside its `oneof name { … }` block, where
/// the first of them stands, as in the `.proto` file (flat, they would read
/// as independent fields that can all be set); a proto3 `optional` field
/// (a synthetic oneof) and proto2 labels are printed as written.
fn message_body(message: &MessageDescriptor, indent: &str, out: &mut String) {
    let _ = writeln!(out, "{indent}message {} {{", message.name());
    let mut oneofs_done = BTreeSet::new();
    for field in message.fields() {
        match field.containing_oneof() {
            Some(oneof) if !oneof.is_synthetic() => {
                if !oneofs_done.insert(oneof.name().to_owned()) {
                    continue;
                }
                let _ = writeln!(out, "{indent}  oneof {} {{", oneof.name());
                for member in oneof.fields() {
                    let _ = writeln!(out, "{indent}    {}", field_line(&member, ""));
                }
                let _ = writeln!(out, "{indent}  }}");
            }
            _ => {
                let label = match field.cardinality() {
                    _ if field.is_list() && !field.is_map() => "repeated ",
                    Cardinality::Required => "required ",
                    _ if field.field_descriptor_proto().proto3_optional() => "optional ",
                    Cardinality::Optional
                        if message.parent_file().syntax() == Syntax::Proto2 && !field.is_map() =>
                    {
                        "optional "
                    }
                    _ => "",
                };
                let _ = writeln!(out, "{indent}  {}", field_line(&field, label));
            }
        }
    }
    let inner = format!("{indent}  ");
    for nested in message.child_messages().filter(|m| !m.is_map_entry()) {
        message_body(&nested, &inner, out);
    }
    for e in message.child_enums() {
        let _ = writeln!(out, "{inner}enum {} {{", e.name());
        for v in e.values() {
            let _ = writeln!(out, "{inner}  {} = {};", v.name(), v.number());
        }
        let _ = writeln!(out, "{inner}}}");
    }
    let _ = write!(out, "{indent}}}");
    if !indent.is_empty() {
        out.push('\n');
    }
}

/// `label type name = number;` for one field (maps as `map<K, V>`).
fn field_line(field: &prost_reflect::FieldDescriptor, label: &str) -> String {
    let ty = match field.kind() {
        FieldKind::Message(entry) if field.is_map() => {
            let key = entry.map_entry_key_field().kind();
            let value = entry.map_entry_value_field().kind();
            format!("map<{}, {}>", kind_name(&key), kind_name(&value))
        }
        other => kind_name(&other),
    };
    format!("{label}{ty} {} = {};", field.name(), field.number())
}

fn kind_name(kind: &FieldKind) -> String {
    match kind {
        FieldKind::Message(m) => format!(".{}", m.full_name()),
        FieldKind::Enum(e) => format!(".{}", e.full_name()),
        FieldKind::Double => "double".into(),
        FieldKind::Float => "float".into(),
        FieldKind::Int32 => "int32".into(),
        FieldKind::Int64 => "int64".into(),
        FieldKind::Uint32 => "uint32".into(),
        FieldKind::Uint64 => "uint64".into(),
        FieldKind::Sint32 => "sint32".into(),
        FieldKind::Sint64 => "sint64".into(),
        FieldKind::Fixed32 => "fixed32".into(),
        FieldKind::Fixed64 => "fixed64".into(),
        FieldKind::Sfixed32 => "sfixed32".into(),
        FieldKind::Sfixed64 => "sfixed64".into(),
        FieldKind::Bool => "bool".into(),
        FieldKind::String => "string".into(),
        FieldKind::Bytes => "bytes".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_services_methods_messages_and_enums() {
        let pool = DescriptorPool::decode(wirestate_proto::FILE_DESCRIPTOR_SET).unwrap();
        let service = describe(&pool, "wirestate.echo.v1.Echo").unwrap();
        assert!(service.starts_with("wirestate.echo.v1.Echo is a service:\nservice Echo {\n"));
        assert!(service.contains(
            "  rpc EchoBidi ( stream .wirestate.echo.v1.EchoRequest ) returns ( stream .wirestate.echo.v1.EchoResponse );\n"
        ));
        assert_eq!(
            describe(&pool, "grpc.health.v1.Health.Watch").unwrap(),
            "grpc.health.v1.Health.Watch is a method:\nrpc Watch ( .grpc.health.v1.HealthCheckRequest ) returns ( stream .grpc.health.v1.HealthCheckResponse );"
        );
        let message = describe(&pool, "grpc.health.v1.HealthCheckResponse").unwrap();
        assert!(
            message.contains("  .grpc.health.v1.HealthCheckResponse.ServingStatus status = 1;")
        );
        assert!(
            message.contains("  enum ServingStatus {\n    UNKNOWN = 0;"),
            "{message}"
        );
        let e = describe(&pool, "grpc.health.v1.HealthCheckResponse.ServingStatus").unwrap();
        assert!(e.contains("SERVICE_UNKNOWN = 3;"));
        let r = describe(&pool, "grpc.testing.StreamingOutputCallRequest").unwrap();
        assert!(
            r.contains("repeated .grpc.testing.ResponseParameters response_parameters = 2;"),
            "{r}"
        );
        // A oneof's fields inside their block, as the .proto has them:
        // ServerReflectionRequest has `string host = 1;` then
        // `oneof message_request { … }`.
        let q = describe(&pool, "grpc.reflection.v1.ServerReflectionRequest").unwrap();
        assert!(
            q.contains(
                "  string host = 1;\n  oneof message_request {\n    string file_by_filename = 3;\n    string file_containing_symbol = 4;\n"
            ),
            "{q}"
        );
        assert!(q.contains("    string list_services = 7;\n  }\n}"), "{q}");
        assert!(describe(&pool, "no.Such").is_none());
        assert!(describe(&pool, "grpc.health.v1.Health.Nope").is_none());
    }

    /// proto3 `optional` (a synthetic oneof) and proto2 labels are printed
    /// as the `.proto` has them, not as a oneof nor as plain fields.
    #[test]
    fn describes_optional_and_proto2_labels() {
        use prost_reflect::prost_types::field_descriptor_proto::{Label, Type};
        use prost_reflect::prost_types::{
            DescriptorProto, FieldDescriptorProto, OneofDescriptorProto,
        };
        let field = |name: &str, number: i32, label: Label, oneof: Option<i32>, optional: bool| {
            FieldDescriptorProto {
                name: Some(name.into()),
                number: Some(number),
                label: Some(label as i32),
                r#type: Some(Type::String as i32),
                oneof_index: oneof,
                proto3_optional: optional.then_some(true),
                json_name: Some(name.into()),
                ..Default::default()
            }
        };
        let file = |name: &str, syntax: &str, message: DescriptorProto| FileDescriptorProto {
            name: Some(name.into()),
            package: Some("t".into()),
            syntax: Some(syntax.into()),
            message_type: vec![message],
            ..Default::default()
        };
        let three = DescriptorProto {
            name: Some("Three".into()),
            field: vec![
                field("plain", 1, Label::Optional, None, false),
                field("maybe", 2, Label::Optional, Some(0), true),
                field("many", 3, Label::Repeated, None, false),
            ],
            oneof_decl: vec![OneofDescriptorProto {
                name: Some("_maybe".into()),
                ..Default::default()
            }],
            ..Default::default()
        };
        let two = DescriptorProto {
            name: Some("Two".into()),
            field: vec![
                field("a", 1, Label::Optional, None, false),
                field("b", 2, Label::Required, None, false),
            ],
            ..Default::default()
        };
        let mut pool = DescriptorPool::new();
        pool.add_file_descriptor_protos([
            file("three.proto", "proto3", three),
            file("two.proto", "proto2", two),
        ])
        .unwrap();
        assert_eq!(
            describe(&pool, "t.Three").unwrap(),
            "t.Three is a message:\nmessage Three {\n  string plain = 1;\n  optional string maybe = 2;\n  repeated string many = 3;\n}"
        );
        assert_eq!(
            describe(&pool, "t.Two").unwrap(),
            "t.Two is a message:\nmessage Two {\n  optional string a = 1;\n  required string b = 2;\n}"
        );
    }
}
