//! Serde types for the MCP schema: the `initialize` era (2024-11-05 to
//! 2025-11-25) and the stateless era (2026-07-28, see [`RequestMeta`],
//! [`DiscoverResult`], [`ListenParams`], [`InputRequiredResult`]): every
//! request's params and result and every notification's params that a
//! server or client of this crate handles.
//!
//! Conventions, for every type:
//!
//! * Members are camelCase as in the specification; optional members are
//!   `Option`s, left out when `None`.
//! * `_meta` is kept as [`Meta`] where the schema allows it.
//! * Members the type does not know — from a later revision, or
//!   extensions — are kept in `extra` and written back, so a value read and
//!   written again loses nothing.
//! * Content blocks of unknown types are kept whole
//!   ([`ContentBlock::Unknown`]).
//!
//! Fields new in a revision say so; older peers simply leave them out, so
//! one set of types reads every revision.
//!
//! ```
//! use wirestate_mcp::schema::{CallToolResult, ContentBlock};
//!
//! let text = r#"{"content":[{"type":"text","text":"hi"}],"isError":false,"x-new":1}"#;
//! let result: CallToolResult = serde_json::from_str(text).unwrap();
//! assert_eq!(result.content[0].as_text(), Some("hi"));
//! assert_eq!(result.extra["x-new"], 1);
//! assert_eq!(serde_json::to_string(&result).unwrap(), text);
//! ```

mod capabilities;
mod client;
mod common;
mod completion;
mod content;
mod lifecycle;
mod logging;
mod notifications;
mod prompts;
mod resources;
mod stateless;
mod tools;

pub use capabilities::{
    ClientCapabilities, ElicitationCapability, ListChangedCapability, ResourcesCapability,
    SamplingCapability, ServerCapabilities,
};
pub use client::{
    CreateMessageParams, CreateMessageResult, ElicitAction, ElicitParams, ElicitResult,
    ListRootsResult, ModelHint, ModelPreferences, Root, SamplingContent, SamplingMessage,
};
pub(crate) use common::MetaParams;
pub use common::{
    Annotations, Cursor, Empty, Extra, Icon, Implementation, Meta, PaginatedParams, ProgressToken,
    Role, progress_token,
};
pub use completion::{
    CompleteParams, CompleteResult, Completion, CompletionArgument, CompletionContext,
    CompletionReference, PromptReference, ResourceTemplateReference,
};
pub use content::{
    BlobResourceContents, ContentBlock, EmbeddedResource, MediaContent, ResourceContents,
    TextContent, TextResourceContents,
};
pub use lifecycle::{InitializeParams, InitializeResult, version};
pub use logging::{LoggingLevel, LoggingMessageParams, SetLevelParams};
pub use notifications::{CancelledParams, ProgressParams, methods};
pub use prompts::{
    GetPromptParams, GetPromptResult, ListPromptsResult, Prompt, PromptArgument, PromptMessage,
};
pub use resources::{
    ListResourceTemplatesResult, ListResourcesResult, ReadResourceParams, ReadResourceResult,
    Resource, ResourceTemplate, ResourceUpdatedParams, SubscribeParams, UriParams,
};
pub use stateless::{
    AcknowledgedParams, DiscoverResult, InputRequest, InputRequiredResult, InputResponses,
    ListenParams, MetaError, RequestMeta, SubscriptionFilter, meta_keys, stateless_codes,
    stateless_methods,
};
pub use tools::{CallToolParams, CallToolResult, ListToolsResult, Tool, ToolAnnotations};
