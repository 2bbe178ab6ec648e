//! Progress and cancellation, and the method names.

use serde::{Deserialize, Serialize};
use wirestate_jsonrpc::RequestId;

use super::common::{Extra, Meta, ProgressToken};

/// Params of `notifications/progress`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProgressParams {
    /// The token from the request's `_meta`.
    pub progress_token: ProgressToken,
    /// Progress so far; increases with every notification.
    pub progress: f64,
    /// The total, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<f64>,
    /// What is happening (2025-03-26).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// Metadata.
    #[serde(rename = "_meta", default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
    /// Unknown members, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Params of `notifications/cancelled`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CancelledParams {
    /// The request cancelled (required before 2025-11-25, where task
    /// cancellation made it optional).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<RequestId>,
    /// Why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Metadata.
    #[serde(rename = "_meta", default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
    /// Unknown members, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

/// The method names of the `initialize` era.
pub mod methods {
    /// Request: start a session.
    pub const INITIALIZE: &str = "initialize";
    /// Request, either direction: liveness.
    pub const PING: &str = "ping";
    /// Request: list tools.
    pub const TOOLS_LIST: &str = "tools/list";
    /// Request: call a tool.
    pub const TOOLS_CALL: &str = "tools/call";
    /// Request: list resources.
    pub const RESOURCES_LIST: &str = "resources/list";
    /// Request: list resource templates.
    pub const RESOURCES_TEMPLATES_LIST: &str = "resources/templates/list";
    /// Request: read a resource.
    pub const RESOURCES_READ: &str = "resources/read";
    /// Request: subscribe to a resource's updates.
    pub const RESOURCES_SUBSCRIBE: &str = "resources/subscribe";
    /// Request: end a subscription.
    pub const RESOURCES_UNSUBSCRIBE: &str = "resources/unsubscribe";
    /// Request: list prompts.
    pub const PROMPTS_LIST: &str = "prompts/list";
    /// Request: get a prompt.
    pub const PROMPTS_GET: &str = "prompts/get";
    /// Request: complete an argument.
    pub const COMPLETION_COMPLETE: &str = "completion/complete";
    /// Request: set the log level.
    pub const LOGGING_SET_LEVEL: &str = "logging/setLevel";
    /// Request, server to client: list roots.
    pub const ROOTS_LIST: &str = "roots/list";
    /// Request, server to client: sample the model.
    pub const SAMPLING_CREATE_MESSAGE: &str = "sampling/createMessage";
    /// Request, server to client: ask the user.
    pub const ELICITATION_CREATE: &str = "elicitation/create";
    /// Notification, client to server: initialization done.
    pub const NOTIFICATION_INITIALIZED: &str = "notifications/initialized";
    /// Notification, either direction: a request is cancelled.
    pub const NOTIFICATION_CANCELLED: &str = "notifications/cancelled";
    /// Notification, either direction: progress of a request.
    pub const NOTIFICATION_PROGRESS: &str = "notifications/progress";
    /// Notification, server to client: a log message.
    pub const NOTIFICATION_MESSAGE: &str = "notifications/message";
    /// Notification, server to client: a subscribed resource changed.
    pub const NOTIFICATION_RESOURCES_UPDATED: &str = "notifications/resources/updated";
    /// Notification, server to client: the resource list changed.
    pub const NOTIFICATION_RESOURCES_LIST_CHANGED: &str = "notifications/resources/list_changed";
    /// Notification, server to client: the tool list changed.
    pub const NOTIFICATION_TOOLS_LIST_CHANGED: &str = "notifications/tools/list_changed";
    /// Notification, server to client: the prompt list changed.
    pub const NOTIFICATION_PROMPTS_LIST_CHANGED: &str = "notifications/prompts/list_changed";
    /// Notification, client to server: the root list changed.
    pub const NOTIFICATION_ROOTS_LIST_CHANGED: &str = "notifications/roots/list_changed";
    /// Notification, client to server: a URL elicitation finished (2025-11-25).
    pub const NOTIFICATION_ELICITATION_COMPLETE: &str = "notifications/elicitation/complete";
}
