//! One definition of the demo and conformance fixtures for both server
//! builders: the async one of `wirestate-rt` (tokio, smol) and the
//! blocking one of `wirestate-blocking`.
//!
//! A fixture is written once, as an async handler over [`Ctx`] (what a
//! handler may do while it serves a request) and registered through
//! [`Builder`]. On rt the future runs on the runtime. On blocking, the
//! context's waiting operations (sleep, sampling, elicitation) block the
//! handler's thread and hand back a future that is already complete, so
//! the handler's future completes in its first poll ([`run_ready`]):
//! nothing is scheduled, and no executor runs on the blocking side.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use schemars::JsonSchema;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use wirestate_mcp::handler::{ResourceRequest, ToolError, ToolOutput};
use wirestate_mcp::schema::{
    CallToolResult, CompleteParams, CompleteResult, CreateMessageParams, CreateMessageResult,
    ElicitParams, ElicitResult, GetPromptResult, InputResponses, LoggingLevel, Prompt,
    ReadResourceResult, RequestMeta, Resource, ResourceTemplate, Tool,
};

/// A handler's future.
pub type Fut<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// What a fixture may do while it serves a request: the common part of
/// `wirestate_rt::mcp::RequestContext` and
/// `wirestate_blocking::mcp_server::RequestContext`.
pub trait Ctx: Clone + Send + Sync + 'static {
    /// Sends a log message; whether it was sent.
    fn log(&self, level: LoggingLevel, logger: Option<&str>, data: Value) -> bool;
    /// Reports progress, if the client asked for it.
    fn progress(&self, progress: f64, total: Option<f64>, message: Option<&str>) -> bool;
    /// Ends the SSE stream carrying this request's answer (HTTP).
    fn close_stream(&self) -> bool;
    /// The `_meta` of a stateless request.
    fn request_meta(&self) -> Option<&RequestMeta>;
    /// The `inputResponses` and `requestState` of a retried request.
    fn input_responses(&self) -> &InputResponses;
    /// Registers a tool with every session.
    fn add_tool(&self, tool: Tool);
    /// Removes a tool from every session.
    fn remove_tool(&self, name: &str);
    /// Registers a prompt with every session.
    fn add_prompt(&self, prompt: Prompt);
    /// Removes a prompt from every session.
    fn remove_prompt(&self, name: &str);
    /// Waits `duration`.
    fn sleep(&self, duration: Duration) -> Fut<()>;
    /// `elicitation/create` to the client.
    fn elicit(&self, params: ElicitParams) -> Fut<Result<ElicitResult, ToolError>>;
    /// `sampling/createMessage` to the client.
    fn create_message(
        &self,
        params: CreateMessageParams,
    ) -> Fut<Result<CreateMessageResult, ToolError>>;
}

/// Registering handlers written over [`Ctx`] with a server builder.
pub trait Builder: Sized {
    /// The builder's request context.
    type Ctx: Ctx;
    /// A tool with typed arguments (input schema from `A`, output schema
    /// from `O`).
    fn add_tool<A, O>(
        self,
        name: &str,
        description: &str,
        f: impl Fn(Self::Ctx, A) -> Fut<Result<O, ToolError>> + Send + Sync + 'static,
    ) -> Self
    where
        A: DeserializeOwned + JsonSchema + Send + 'static,
        O: ToolOutput;
    /// A tool described by hand.
    fn add_tool_raw(
        self,
        tool: Tool,
        f: impl Fn(Self::Ctx, Map<String, Value>) -> Fut<Result<CallToolResult, ToolError>>
        + Send
        + Sync
        + 'static,
    ) -> Self;
    /// A resource.
    fn add_resource(
        self,
        resource: Resource,
        f: impl Fn(Self::Ctx, ResourceRequest) -> Fut<Result<ReadResourceResult, ToolError>>
        + Send
        + Sync
        + 'static,
    ) -> Self;
    /// A resource template.
    fn add_template(
        self,
        template: ResourceTemplate,
        f: impl Fn(Self::Ctx, ResourceRequest) -> Fut<Result<ReadResourceResult, ToolError>>
        + Send
        + Sync
        + 'static,
    ) -> Self;
    /// A prompt.
    fn add_prompt(
        self,
        prompt: Prompt,
        f: impl Fn(Self::Ctx, BTreeMap<String, String>) -> Fut<Result<GetPromptResult, ToolError>>
        + Send
        + Sync
        + 'static,
    ) -> Self;
    /// Argument completion.
    fn add_completion(
        self,
        f: impl Fn(CompleteParams) -> Result<CompleteResult, ToolError> + Send + Sync + 'static,
    ) -> Self;
}

/// A future of no waiting, boxed.
fn done<T: Send + 'static>(value: T) -> Fut<T> {
    Box::pin(std::future::ready(value))
}

/// The outcome of a blocking side's handler future, which completes in its
/// first poll since every [`Ctx`] operation of the blocking context has
/// finished before it returns its future.
pub fn run_ready<T>(mut f: Fut<Result<T, ToolError>>) -> Result<T, ToolError> {
    let mut cx = Context::from_waker(Waker::noop());
    match f.as_mut().poll(&mut cx) {
        Poll::Ready(r) => r,
        // Only a future awaiting something other than the context could
        // get here: a fixture bug, answered rather than hung on.
        Poll::Pending => Err(ToolError::msg(
            "the handler waited on something the blocking server cannot drive",
        )),
    }
}

/// The [`Ctx`] operations that do not wait: both runtimes'
/// `RequestContext`s have them under the same names and signatures.
macro_rules! forward_non_waiting {
    () => {
        fn log(&self, level: LoggingLevel, logger: Option<&str>, data: Value) -> bool {
            Self::log(self, level, logger, data)
        }
        fn progress(&self, progress: f64, total: Option<f64>, message: Option<&str>) -> bool {
            Self::progress(self, progress, total, message)
        }
        fn close_stream(&self) -> bool {
            Self::close_stream(self)
        }
        fn request_meta(&self) -> Option<&RequestMeta> {
            Self::request_meta(self)
        }
        fn input_responses(&self) -> &InputResponses {
            Self::input_responses(self)
        }
        fn add_tool(&self, tool: Tool) {
            Self::add_tool(self, tool);
        }
        fn remove_tool(&self, name: &str) {
            Self::remove_tool(self, name);
        }
        fn add_prompt(&self, prompt: Prompt) {
            Self::add_prompt(self, prompt);
        }
        fn remove_prompt(&self, name: &str) {
            Self::remove_prompt(self, name);
        }
    };
}

// ---- wirestate-rt ----

impl Ctx for wirestate_rt::mcp::RequestContext {
    forward_non_waiting!();
    fn sleep(&self, duration: Duration) -> Fut<()> {
        let ctx = self.clone();
        Box::pin(async move { Self::sleep(&ctx, duration).await })
    }
    fn elicit(&self, params: ElicitParams) -> Fut<Result<ElicitResult, ToolError>> {
        let ctx = self.clone();
        Box::pin(async move { Self::elicit(&ctx, params).await })
    }
    fn create_message(
        &self,
        params: CreateMessageParams,
    ) -> Fut<Result<CreateMessageResult, ToolError>> {
        let ctx = self.clone();
        Box::pin(async move { Self::create_message(&ctx, params).await })
    }
}

impl Builder for wirestate_rt::mcp::McpServerBuilder {
    type Ctx = wirestate_rt::mcp::RequestContext;
    fn add_tool<A, O>(
        self,
        name: &str,
        description: &str,
        f: impl Fn(Self::Ctx, A) -> Fut<Result<O, ToolError>> + Send + Sync + 'static,
    ) -> Self
    where
        A: DeserializeOwned + JsonSchema + Send + 'static,
        O: ToolOutput,
    {
        self.tool_with_context(name, description, f)
    }
    fn add_tool_raw(
        self,
        tool: Tool,
        f: impl Fn(Self::Ctx, Map<String, Value>) -> Fut<Result<CallToolResult, ToolError>>
        + Send
        + Sync
        + 'static,
    ) -> Self {
        self.tool_raw(tool, f)
    }
    fn add_resource(
        self,
        resource: Resource,
        f: impl Fn(Self::Ctx, ResourceRequest) -> Fut<Result<ReadResourceResult, ToolError>>
        + Send
        + Sync
        + 'static,
    ) -> Self {
        self.resource(resource, f)
    }
    fn add_template(
        self,
        template: ResourceTemplate,
        f: impl Fn(Self::Ctx, ResourceRequest) -> Fut<Result<ReadResourceResult, ToolError>>
        + Send
        + Sync
        + 'static,
    ) -> Self {
        self.resource_template(template, f)
    }
    fn add_prompt(
        self,
        prompt: Prompt,
        f: impl Fn(Self::Ctx, BTreeMap<String, String>) -> Fut<Result<GetPromptResult, ToolError>>
        + Send
        + Sync
        + 'static,
    ) -> Self {
        self.prompt(prompt, f)
    }
    fn add_completion(
        self,
        f: impl Fn(CompleteParams) -> Result<CompleteResult, ToolError> + Send + Sync + 'static,
    ) -> Self {
        self.completion(move |p| std::future::ready(f(p)))
    }
}

// ---- wirestate-blocking ----

impl Ctx for wirestate_blocking::mcp_server::RequestContext {
    forward_non_waiting!();
    // The waiting operations block the handler's thread, then hand back
    // their outcome as a finished future.
    fn sleep(&self, duration: Duration) -> Fut<()> {
        std::thread::sleep(duration);
        done(())
    }
    fn elicit(&self, params: ElicitParams) -> Fut<Result<ElicitResult, ToolError>> {
        done(Self::elicit(self, params))
    }
    fn create_message(
        &self,
        params: CreateMessageParams,
    ) -> Fut<Result<CreateMessageResult, ToolError>> {
        done(Self::create_message(self, params))
    }
}

impl Builder for wirestate_blocking::mcp_server::McpServerBuilder {
    type Ctx = wirestate_blocking::mcp_server::RequestContext;
    fn add_tool<A, O>(
        self,
        name: &str,
        description: &str,
        f: impl Fn(Self::Ctx, A) -> Fut<Result<O, ToolError>> + Send + Sync + 'static,
    ) -> Self
    where
        A: DeserializeOwned + JsonSchema + Send + 'static,
        O: ToolOutput,
    {
        self.tool_with_context(name, description, move |ctx: &Self::Ctx, a: A| {
            run_ready(f(ctx.clone(), a))
        })
    }
    fn add_tool_raw(
        self,
        tool: Tool,
        f: impl Fn(Self::Ctx, Map<String, Value>) -> Fut<Result<CallToolResult, ToolError>>
        + Send
        + Sync
        + 'static,
    ) -> Self {
        self.tool_raw(tool, move |ctx, args| run_ready(f(ctx.clone(), args)))
    }
    fn add_resource(
        self,
        resource: Resource,
        f: impl Fn(Self::Ctx, ResourceRequest) -> Fut<Result<ReadResourceResult, ToolError>>
        + Send
        + Sync
        + 'static,
    ) -> Self {
        self.resource(resource, move |ctx, r| run_ready(f(ctx.clone(), r)))
    }
    fn add_template(
        self,
        template: ResourceTemplate,
        f: impl Fn(Self::Ctx, ResourceRequest) -> Fut<Result<ReadResourceResult, ToolError>>
        + Send
        + Sync
        + 'static,
    ) -> Self {
        self.resource_template(template, move |ctx, r| run_ready(f(ctx.clone(), r)))
    }
    fn add_prompt(
        self,
        prompt: Prompt,
        f: impl Fn(Self::Ctx, BTreeMap<String, String>) -> Fut<Result<GetPromptResult, ToolError>>
        + Send
        + Sync
        + 'static,
    ) -> Self {
        self.prompt(prompt, move |ctx, a| run_ready(f(ctx.clone(), a)))
    }
    fn add_completion(
        self,
        f: impl Fn(CompleteParams) -> Result<CompleteResult, ToolError> + Send + Sync + 'static,
    ) -> Self {
        self.completion(f)
    }
}
