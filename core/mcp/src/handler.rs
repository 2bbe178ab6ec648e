//! The vocabulary of MCP server handlers, shared by every runtime's server
//! builder (async in `wirestate-rt`, threads in `wirestate-blocking`):
//! what a handler returns ([`ToolOutput`], [`Structured`]) or fails with
//! ([`ToolError`]), the registry of handlers ([`Handlers`]: lookup by tool
//! name, resource URI or template, prompt name), and the rules that turn
//! a handler's outcome into the session's answer (`answer_*`, including
//! the error codes that depend on the spec era).
//!
//! Nothing here runs a handler: a runtime looks the handler up, runs it
//! however it runs things, and hands the outcome back to one of the
//! `answer_*` functions under its session's lock. So both runtimes answer
//! the same requests the same way.
//!
//! JSON Schema generation from Rust types ([`schema_of`], [`Structured`],
//! [`NoArgs`]) needs the `schemars` feature.

use std::collections::BTreeMap;

use serde_json::{Map, Value};
use wirestate_jsonrpc::{ErrorCode, ErrorObject, RawJson, RequestId};
use wirestate_machine::ErrorKind;

use crate::http::{HttpServer, SessionId};
use crate::schema::{
    CallToolResult, ClientCapabilities, CompleteResult, Completion, CreateMessageResult,
    ElicitResult, GetPromptResult, InputRequiredResult, Meta, Prompt, ReadResourceResult,
    RequestMeta, Resource, ResourceTemplate, Tool, stateless_codes,
};
use crate::{ServerEvent, ServerSession};

/// Why a handler failed.
///
/// A tool's [`Failed`](Self::Failed), [`InvalidArguments`](Self::InvalidArguments)
/// and [`Client`](Self::Client) become a result with `isError: true` (the
/// model sees the reason); everything else, and any error of a resource or
/// prompt handler, a JSON-RPC error.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ToolError {
    /// The handler failed.
    #[error("{0}")]
    Failed(String),
    /// The arguments do not match the input type.
    #[error("invalid arguments: {0}")]
    InvalidArguments(String),
    /// Answer with this JSON-RPC error.
    #[error("{}", .0.message)]
    Rpc(ErrorObject),
    /// The client answered a request of ours with an error, or not at all.
    #[error("the client did not answer: {0}")]
    Client(String),
    /// Not a failure: a stateless (2026-07-28) request needs more input
    /// from the client first, answered with this
    /// [`InputRequiredResult`] (SEP-2322). Refused (-32603) for a request
    /// of the `initialize` era.
    #[error("input required")]
    InputRequired(Box<InputRequiredResult>),
    /// The request needs a client capability its `_meta` did not
    /// declare: answered -32021 naming these.
    #[error("missing required client capability")]
    MissingCapability(Box<ClientCapabilities>),
}

impl ToolError {
    /// A failure with this message.
    pub fn msg(message: impl Into<String>) -> Self {
        Self::Failed(message.into())
    }

    /// Whose fault: the client's for bad arguments and refused requests,
    /// the handler's (usage) otherwise.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::InvalidArguments(_)
            | Self::Rpc(_)
            | Self::Client(_)
            | Self::InputRequired(_)
            | Self::MissingCapability(_) => ErrorKind::Protocol,
            Self::Failed(_) => ErrorKind::Usage,
        }
    }

    /// The JSON-RPC code sent, when the failure is a JSON-RPC error.
    pub fn hint(&self) -> Option<ErrorCode> {
        match self {
            Self::Rpc(e) => Some(e.code),
            Self::MissingCapability(_) => Some(ErrorCode::new(
                stateless_codes::MISSING_REQUIRED_CLIENT_CAPABILITY,
            )),
            _ => None,
        }
    }

    /// Answers request `id` of `s` with this failure as a JSON-RPC error
    /// (or, for [`InputRequired`](Self::InputRequired), the input-required
    /// result the stateless era allows).
    pub fn answer(self, s: &mut ServerSession, id: &RequestId) {
        let _ = match self {
            Self::InputRequired(r) => s
                .respond_input_required(id, *r)
                .or_else(|_| s.respond_error(id, ErrorObject::internal_error())),
            Self::MissingCapability(c) => s.respond_missing_capability(id, &c),
            e => s.respond_error(id, e.into_object()),
        };
    }

    /// The JSON-RPC error for this failure: [`Rpc`](Self::Rpc) as it is,
    /// bad arguments -32602, anything else -32603 with the message.
    pub fn into_object(self) -> ErrorObject {
        match self {
            Self::Rpc(e) => e,
            Self::InvalidArguments(m) => ErrorObject::invalid_params(m),
            other => ErrorObject::new(ErrorCode::INTERNAL_ERROR, other.to_string()),
        }
    }

    /// A handler that panicked: -32603, for `tools/call` too (a server
    /// fault, not a tool result the model should read). Every runtime
    /// answers a panicking handler's request with it, so the client does
    /// not wait forever; what the panic said stays in the server's log.
    pub fn panicked() -> Self {
        Self::Rpc(ErrorObject::new(
            ErrorCode::INTERNAL_ERROR,
            "the handler panicked",
        ))
    }

    /// `tools/call` of a tool nobody registered: -32602.
    pub fn unknown_tool(name: &str) -> Self {
        Self::Rpc(ErrorObject::invalid_params(format!("Unknown tool: {name}")))
    }

    /// `prompts/get` of a prompt nobody registered: -32602.
    pub fn unknown_prompt() -> Self {
        Self::Rpc(ErrorObject::invalid_params("Unknown prompt"))
    }

    /// `resources/read` of a URI no resource or template matches: -32602
    /// from 2026-07-28 (SEP-2164, `stateless`), -32002 before; the URI in
    /// `data` either way.
    pub fn resource_not_found(uri: &str, stateless: bool) -> Self {
        Self::Rpc(
            ErrorObject::new(
                ErrorCode::new(if stateless { -32602 } else { -32002 }),
                format!("Resource not found: {uri}"),
            )
            .with_data(
                RawJson::from_serialize(&serde_json::json!({ "uri": uri }))
                    .unwrap_or_else(|_| RawJson::null()),
            ),
        )
    }
}

/// What a typed tool handler returns.
pub trait ToolOutput: Send + 'static {
    /// The output schema, for structured results.
    fn output_schema() -> Option<Map<String, Value>> {
        None
    }
    /// The result sent to the client.
    fn into_result(self) -> CallToolResult;
    /// The result on its way to the session: by default
    /// [`into_result`](Self::into_result); [`Structured`] writes its JSON
    /// text at once instead (no [`Value`] built, the value serialized
    /// once for both the structured content and the text block).
    fn into_answer(self) -> ToolAnswer
    where
        Self: Sized,
    {
        ToolAnswer::Result(self.into_result())
    }
    /// Whether the structured content is wrapped as `{"result": …}`
    /// ([`into_wrapped_answer`](Self::into_wrapped_answer)): MCP asks for
    /// an object as `structuredContent` and an `outputSchema` of type
    /// `object`, so [`Structured`] wraps the values of other types (a
    /// list, a number, a string), as the Python SDK's servers do. The
    /// builders ask once, when the tool is registered.
    fn wraps_output() -> bool {
        false
    }
    /// The answer when [`wraps_output`](Self::wraps_output) is true: by
    /// default [`into_answer`](Self::into_answer).
    fn into_wrapped_answer(self) -> ToolAnswer
    where
        Self: Sized,
    {
        self.into_answer()
    }
}

/// A typed tool's answer as the server builders send it: wrapped as
/// `{"result": …}` when `wrap` ([`ToolOutput::wraps_output`], asked once
/// when the tool was registered).
pub fn tool_answer<O: ToolOutput>(output: O, wrap: bool) -> ToolAnswer {
    if wrap {
        output.into_wrapped_answer()
    } else {
        output.into_answer()
    }
}

/// A tool's outcome as the runtimes hand it to [`answer_tool`]: a
/// [`CallToolResult`], or the JSON text of one, already written.
#[derive(Debug, Clone)]
pub enum ToolAnswer {
    /// A result, serialized when answered.
    Result(CallToolResult),
    /// The JSON text of a `CallToolResult`, sent as it is.
    Raw(RawJson),
}

impl From<CallToolResult> for ToolAnswer {
    fn from(r: CallToolResult) -> Self {
        ToolAnswer::Result(r)
    }
}

/// The JSON text of [`CallToolResult::structured`] for `value`, written
/// without building a [`Value`]: `value` is serialized once, and that
/// text is both the structured content and (escaped) the text block.
/// Members of `value` keep their serialization order.
///
/// # Errors
///
/// What serializing `value` reports.
pub fn structured_result<T: serde::Serialize + ?Sized>(
    value: &T,
) -> Result<RawJson, serde_json::Error> {
    #[derive(serde::Serialize)]
    struct Text<'a> {
        #[serde(rename = "type")]
        kind: &'static str,
        text: &'a str,
    }
    #[derive(serde::Serialize)]
    struct Out<'a> {
        content: [Text<'a>; 1],
        #[serde(rename = "structuredContent")]
        structured: &'a serde_json::value::RawValue,
    }
    let raw = serde_json::value::to_raw_value(value)?;
    RawJson::from_serialize(&Out {
        content: [Text {
            kind: "text",
            text: raw.get(),
        }],
        structured: &raw,
    })
}

impl ToolOutput for String {
    fn into_result(self) -> CallToolResult {
        CallToolResult::text(self)
    }
}

impl ToolOutput for &'static str {
    fn into_result(self) -> CallToolResult {
        CallToolResult::text(self)
    }
}

impl ToolOutput for CallToolResult {
    fn into_result(self) -> CallToolResult {
        self
    }
}

/// A structured tool result: `structuredContent` (and its JSON as text),
/// with the output schema generated from `T`.
///
/// MCP wants an object there (and an output schema of type `object`): a
/// `T` that is not one — a list, a number, a string, a unit enum, an
/// `Option` — goes out as `{"result": …}`, with the schema to match (as
/// the Python SDK's servers do). Structs, maps and enums whose variants
/// are all objects go out as they are.
#[derive(Debug, Clone, PartialEq)]
pub struct Structured<T>(pub T);

#[cfg(feature = "schemars")]
impl<T: serde::Serialize + schemars::JsonSchema + Send + 'static> ToolOutput for Structured<T> {
    fn output_schema() -> Option<Map<String, Value>> {
        let schema = root_schema_of::<T>();
        if is_object_schema(&schema) {
            Some(typed_object(schema))
        } else {
            Some(wrapped_schema(schema))
        }
    }
    fn wraps_output() -> bool {
        !is_object_schema(&root_schema_of::<T>())
    }
    fn into_wrapped_answer(self) -> ToolAnswer {
        #[derive(serde::Serialize)]
        struct Wrapped<'a, T> {
            result: &'a T,
        }
        match structured_result(&Wrapped { result: &self.0 }) {
            Ok(raw) => ToolAnswer::Raw(raw),
            Err(e) => ToolAnswer::Result(CallToolResult::error(format!(
                "cannot serialize the result: {e}"
            ))),
        }
    }
    fn into_result(self) -> CallToolResult {
        match serde_json::to_value(&self.0) {
            Ok(v) => CallToolResult::structured(v),
            Err(e) => CallToolResult::error(format!("cannot serialize the result: {e}")),
        }
    }
    fn into_answer(self) -> ToolAnswer {
        match structured_result(&self.0) {
            Ok(raw) => ToolAnswer::Raw(raw),
            Err(e) => ToolAnswer::Result(CallToolResult::error(format!(
                "cannot serialize the result: {e}"
            ))),
        }
    }
}

/// Arguments of a tool that takes none.
#[cfg(feature = "schemars")]
#[derive(Debug, Clone, Copy, Default, serde::Deserialize, schemars::JsonSchema)]
pub struct NoArgs {}

/// The JSON Schema of `T` as an object (`schemars`, draft 2020-12),
/// without its `title`, and typed `object` when the type says nothing.
///
/// Only the `format`s JSON Schema 2020-12 defines are kept: schemars marks
/// Rust's number types with its own (`uint`, `int32`, `double`, …), which
/// validators of the standard reject or warn about (the TypeScript SDK
/// does). The range such a format stood for is kept as `minimum` /
/// `maximum` where it matters ([`standard_formats`]).
#[cfg(feature = "schemars")]
pub fn schema_of<T: schemars::JsonSchema>() -> Map<String, Value> {
    typed_object(root_schema_of::<T>())
}

/// `schema`, typed `object` when it says no type (and without a title).
#[cfg(feature = "schemars")]
fn typed_object(mut m: Map<String, Value>) -> Map<String, Value> {
    m.remove("title");
    m.entry("type")
        .or_insert_with(|| Value::String("object".into()));
    m
}

/// Whether `schema` (a root schema, with its `$defs`) only admits JSON
/// objects: typed `object`, or without a type and every `oneOf` /
/// `anyOf` branch (one `allOf` branch is enough) an object, inline or
/// by a `$ref` into the root's `$defs` (schemars' enums with fields).
/// A schema with no constraint at all (`serde_json::Value`) counts as an
/// object: [`schema_of`] has always typed it so.
pub fn is_object_schema(schema: &Map<String, Value>) -> bool {
    fn object(s: &Value, defs: Option<&Map<String, Value>>, depth: usize) -> bool {
        let Some(m) = s.as_object() else {
            return false;
        };
        if depth > 8 {
            return false;
        }
        if let Some(Value::String(r)) = m.get("$ref") {
            let def = r
                .strip_prefix("#/$defs/")
                .and_then(|name| defs.and_then(|d| d.get(name)));
            return def.is_some_and(|d| object(d, defs, depth + 1));
        }
        match m.get("type") {
            Some(Value::String(t)) => return t == "object",
            Some(_) => return false,
            None => {}
        }
        let all = |key: &str| {
            m.get(key)
                .and_then(Value::as_array)
                .is_some_and(|b| !b.is_empty() && b.iter().all(|x| object(x, defs, depth + 1)))
        };
        let any_all_of = m
            .get("allOf")
            .and_then(Value::as_array)
            .is_some_and(|b| b.iter().any(|x| object(x, defs, depth + 1)));
        all("oneOf") || all("anyOf") || any_all_of
    }
    // A schema that constrains nothing (`serde_json::Value`'s) is taken
    // as an object, as `schema_of` types it: such a tool's author returns
    // objects, and their output keeps its shape.
    let constraining = schema
        .keys()
        .any(|k| !matches!(k.as_str(), "$schema" | "title" | "description" | "$defs"));
    if !constraining {
        return true;
    }
    let defs = schema.get("$defs").and_then(Value::as_object);
    object(&Value::Object(schema.clone()), defs, 0)
}

/// The output schema of a value that is not an object: an object whose
/// `result` is the value (`{"result": …}`), the value's `$defs` (and
/// `$schema`) kept at the root, where its `$ref`s point.
#[cfg(feature = "schemars")]
fn wrapped_schema(mut inner: Map<String, Value>) -> Map<String, Value> {
    let mut m = Map::new();
    if let Some(v) = inner.remove("$schema") {
        m.insert("$schema".into(), v);
    }
    inner.remove("title");
    let defs = inner.remove("$defs");
    m.insert("type".into(), Value::String("object".into()));
    let mut properties = Map::new();
    properties.insert("result".into(), Value::Object(inner));
    m.insert("properties".into(), Value::Object(properties));
    m.insert(
        "required".into(),
        Value::Array(vec![Value::String("result".into())]),
    );
    if let Some(d) = defs {
        m.insert("$defs".into(), d);
    }
    m
}

/// The root schema of `T` as schemars writes it (draft 2020-12, standard
/// formats only), before [`schema_of`] types it `object`.
#[cfg(feature = "schemars")]
fn root_schema_of<T: schemars::JsonSchema>() -> Map<String, Value> {
    let generator = schemars::generate::SchemaSettings::draft2020_12()
        .with_transform(schemars::transform::RecursiveTransform(
            |schema: &mut schemars::Schema| {
                if let Some(m) = schema.as_object_mut() {
                    standard_formats(m);
                }
            },
        ))
        .into_generator();
    match serde_json::to_value(generator.into_root_schema_for::<T>()) {
        Ok(Value::Object(m)) => m,
        // `true`: any value.
        _ => Map::new(),
    }
}

/// The `format` values JSON Schema 2020-12 defines (its format-annotation
/// vocabulary); any other is an extension a validator need not know.
pub const STANDARD_FORMATS: &[&str] = &[
    "date-time",
    "date",
    "time",
    "duration",
    "email",
    "idn-email",
    "hostname",
    "idn-hostname",
    "ipv4",
    "ipv6",
    "uri",
    "uri-reference",
    "iri",
    "iri-reference",
    "uuid",
    "uri-template",
    "json-pointer",
    "relative-json-pointer",
    "regex",
];

/// Makes one schema object (not its subschemas) standard JSON Schema
/// 2020-12 as to `format`: a `format` outside [`STANDARD_FORMATS`] is
/// removed, and the range of schemars' integer formats is said with
/// `minimum` / `maximum` instead (unless the schema already bounds it), so
/// a `u32` field still refuses -1 and 2^32.
pub fn standard_formats(schema: &mut Map<String, Value>) {
    let Some(Value::String(format)) = schema.get("format") else {
        return;
    };
    if STANDARD_FORMATS.contains(&format.as_str()) {
        return;
    }
    let range: Option<(i64, Option<i64>)> = match format.as_str() {
        "int8" => Some((i8::MIN.into(), Some(i8::MAX.into()))),
        "int16" => Some((i16::MIN.into(), Some(i16::MAX.into()))),
        "int32" => Some((i32::MIN.into(), Some(i32::MAX.into()))),
        "uint8" => Some((0, Some(u8::MAX.into()))),
        "uint16" => Some((0, Some(u16::MAX.into()))),
        "uint32" => Some((0, Some(u32::MAX.into()))),
        "uint" | "uint64" | "uint128" => Some((0, None)),
        _ => None,
    };
    schema.remove("format");
    if let Some((min, max)) = range {
        if !schema.contains_key("minimum") && !schema.contains_key("exclusiveMinimum") {
            schema.insert("minimum".into(), min.into());
        }
        if let Some(max) = max {
            if !schema.contains_key("maximum") && !schema.contains_key("exclusiveMaximum") {
                schema.insert("maximum".into(), max.into());
            }
        }
    }
}

/// The prefix of the `inputRequests` keys that [`stateless_input`] uses.
pub const INPUT_KEY_PREFIX: &str = "wirestate-input-";

/// What a handler asks the client in the stateless (2026-07-28) era,
/// where a server sends no requests of its own: the `index`-th question
/// of this handler's run (elicitation, sampling: `method` and `params`),
/// answered from the request's `inputResponses` when the client retried
/// with the answer, else an [`InputRequiredResult`] asking for it
/// (SEP-2322) — the client answers and retries, and the handler runs
/// again from the start, its earlier questions answered at once. The
/// answers of earlier rounds travel in `requestState` (the client echoes
/// it), so a handler may ask several questions in turn. `needs` is the
/// capability the request's `_meta` must declare (else
/// [`ToolError::MissingCapability`], -32021).
///
/// # Errors
///
/// [`ToolError::InputRequired`] for a question not answered yet;
/// [`ToolError::MissingCapability`]; [`ToolError::Client`] for an answer
/// that is not the expected result.
pub fn stateless_input<T: serde::de::DeserializeOwned>(
    meta: &RequestMeta,
    input: &crate::schema::InputResponses,
    index: usize,
    method: &str,
    params: &impl serde::Serialize,
    needs: ClientCapabilities,
) -> Result<T, ToolError> {
    let declared = &meta.client_capabilities;
    let missing = (needs.elicitation.is_some() && declared.elicitation.is_none())
        || (needs.sampling.is_some() && declared.sampling.is_none());
    if missing {
        return Err(ToolError::MissingCapability(Box::new(needs)));
    }
    let key = format!("{INPUT_KEY_PREFIX}{index}");
    let mut known = decode_input_state(input.request_state.as_deref());
    for (k, v) in input.responses.iter().flatten() {
        if k.starts_with(INPUT_KEY_PREFIX) {
            known.insert(k.clone(), v.clone());
        }
    }
    if let Some(answer) = known.get(&key) {
        return serde_json::from_value(answer.clone())
            .map_err(|e| ToolError::Client(format!("an unexpected answer to {method}: {e}")));
    }
    let request_state = (!known.is_empty()).then(|| encode_input_state(&known));
    Err(ToolError::InputRequired(Box::new(InputRequiredResult {
        input_requests: Some(BTreeMap::from([(
            key,
            crate::schema::InputRequest::new(method, params),
        )])),
        request_state,
        ..InputRequiredResult::default()
    })))
}

/// The answers of earlier rounds, as [`stateless_input`] keeps them in
/// `requestState`: base64url of a JSON object. Anything else (a state the
/// application set, or garbage) holds none.
fn decode_input_state(state: Option<&str>) -> Map<String, Value> {
    use base64::Engine as _;
    state
        .and_then(|s| s.strip_prefix(INPUT_KEY_PREFIX))
        .and_then(|b| {
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(b)
                .ok()
        })
        .and_then(|bytes| serde_json::from_slice::<Map<String, Value>>(&bytes).ok())
        .map(|m| {
            m.into_iter()
                .filter(|(k, _)| k.starts_with(INPUT_KEY_PREFIX))
                .collect()
        })
        .unwrap_or_default()
}

fn encode_input_state(known: &Map<String, Value>) -> String {
    use base64::Engine as _;
    let json = serde_json::to_vec(known).unwrap_or_default();
    format!(
        "{INPUT_KEY_PREFIX}{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json)
    )
}

/// A change of the catalogue a handler makes while it runs (a tool or
/// prompt appearing or going), applied by the runtime to the session it
/// serves ([`apply`](Self::apply)) or, on Streamable HTTP, to every
/// session ([`apply_http`](Self::apply_http)); clients that listen are
/// told the list changed.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum CatalogueEdit {
    /// Registers (or replaces) a tool.
    AddTool(Tool),
    /// Removes the tool of that name.
    RemoveTool(String),
    /// Registers (or replaces) a prompt.
    AddPrompt(Prompt),
    /// Removes the prompt of that name.
    RemovePrompt(String),
    /// The resource of that URI changed: the sessions subscribed to it
    /// are told (`notifications/resources/updated`).
    ResourceUpdated(String),
}

impl CatalogueEdit {
    /// Applies the change to one session.
    pub fn apply(self, session: &mut ServerSession) {
        match self {
            Self::AddTool(t) => session.add_tool(t),
            Self::RemoveTool(n) => {
                session.remove_tool(&n);
            }
            Self::AddPrompt(p) => session.add_prompt(p),
            Self::RemovePrompt(n) => {
                session.remove_prompt(&n);
            }
            Self::ResourceUpdated(uri) => {
                session.resource_updated(&uri);
            }
        }
    }

    /// Applies the change to every session of a Streamable HTTP server
    /// (and to those it opens later).
    pub fn apply_http(self, server: &mut HttpServer) {
        match self {
            Self::AddTool(t) => server.add_tool(t),
            Self::RemoveTool(n) => {
                server.remove_tool(&n);
            }
            Self::AddPrompt(p) => server.add_prompt(p),
            Self::RemovePrompt(n) => {
                server.remove_prompt(&n);
            }
            Self::ResourceUpdated(uri) => {
                server.resource_updated(&uri);
            }
        }
    }
}

/// A resource read: the URI and, for a template, its variables.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceRequest {
    /// The URI read.
    pub uri: String,
    /// The template's variables (`{id}` → value); empty for a resource.
    pub vars: BTreeMap<String, String>,
}

/// Matches `uri` against a template of literal text and `{name}`
/// variables, each matching a non-empty run without `/`; the variables'
/// values, or `None` when it does not match.
pub fn match_template(template: &str, uri: &str) -> Option<BTreeMap<String, String>> {
    let mut vars = BTreeMap::new();
    let mut rest = uri;
    let mut tpl = template;
    while !tpl.is_empty() {
        if let Some(after) = tpl.strip_prefix('{') {
            let end = after.find('}')?;
            let name = &after[..end];
            tpl = &after[end + 1..];
            let stop = tpl.find('{').map_or(tpl, |i| &tpl[..i]);
            let len = if stop.is_empty() {
                rest.find('/').unwrap_or(rest.len())
            } else {
                rest.find(stop)?
            };
            if len == 0 || rest[..len].contains('/') {
                return None;
            }
            vars.insert(name.to_owned(), rest[..len].to_owned());
            rest = &rest[len..];
        } else {
            let lit_end = tpl.find('{').unwrap_or(tpl.len());
            rest = rest.strip_prefix(&tpl[..lit_end])?;
            tpl = &tpl[lit_end..];
        }
    }
    rest.is_empty().then_some(vars)
}

/// The `_meta` of a stateless (2026-07-28) request, `None` for a request
/// of the `initialize` era (or one whose `_meta` does not parse).
pub fn request_meta(meta: Option<&Meta>) -> Option<RequestMeta> {
    RequestMeta::version_of(meta).and_then(|_| RequestMeta::from_meta(meta).ok())
}

/// The calls a server is running, by transport (a runtime's own id for
/// it), session and request: what `notifications/cancelled`, or the end of
/// an HTTP session, finds to cancel. `V` is the runtime's cancellation
/// handle (a flag, or a flag and the handler task's waker).
///
/// A request id may be reused once answered, so each call removes only
/// its own entry ([`remove`](Self::remove) compares the handle).
#[derive(Debug)]
pub struct InFlight<V> {
    calls: BTreeMap<InFlightKey, std::sync::Arc<V>>,
}

/// A call's key in [`InFlight`]: transport, session (none on stdio and in
/// the stateless era), request.
pub type InFlightKey = (usize, Option<SessionId>, RequestId);

impl<V> Default for InFlight<V> {
    fn default() -> Self {
        Self {
            calls: BTreeMap::new(),
        }
    }
}

impl<V> InFlight<V> {
    /// A call started.
    pub fn insert(&mut self, key: InFlightKey, handle: std::sync::Arc<V>) {
        self.calls.insert(key, handle);
    }

    /// The call with `handle` ended: its entry goes, not a later call's
    /// that reused the id.
    pub fn remove(&mut self, key: &InFlightKey, handle: &std::sync::Arc<V>) {
        if self
            .calls
            .get(key)
            .is_some_and(|h| std::sync::Arc::ptr_eq(h, handle))
        {
            self.calls.remove(key);
        }
    }

    /// The running call with this key, if any.
    pub fn get(&self, key: &InFlightKey) -> Option<&std::sync::Arc<V>> {
        self.calls.get(key)
    }

    /// Every running call of `session` on `transport`.
    pub fn of_session<'a>(
        &'a self,
        transport: usize,
        session: &'a SessionId,
    ) -> impl Iterator<Item = &'a std::sync::Arc<V>> + 'a {
        self.calls
            .iter()
            .filter(move |((t, s, _), _)| *t == transport && s.as_ref() == Some(session))
            .map(|(_, h)| h)
    }
}

/// The registered handlers of a server, by kind: `T` for tools, `R` for
/// resources and templates, `P` for prompts, `C` for completion (each the
/// runtime's own handler type, cheap to clone).
#[derive(Debug, Clone)]
pub struct Handlers<T, R, P, C> {
    /// Tools, names unique.
    pub tools: Vec<(Tool, T)>,
    /// Resources, in registration order.
    pub resources: Vec<(Resource, R)>,
    /// Resource templates, tried in registration order after the resources.
    pub templates: Vec<(ResourceTemplate, R)>,
    /// Prompts, names unique.
    pub prompts: Vec<(Prompt, P)>,
    /// The completion handler, if any.
    pub complete: Option<C>,
}

impl<T, R, P, C> Default for Handlers<T, R, P, C> {
    fn default() -> Self {
        Self {
            tools: Vec::new(),
            resources: Vec::new(),
            templates: Vec::new(),
            prompts: Vec::new(),
            complete: None,
        }
    }
}

impl<T: Clone, R: Clone, P: Clone, C: Clone> Handlers<T, R, P, C> {
    /// Registers a tool, replacing one of the same name.
    pub fn add_tool(&mut self, tool: Tool, handler: T) {
        self.tools.retain(|(t, _)| t.name != tool.name);
        self.tools.push((tool, handler));
    }

    /// Registers a prompt, replacing one of the same name.
    pub fn add_prompt(&mut self, prompt: Prompt, handler: P) {
        self.prompts.retain(|(p, _)| p.name != prompt.name);
        self.prompts.push((prompt, handler));
    }

    /// The handler of tool `name`.
    pub fn tool(&self, name: &str) -> Option<T> {
        self.tools
            .iter()
            .find(|(t, _)| t.name == name)
            .map(|(_, f)| f.clone())
    }

    /// The handler reading `uri`: a resource of that URI, else the first
    /// template matching it, with the template's variables.
    pub fn resource(&self, uri: &str) -> Option<(R, BTreeMap<String, String>)> {
        self.resources
            .iter()
            .find(|(r, _)| r.uri == uri)
            .map(|(_, f)| (f.clone(), BTreeMap::new()))
            .or_else(|| {
                self.templates
                    .iter()
                    .find_map(|(t, f)| match_template(&t.uri_template, uri).map(|v| (f.clone(), v)))
            })
    }

    /// Prompt `name` and its handler.
    pub fn prompt(&self, name: &str) -> Option<(Prompt, P)> {
        self.prompts.iter().find(|(p, _)| p.name == name).cloned()
    }

    /// Lists the catalogue in a session.
    pub fn fill_session(&self, session: &mut ServerSession) {
        for (t, _) in &self.tools {
            session.add_tool(t.clone());
        }
        for (r, _) in &self.resources {
            session.add_resource(r.clone());
        }
        for (t, _) in &self.templates {
            session.add_resource_template(t.clone());
        }
        for (p, _) in &self.prompts {
            session.add_prompt(p.clone());
        }
    }

    /// Lists the catalogue in a Streamable HTTP server (its every session).
    pub fn fill_http(&self, server: &mut HttpServer) {
        for (t, _) in &self.tools {
            server.add_tool(t.clone());
        }
        for (r, _) in &self.resources {
            server.add_resource(r.clone());
        }
        for (t, _) in &self.templates {
            server.add_resource_template(t.clone());
        }
        for (p, _) in &self.prompts {
            server.add_prompt(p.clone());
        }
    }
}

/// Checks a `prompts/get`'s arguments against the prompt's required
/// ones: -32602 naming the first one missing.
///
/// # Errors
///
/// [`ToolError::Rpc`] (-32602) when a required argument is missing.
pub fn check_prompt_arguments(
    prompt: &Prompt,
    args: &BTreeMap<String, String>,
) -> Result<(), ToolError> {
    match prompt
        .arguments
        .iter()
        .flatten()
        .find(|a| a.required == Some(true) && !args.contains_key(&a.name))
    {
        Some(a) => Err(ToolError::Rpc(ErrorObject::invalid_params(format!(
            "missing required argument `{}`",
            a.name
        )))),
        None => Ok(()),
    }
}

/// The answer of `completion/complete` when no completion handler is
/// registered: no values.
pub fn no_completion() -> CompleteResult {
    CompleteResult {
        completion: Completion::default(),
        ..CompleteResult::default()
    }
}

/// Answers a `tools/call`: a handler failure the model should see
/// ([`ToolError::Failed`], [`ToolError::InvalidArguments`],
/// [`ToolError::Client`]) as a result with `isError: true`, anything else
/// as [`ToolError::answer`] does.
pub fn answer_call_tool(
    s: &mut ServerSession,
    id: &RequestId,
    result: Result<CallToolResult, ToolError>,
) {
    match result {
        Ok(r) => {
            let _ = s.respond_call_tool(id, r);
        }
        Err(e @ (ToolError::Failed(_) | ToolError::InvalidArguments(_) | ToolError::Client(_))) => {
            let _ = s.respond_call_tool(id, CallToolResult::error(e.to_string()));
        }
        Err(e) => e.answer(s, id),
    }
}

/// Answers a `tools/call` with a tool's [`ToolAnswer`] (as
/// [`answer_call_tool`]).
pub fn answer_tool(s: &mut ServerSession, id: &RequestId, result: Result<ToolAnswer, ToolError>) {
    match result {
        Ok(ToolAnswer::Raw(raw)) => {
            let _ = s.respond_call_tool_raw(id, raw);
        }
        Ok(ToolAnswer::Result(r)) => answer_call_tool(s, id, Ok(r)),
        Err(e) => answer_call_tool(s, id, Err(e)),
    }
}

/// Answers a `resources/read`.
pub fn answer_read_resource(
    s: &mut ServerSession,
    id: &RequestId,
    result: Result<ReadResourceResult, ToolError>,
) {
    match result {
        Ok(r) => {
            let _ = s.respond_read_resource(id, r);
        }
        Err(e) => e.answer(s, id),
    }
}

/// Answers a `prompts/get`.
pub fn answer_get_prompt(
    s: &mut ServerSession,
    id: &RequestId,
    result: Result<GetPromptResult, ToolError>,
) {
    match result {
        Ok(r) => {
            let _ = s.respond_get_prompt(id, r);
        }
        Err(e) => e.answer(s, id),
    }
}

/// Answers a `completion/complete`.
pub fn answer_complete(
    s: &mut ServerSession,
    id: &RequestId,
    result: Result<CompleteResult, ToolError>,
) {
    let _ = match result {
        Ok(r) => s.respond_complete(id, r),
        Err(e) => s.respond_error(id, e.into_object()),
    };
}

/// What the client answered to one of the server's requests (sampling,
/// elicitation), for the handler waiting on it.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientAnswer {
    /// `sampling/createMessage` answered.
    Sampled(Box<CreateMessageResult>),
    /// `elicitation/create` answered.
    Elicited(ElicitResult),
    /// The client answered with an error, or the request timed out.
    Failed(String),
}

impl ClientAnswer {
    /// The answer a session event carries to request `request` of ours:
    /// `Ok` for an answer, the event back when it is something else.
    ///
    /// # Errors
    ///
    /// The event itself when it answers none of our requests.
    // The event is handed back as it came (moved, not copied): boxing it
    // would cost an allocation on every request a server serves.
    #[allow(clippy::result_large_err)]
    pub fn from_event(event: ServerEvent) -> Result<(RequestId, Self), ServerEvent> {
        match event {
            ServerEvent::Sampled { request, result } => Ok((request, Self::Sampled(result))),
            ServerEvent::Elicited { request, result } => Ok((request, Self::Elicited(result))),
            ServerEvent::RequestFailed { request, error } => {
                Ok((request, Self::Failed(error.message)))
            }
            ServerEvent::RequestTimedOut { request } => {
                Ok((request, Self::Failed("timed out".into())))
            }
            other => Err(other),
        }
    }

    /// The sampling result, or why there is none.
    ///
    /// # Errors
    ///
    /// [`ToolError::Client`] when the client failed or answered something else.
    pub fn sampled(self) -> Result<CreateMessageResult, ToolError> {
        match self {
            Self::Sampled(r) => Ok(*r),
            Self::Failed(m) => Err(ToolError::Client(m)),
            Self::Elicited(_) => Err(ToolError::Client("no answer".into())),
        }
    }

    /// The elicitation result, or why there is none.
    ///
    /// # Errors
    ///
    /// [`ToolError::Client`] when the client failed or answered something else.
    pub fn elicited(self) -> Result<ElicitResult, ToolError> {
        match self {
            Self::Elicited(r) => Ok(r),
            Self::Failed(m) => Err(ToolError::Client(m)),
            Self::Sampled(_) => Err(ToolError::Client("no answer".into())),
        }
    }
}

/// Hands a session event that answers one of the server's requests to
/// whoever waits for it: `waiters` holds one `T` (a channel's sender,
/// say) per request of ours, keyed by session (`None` off HTTP) and id.
/// `Ok(Some)` is the waiter with its answer, `Ok(None)` an event
/// consumed without one (an answer nobody waits for any more, or a
/// session's close dropping its waiters); `Err` gives any other event
/// back.
///
/// # Errors
///
/// The event itself when it is not about the server's own requests.
#[allow(clippy::result_large_err)] // moved back as it came; see `from_event`
pub fn route_answer<T>(
    waiters: &mut BTreeMap<(Option<SessionId>, RequestId), T>,
    session: Option<&SessionId>,
    event: ServerEvent,
) -> Result<Option<(T, ClientAnswer)>, ServerEvent> {
    match ClientAnswer::from_event(event) {
        Ok((request, answer)) => Ok(waiters
            .remove(&(session.cloned(), request))
            .map(|w| (w, answer))),
        Err(ServerEvent::Closed { abandoned }) => {
            for request in abandoned {
                waiters.remove(&(session.cloned(), request));
            }
            Ok(None)
        }
        Err(other) => Err(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A call removes only its own entry (an id reused after the answer
    /// has its own), and a session's calls are found on its transport only.
    #[test]
    fn in_flight_calls_by_transport_session_and_request() {
        use std::sync::Arc;
        let session = SessionId::from("s1");
        let other = SessionId::from("s2");
        let id = RequestId::from(7u64);
        let mut calls = InFlight::<u8>::default();
        let first = Arc::new(1);
        calls.insert((1, Some(session.clone()), id.clone()), first.clone());
        let reused = Arc::new(2);
        calls.insert((1, Some(session.clone()), id.clone()), reused.clone());
        calls.insert((1, Some(other.clone()), id.clone()), Arc::new(3));
        calls.insert((2, Some(session.clone()), id.clone()), Arc::new(4));
        calls.remove(&(1, Some(session.clone()), id.clone()), &first);
        let key = (1, Some(session.clone()), id.clone());
        assert_eq!(calls.get(&key).map(|h| **h), Some(2));
        let found: Vec<u8> = calls.of_session(1, &session).map(|h| **h).collect();
        assert_eq!(found, [2]);
        calls.remove(&key, &reused);
        assert!(calls.get(&key).is_none());
    }

    /// The structured result written at once is the one
    /// `CallToolResult::structured` serializes (as JSON values: members
    /// may come in another order), the text block included.
    #[test]
    fn structured_result_is_the_structured_call_tool_result() {
        #[derive(serde::Serialize)]
        struct Out {
            text: &'static str,
            length: usize,
            nested: Vec<Option<f64>>,
        }
        let out = Out {
            text: "quote \" and \\ and é ✓ \u{1}",
            length: 3,
            nested: vec![Some(1.5), None],
        };
        let raw = structured_result(&out).unwrap();
        let got: Value = raw.decode().unwrap();
        let value = serde_json::to_value(&out).unwrap();
        let want = serde_json::to_value(CallToolResult::structured(value.clone())).unwrap();
        assert_eq!(got["structuredContent"], want["structuredContent"]);
        let text: Value =
            serde_json::from_str(got["content"][0]["text"].as_str().unwrap()).unwrap();
        assert_eq!(text, value);
        let mut got = got;
        got["content"][0]["text"] = Value::Null;
        let mut want = want;
        want["content"][0]["text"] = Value::Null;
        assert_eq!(got, want);
    }

    /// MCP wants an object as `structuredContent` and an output schema of
    /// type `object`: a structured list or number went out as it was, and
    /// the Python SDK (2.x) refused the whole `tools/list` page
    /// (`tools.N.outputSchema.type`). Such values are wrapped as
    /// `{"result": …}`, their schema with them; objects (structs, maps,
    /// enums whose variants are all objects) are not.
    #[cfg(feature = "schemars")]
    #[test]
    fn structured_values_that_are_not_objects_are_wrapped() {
        #[derive(serde::Serialize, schemars::JsonSchema)]
        struct Item {
            name: String,
        }
        #[derive(serde::Serialize, schemars::JsonSchema)]
        #[serde(tag = "kind")]
        #[allow(dead_code)]
        enum Shape {
            Circle { r: f64 },
            Square { side: f64 },
        }
        #[derive(serde::Serialize, schemars::JsonSchema)]
        #[allow(dead_code)]
        enum Unit {
            Celsius,
            Kelvin,
        }
        fn answer<O: ToolOutput>(o: O) -> Value {
            match tool_answer(o, O::wraps_output()) {
                ToolAnswer::Raw(raw) => raw.decode().unwrap(),
                ToolAnswer::Result(r) => serde_json::to_value(r).unwrap(),
            }
        }
        fn schema<O: ToolOutput>() -> Value {
            Value::Object(O::output_schema().unwrap())
        }

        // Not objects: wrapped, in the schema and in the answer.
        let list = vec![Item { name: "a".into() }];
        assert!(Structured::<Vec<Item>>::wraps_output());
        let s = schema::<Structured<Vec<Item>>>();
        assert_eq!(s["type"], "object");
        assert_eq!(s["required"], serde_json::json!(["result"]));
        assert_eq!(s["properties"]["result"]["type"], "array");
        assert_eq!(
            s["properties"]["result"]["items"]["$ref"], "#/$defs/Item",
            "{s}"
        );
        assert_eq!(s["$defs"]["Item"]["type"], "object", "the $ref resolves");
        let a = answer(Structured(list));
        assert_eq!(
            a["structuredContent"],
            serde_json::json!({"result": [{"name": "a"}]})
        );
        let text: Value = serde_json::from_str(a["content"][0]["text"].as_str().unwrap()).unwrap();
        assert_eq!(text, a["structuredContent"]);
        for (wraps, s, a) in [
            (
                Structured::<u32>::wraps_output(),
                schema::<Structured<u32>>(),
                answer(Structured(42u32)),
            ),
            (
                Structured::<Unit>::wraps_output(),
                schema::<Structured<Unit>>(),
                answer(Structured(Unit::Kelvin)),
            ),
            (
                Structured::<Option<Item>>::wraps_output(),
                schema::<Structured<Option<Item>>>(),
                answer(Structured(None::<Item>)),
            ),
            (
                Structured::<String>::wraps_output(),
                schema::<Structured<String>>(),
                answer(Structured(String::from("x"))),
            ),
        ] {
            assert!(wraps, "{s}");
            assert_eq!(s["type"], "object", "{s}");
            assert!(a["structuredContent"].is_object(), "{a}");
            assert!(a["structuredContent"].get("result").is_some(), "{a}");
        }

        // Objects: as they are.
        for (wraps, s, a) in [
            (
                Structured::<Item>::wraps_output(),
                schema::<Structured<Item>>(),
                answer(Structured(Item { name: "b".into() })),
            ),
            (
                Structured::<Shape>::wraps_output(),
                schema::<Structured<Shape>>(),
                answer(Structured(Shape::Circle { r: 1.0 })),
            ),
            (
                Structured::<Value>::wraps_output(),
                schema::<Structured<Value>>(),
                answer(Structured(serde_json::json!({"free": "form"}))),
            ),
            (
                Structured::<BTreeMap<String, u8>>::wraps_output(),
                schema::<Structured<BTreeMap<String, u8>>>(),
                answer(Structured(BTreeMap::from([("k".to_string(), 1u8)]))),
            ),
        ] {
            assert!(!wraps, "{s}");
            assert_eq!(s["type"], "object", "{s}");
            assert!(s["properties"].get("result").is_none(), "{s}");
            assert!(a["structuredContent"].is_object(), "{a}");
            assert!(a["structuredContent"].get("result").is_none(), "{a}");
        }
    }

    /// Every `format` anywhere in `v` (a schema, or data inside one: the
    /// check is deliberately coarse, so no nonstandard format hides).
    #[cfg(feature = "schemars")]
    fn formats(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(m) => {
                if let Some(Value::String(f)) = m.get("format") {
                    out.push(f.clone());
                }
                m.values().for_each(|v| formats(v, out));
            }
            Value::Array(a) => a.iter().for_each(|v| formats(v, out)),
            _ => {}
        }
    }

    #[cfg(feature = "schemars")]
    #[test]
    fn generated_schemas_use_only_standard_formats() {
        #[derive(schemars::JsonSchema)]
        #[allow(dead_code)]
        struct Inner {
            small: u8,
            id: uuid_like::Id,
        }
        mod uuid_like {
            /// A type that asks for a standard format.
            pub struct Id;
            impl schemars::JsonSchema for Id {
                fn schema_name() -> std::borrow::Cow<'static, str> {
                    "Id".into()
                }
                fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
                    schemars::json_schema!({"type": "string", "format": "uuid"})
                }
            }
        }
        #[derive(schemars::JsonSchema)]
        #[allow(dead_code)]
        struct Out {
            length: usize,
            count: u32,
            delta: i32,
            big: i64,
            ratio: f64,
            maybe: Option<u16>,
            list: Vec<u64>,
            inner: Inner,
            nested: Vec<Inner>,
        }
        let schema = Value::Object(schema_of::<Out>());
        let mut found = Vec::new();
        formats(&schema, &mut found);
        // The standard one survives; schemars' own are gone.
        assert_eq!(found, ["uuid"], "{schema:#}");
        let p = &schema["properties"];
        assert_eq!(p["length"]["minimum"], 0);
        assert!(p["length"].get("maximum").is_none());
        assert_eq!(p["count"]["minimum"], 0);
        assert_eq!(p["count"]["maximum"], u32::MAX);
        assert_eq!(p["delta"]["minimum"], i32::MIN);
        assert_eq!(p["delta"]["maximum"], i32::MAX);
        assert!(p["big"].get("minimum").is_none());
        assert_eq!(p["ratio"]["type"], "number");
        assert_eq!(p["list"]["items"]["minimum"], 0);
        // Subschemas under $defs are rewritten too.
        assert_eq!(
            schema["$defs"]["Inner"]["properties"]["small"]["maximum"],
            255
        );
        assert_eq!(
            schema["$schema"],
            "https://json-schema.org/draft/2020-12/schema"
        );
    }

    #[test]
    fn standard_formats_keep_bounds_already_given() {
        let mut m = serde_json::json!({"type": "integer", "format": "uint8",
            "minimum": 1, "exclusiveMaximum": 10});
        let Value::Object(m) = &mut m else {
            unreachable!()
        };
        standard_formats(m);
        assert_eq!(
            Value::Object(m.clone()),
            serde_json::json!({"type": "integer", "minimum": 1, "exclusiveMaximum": 10})
        );
        let mut d = serde_json::json!({"type": "string", "format": "date-time"});
        let Value::Object(d) = &mut d else {
            unreachable!()
        };
        standard_formats(d);
        assert_eq!(d["format"], "date-time");
    }

    #[test]
    fn templates_match_segments() {
        let v = match_template("test://template/{id}/data", "test://template/42/data").unwrap();
        assert_eq!(v["id"], "42");
        assert!(match_template("test://template/{id}/data", "test://template//data").is_none());
        assert!(match_template("test://template/{id}/data", "test://template/a/b/data").is_none());
        assert!(match_template("a/{x}", "a/b").is_some());
        assert!(match_template("a/{x}", "a/b/c").is_none());
        assert!(match_template("{x}-{y}", "1-2").is_some_and(|v| v["y"] == "2"));
        assert!(match_template("a/{x", "a/b").is_none());
    }

    #[test]
    fn resource_not_found_depends_on_the_era() {
        let ToolError::Rpc(e) = ToolError::resource_not_found("x://y", false) else {
            panic!("not an rpc error")
        };
        assert_eq!(e.code, ErrorCode::new(-32002));
        let ToolError::Rpc(e) = ToolError::resource_not_found("x://y", true) else {
            panic!("not an rpc error")
        };
        assert_eq!(e.code, ErrorCode::new(-32602));
        assert!(e.data.is_some_and(|d| d.as_str().contains("x://y")));
    }

    #[test]
    fn handlers_look_up_resources_then_templates() {
        let mut h: Handlers<u8, u8, u8, u8> = Handlers::default();
        h.resources.push((Resource::new("a://1", "one"), 1));
        let t: ResourceTemplate =
            serde_json::from_value(serde_json::json!({"uriTemplate": "a://{n}", "name": "any"}))
                .unwrap();
        h.templates.push((t, 2));
        assert_eq!(h.resource("a://1").map(|(f, _)| f), Some(1));
        let (f, vars) = h.resource("a://7").unwrap();
        assert_eq!((f, vars["n"].as_str()), (2, "7"));
        assert!(h.resource("b://1").is_none());
        h.add_tool(Tool::new("t", Map::new()), 1);
        h.add_tool(Tool::new("t", Map::new()), 2);
        assert_eq!((h.tools.len(), h.tool("t")), (1, Some(2)));
    }

    #[test]
    fn required_prompt_arguments_are_checked() {
        let p: Prompt = serde_json::from_value(serde_json::json!({
            "name": "p", "arguments": [{"name": "who", "required": true}, {"name": "opt"}]
        }))
        .unwrap();
        let mut args = BTreeMap::new();
        let e = check_prompt_arguments(&p, &args).unwrap_err();
        assert_eq!(e.hint(), Some(ErrorCode::INVALID_PARAMS));
        args.insert("who".into(), "me".into());
        assert!(check_prompt_arguments(&p, &args).is_ok());
    }

    #[test]
    fn errors_map_to_objects() {
        assert_eq!(
            ToolError::InvalidArguments("x".into()).into_object().code,
            ErrorCode::INVALID_PARAMS
        );
        assert_eq!(
            ToolError::msg("boom").into_object().code,
            ErrorCode::INTERNAL_ERROR
        );
        assert_eq!(ToolError::msg("boom").kind(), ErrorKind::Usage);
        // A panic is a JSON-RPC error, not an isError tool result.
        assert_eq!(
            ToolError::panicked().hint(),
            Some(ErrorCode::INTERNAL_ERROR)
        );
        assert!(ToolError::panicked().to_string().contains("panicked"));
        let (id, a) = ClientAnswer::from_event(ServerEvent::RequestTimedOut {
            request: RequestId::from(3u64),
        })
        .unwrap();
        assert_eq!(id, RequestId::from(3u64));
        assert_eq!(a.sampled(), Err(ToolError::Client("timed out".into())));
        let mut waiters = BTreeMap::new();
        waiters.insert((None, RequestId::from(1u64)), "one");
        waiters.insert((None, RequestId::from(2u64)), "two");
        let timed_out = ServerEvent::RequestTimedOut {
            request: RequestId::from(1u64),
        };
        let routed = route_answer(&mut waiters, None, timed_out).unwrap();
        assert_eq!(routed.map(|(w, _)| w), Some("one"));
        let closed = ServerEvent::Closed {
            abandoned: vec![RequestId::from(2u64)],
        };
        assert!(matches!(route_answer(&mut waiters, None, closed), Ok(None)));
        assert!(waiters.is_empty());
    }
}
