//! The stateless era (revision 2026-07-28, SEP-2575): per-request
//! `_meta`, `server/discover`, `subscriptions/listen`, input-required
//! results (SEP-2322) and caching hints (SEP-2549).
//!
//! There is no `initialize`: every request carries the protocol revision,
//! the client's capabilities and (optionally) its identity and the log
//! level it wants in `params._meta` under the reserved
//! `io.modelcontextprotocol/` keys ([`meta_keys`]). [`RequestMeta`] reads
//! and writes them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::capabilities::{ClientCapabilities, ServerCapabilities};
use super::common::{Extra, Implementation, Meta};
use super::logging::LoggingLevel;

/// The reserved `_meta` keys of the stateless era.
pub mod meta_keys {
    /// Request: the protocol revision the request speaks (required).
    pub const PROTOCOL_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
    /// Request: the client's capabilities (required).
    pub const CLIENT_CAPABILITIES: &str = "io.modelcontextprotocol/clientCapabilities";
    /// Request: the client's name and version (recommended).
    pub const CLIENT_INFO: &str = "io.modelcontextprotocol/clientInfo";
    /// Request: the least severe `notifications/message` level the client
    /// wants while the request runs; absent, no log messages are sent.
    pub const LOG_LEVEL: &str = "io.modelcontextprotocol/logLevel";
    /// Result: the server's name and version.
    pub const SERVER_INFO: &str = "io.modelcontextprotocol/serverInfo";
    /// Notification on a `subscriptions/listen` stream: the subscription
    /// (the id of the listen request).
    pub const SUBSCRIPTION_ID: &str = "io.modelcontextprotocol/subscriptionId";
}

/// Methods new in the stateless era.
pub mod stateless_methods {
    /// What the server speaks and offers.
    pub const SERVER_DISCOVER: &str = "server/discover";
    /// A long-lived request whose response stream carries the
    /// notifications the client subscribed to.
    pub const SUBSCRIPTIONS_LISTEN: &str = "subscriptions/listen";
    /// The first message of a listen stream.
    pub const NOTIFICATION_SUBSCRIPTIONS_ACKNOWLEDGED: &str =
        "notifications/subscriptions/acknowledged";
    /// Methods of the `initialize` era that the stateless era removed: a
    /// stateless request for one of them is answered -32601 (HTTP 404).
    pub const REMOVED: &[&str] = &[
        "initialize",
        "ping",
        "logging/setLevel",
        "resources/subscribe",
        "resources/unsubscribe",
        "notifications/initialized",
    ];
    /// Requests that may be answered with an
    /// [`InputRequiredResult`](super::InputRequiredResult).
    pub const INPUT_REQUIRED_ALLOWED: &[&str] = &["tools/call", "prompts/get", "resources/read"];
    /// Requests whose results carry caching hints (`ttlMs`, `cacheScope`).
    pub const CACHEABLE: &[&str] = &[
        "server/discover",
        "tools/list",
        "prompts/list",
        "resources/list",
        "resources/templates/list",
        "resources/read",
    ];
}

/// JSON-RPC error codes of the stateless era.
pub mod stateless_codes {
    /// A header (`MCP-Protocol-Version`, `Mcp-Method`, `Mcp-Name`,
    /// `Mcp-Param-*`) is missing or disagrees with the body (HTTP 400).
    pub const HEADER_MISMATCH: i64 = -32020;
    /// Serving the request needs a client capability the request's
    /// `_meta` did not declare (HTTP 400); `data.requiredCapabilities`
    /// names it.
    pub const MISSING_REQUIRED_CLIENT_CAPABILITY: i64 = -32021;
    /// The request's revision is not one the server speaks (HTTP 400);
    /// `data` has `supported` and `requested`.
    pub const UNSUPPORTED_PROTOCOL_VERSION: i64 = -32022;
}

/// The stateless-era members of a request's `_meta`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RequestMeta {
    /// The revision the request speaks.
    pub protocol_version: String,
    /// What the client supports, for this request.
    pub client_capabilities: ClientCapabilities,
    /// The client, if it said.
    pub client_info: Option<Implementation>,
    /// The log level the client wants for this request, if any.
    pub log_level: Option<LoggingLevel>,
}

/// Why a request's `_meta` is not valid stateless metadata.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MetaError {
    /// A required key is absent.
    #[error("_meta is missing `{0}`")]
    Missing(&'static str),
    /// A key's value has the wrong shape.
    #[error("_meta `{key}` is invalid: {message}")]
    Invalid {
        /// The key.
        key: &'static str,
        /// What serde_json reported.
        message: String,
    },
}

impl RequestMeta {
    /// This revision and these capabilities, nothing else.
    pub fn new(protocol_version: impl Into<String>, capabilities: ClientCapabilities) -> Self {
        Self {
            protocol_version: protocol_version.into(),
            client_capabilities: capabilities,
            ..Self::default()
        }
    }

    /// The protocol revision of a request's `_meta`, if it names one (a
    /// request that does speaks the stateless era).
    pub fn version_of(meta: Option<&Meta>) -> Option<&str> {
        meta?.get(meta_keys::PROTOCOL_VERSION)?.as_str()
    }

    /// Reads the reserved keys of a request's `_meta`.
    ///
    /// ```
    /// use serde_json::json;
    /// use wirestate_mcp::schema::{RequestMeta, MetaError};
    ///
    /// let meta = json!({
    ///     "io.modelcontextprotocol/protocolVersion": "2026-07-28",
    ///     "io.modelcontextprotocol/clientCapabilities": {"sampling": {}},
    /// });
    /// let m = RequestMeta::from_meta(meta.as_object()).unwrap();
    /// assert!(m.client_capabilities.sampling.is_some());
    /// assert!(matches!(RequestMeta::from_meta(None), Err(MetaError::Missing(_))));
    /// ```
    ///
    /// # Errors
    ///
    /// [`MetaError`] when the revision or the capabilities are absent, or
    /// a key has the wrong shape.
    pub fn from_meta(meta: Option<&Meta>) -> Result<Self, MetaError> {
        let empty = Map::new();
        let meta = meta.unwrap_or(&empty);
        let get = |key: &'static str| meta.get(key).filter(|v| !v.is_null());
        let protocol_version = match get(meta_keys::PROTOCOL_VERSION) {
            None => return Err(MetaError::Missing(meta_keys::PROTOCOL_VERSION)),
            Some(Value::String(s)) => s.clone(),
            Some(_) => {
                return Err(MetaError::Invalid {
                    key: meta_keys::PROTOCOL_VERSION,
                    message: "not a string".into(),
                });
            }
        };
        let client_capabilities = match get(meta_keys::CLIENT_CAPABILITIES) {
            None => return Err(MetaError::Missing(meta_keys::CLIENT_CAPABILITIES)),
            Some(v) => decode(meta_keys::CLIENT_CAPABILITIES, v)?,
        };
        let client_info = get(meta_keys::CLIENT_INFO)
            .map(|v| decode(meta_keys::CLIENT_INFO, v))
            .transpose()?;
        let log_level = get(meta_keys::LOG_LEVEL)
            .map(|v| decode(meta_keys::LOG_LEVEL, v))
            .transpose()?;
        Ok(Self {
            protocol_version,
            client_capabilities,
            client_info,
            log_level,
        })
    }

    /// Writes the reserved keys into `meta` (other keys are kept).
    pub fn write_into(&self, meta: &mut Meta) {
        meta.insert(
            meta_keys::PROTOCOL_VERSION.into(),
            Value::String(self.protocol_version.clone()),
        );
        meta.insert(
            meta_keys::CLIENT_CAPABILITIES.into(),
            serde_json::to_value(&self.client_capabilities).unwrap_or_default(),
        );
        if let Some(info) = &self.client_info {
            meta.insert(
                meta_keys::CLIENT_INFO.into(),
                serde_json::to_value(info).unwrap_or_default(),
            );
        }
        if let Some(level) = self.log_level {
            meta.insert(
                meta_keys::LOG_LEVEL.into(),
                serde_json::to_value(level).unwrap_or_default(),
            );
        }
    }

    /// The reserved keys as a fresh `_meta` object.
    pub fn to_meta(&self) -> Meta {
        let mut meta = Map::new();
        self.write_into(&mut meta);
        meta
    }
}

fn decode<T: serde::de::DeserializeOwned>(key: &'static str, v: &Value) -> Result<T, MetaError> {
    serde_json::from_value(v.clone()).map_err(|e| MetaError::Invalid {
        key,
        message: e.to_string(),
    })
}

/// Result of `server/discover`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DiscoverResult {
    /// Every revision the server speaks.
    pub supported_versions: Vec<String>,
    /// What the server offers.
    pub capabilities: ServerCapabilities,
    /// How to use the server, for the model's context.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instructions: Option<String>,
    /// Metadata; the server identifies itself under
    /// [`meta_keys::SERVER_INFO`].
    #[serde(rename = "_meta", default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
    /// Unknown members (`resultType`, `ttlMs`, `cacheScope`, …), kept.
    #[serde(flatten)]
    pub extra: Extra,
}

impl DiscoverResult {
    /// The server's identity from `_meta`, if it gave one.
    pub fn server_info(&self) -> Option<Implementation> {
        let v = self.meta.as_ref()?.get(meta_keys::SERVER_INFO)?;
        serde_json::from_value(v.clone()).ok()
    }
}

/// Which notifications a `subscriptions/listen` stream carries.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionFilter {
    /// `notifications/tools/list_changed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tools_list_changed: Option<bool>,
    /// `notifications/prompts/list_changed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompts_list_changed: Option<bool>,
    /// `notifications/resources/list_changed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources_list_changed: Option<bool>,
    /// `notifications/resources/updated` for these URIs (replaces
    /// `resources/subscribe`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_subscriptions: Option<Vec<String>>,
    /// Unknown members, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Params of `subscriptions/listen`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ListenParams {
    /// What to deliver.
    #[serde(default)]
    pub notifications: SubscriptionFilter,
    /// Metadata (the stateless keys).
    #[serde(rename = "_meta", default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
    /// Unknown members, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Params of `notifications/subscriptions/acknowledged`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AcknowledgedParams {
    /// The part of the requested filter the server will honour.
    pub notifications: SubscriptionFilter,
    /// Metadata ([`meta_keys::SUBSCRIPTION_ID`]).
    #[serde(rename = "_meta", default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
    /// Unknown members, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

/// One request the server needs the client to fulfil before it can
/// answer (`elicitation/create`, `sampling/createMessage`, `roots/list`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InputRequest {
    /// The method the client would have received as a request.
    pub method: String,
    /// Its params.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<Value>,
    /// Unknown members, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

impl InputRequest {
    /// A request for `method` with these params.
    pub fn new<T: Serialize>(method: &str, params: &T) -> Self {
        Self {
            method: method.to_owned(),
            params: serde_json::to_value(params).ok(),
            extra: Map::new(),
        }
    }
}

/// The answer to a request that needs more input (SEP-2322): the client
/// fulfils `inputRequests` and retries the request with `inputResponses`
/// (the same keys) and the `requestState` given here, echoed unchanged.
/// Serialized with `"resultType": "input_required"`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InputRequiredResult {
    /// The requests to fulfil, by key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_requests: Option<BTreeMap<String, InputRequest>>,
    /// Opaque state the client echoes on the retry (the server must
    /// protect it against tampering).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_state: Option<String>,
    /// Metadata.
    #[serde(rename = "_meta", default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
    /// Unknown members (`resultType`), kept.
    #[serde(flatten)]
    pub extra: Extra,
}

impl InputRequiredResult {
    /// `resultType` of an input-required result.
    pub const RESULT_TYPE: &'static str = "input_required";

    /// The result as JSON, `resultType` set.
    pub fn to_value(&self) -> Value {
        let mut v = serde_json::to_value(self).unwrap_or_else(|_| Value::Object(Map::new()));
        if let Value::Object(m) = &mut v {
            m.insert("resultType".into(), Value::String(Self::RESULT_TYPE.into()));
        }
        v
    }
}

/// The retry members of a request answered with an
/// [`InputRequiredResult`]: read from the params' unknown members.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InputResponses {
    /// The client's answers, by the keys of `inputRequests` (each a
    /// `CreateMessageResult`, `ListRootsResult` or `ElicitResult`).
    pub responses: Option<Map<String, Value>>,
    /// The `requestState` echoed.
    pub request_state: Option<String>,
    /// `inputResponses` was present but not an object.
    pub malformed: bool,
}

impl InputResponses {
    /// Reads `inputResponses` and `requestState` from request params'
    /// unknown members.
    pub fn from_extra(extra: &Extra) -> Self {
        let (responses, malformed) = match extra.get("inputResponses") {
            None => (None, false),
            Some(Value::Object(m)) => (Some(m.clone()), false),
            Some(_) => (None, true),
        };
        Self {
            responses,
            request_state: extra
                .get("requestState")
                .and_then(Value::as_str)
                .map(str::to_owned),
            malformed,
        }
    }

    /// Whether this is a retry (responses or state present).
    pub fn is_retry(&self) -> bool {
        self.responses.is_some() || self.request_state.is_some() || self.malformed
    }
}
