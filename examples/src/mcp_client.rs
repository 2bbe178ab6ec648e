//! `wirestate mcp`: a small MCP client on tokio, smol or blocking threads,
//! over Streamable HTTP, WebSocket (each plain or over TLS) or a stdio
//! child process.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use serde::Serialize;
use serde_json::{Map, Value};
use wirestate_mcp::schema::{Resource, ResourceTemplate};
use wirestate_mcp::{ClientEvent, Era};
use wirestate_rt::Runtime;
use wirestate_rt::mcp_client::{Events, McpClient, McpClientConfig, McpClientError};

/// Which runtime drives the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rt {
    /// tokio.
    Tokio,
    /// smol.
    Smol,
    /// The blocking runtime (threads, no async).
    Blocking,
}

/// What to do once connected.
#[derive(Debug, Clone, PartialEq)]
enum Action {
    ListTools,
    Call(String, Option<Map<String, Value>>),
    Resources,
    Read(String),
    Prompts,
    GetPrompt(String, Option<BTreeMap<String, String>>),
    Info,
}

fn parse_action(words: &[String]) -> Result<Action, String> {
    let w: Vec<&str> = words.iter().map(String::as_str).collect();
    // `@FILE` or `@` (stdin) for arguments too large for the command line.
    let object = |text: Option<&&str>| -> Result<Option<Map<String, Value>>, String> {
        let Some(source) = text else {
            return Ok(None);
        };
        let t = crate::argument_text(source, "the arguments", std::io::stdin())?;
        // The text may be megabytes from a file: its start is enough to
        // recognise it (serde's error says where it went wrong).
        let shown = || match t.char_indices().nth(200) {
            Some((end, _)) => format!("{}...", &t[..end]),
            None => t.clone(),
        };
        match serde_json::from_str::<Value>(&t) {
            Ok(Value::Object(m)) => Ok(Some(m)),
            Ok(_) => Err(format!("arguments must be a JSON object, not {}", shown())),
            Err(e) => Err(format!("arguments are not JSON ({e}): {}", shown())),
        }
    };
    match w.as_slice() {
        ["list-tools"] | ["tools"] => Ok(Action::ListTools),
        ["call", name, rest @ ..] if rest.len() <= 1 => {
            Ok(Action::Call((*name).to_owned(), object(rest.first())?))
        }
        ["resources"] => Ok(Action::Resources),
        ["read", uri] => Ok(Action::Read((*uri).to_owned())),
        ["prompts"] => Ok(Action::Prompts),
        ["get-prompt", name, rest @ ..] if rest.len() <= 1 => {
            let args = object(rest.first())?.map(|m| {
                m.into_iter()
                    .map(|(k, v)| match v {
                        Value::String(s) => (k, s),
                        other => (k, other.to_string()),
                    })
                    .collect()
            });
            Ok(Action::GetPrompt((*name).to_owned(), args))
        }
        ["info"] => Ok(Action::Info),
        _ => Err(format!(
            "unknown action {:?}: expected list-tools | call NAME [JSON|@FILE|@] | resources (and templates) | read URI | prompts | get-prompt NAME [JSON|@FILE|@] | info",
            words.join(" ")
        )),
    }
}

/// Where the server is.
enum Target<'a> {
    Http(&'a str),
    Ws(&'a str),
    Child(&'a [String]),
}

/// Runs `wirestate mcp`: `words` is `[URL] ACTION [ARGS]`, `command` the
/// stdio server to spawn (what followed `--`); `era` the spec era to speak
/// ([`Era::Auto`]: detected).
///
/// # Errors
///
/// A usage error, a connection or protocol failure, as a message.
pub fn run(
    rt: Rt,
    timeout: Duration,
    era: Era,
    tls: Option<std::sync::Arc<wirestate_rt::tls::rustls::ClientConfig>>,
    words: &[String],
    command: &[String],
) -> Result<ExitCode, String> {
    let (target, action_words) = if command.is_empty() {
        match words.split_first() {
            Some((url, rest)) if url.starts_with("http://") || url.starts_with("https://") => {
                (Target::Http(url.as_str()), rest)
            }
            Some((url, rest)) if url.starts_with("ws://") || url.starts_with("wss://") => {
                (Target::Ws(url.as_str()), rest)
            }
            _ => {
                return Err(
                    "give a URL (http(s)://... or ws(s)://...) or a command after `--`".into(),
                );
            }
        }
    } else {
        (Target::Child(command), words)
    };
    let action = parse_action(action_words)?;
    let mut config = McpClientConfig::default();
    config.client_info =
        wirestate_mcp::schema::Implementation::new("wirestate", env!("CARGO_PKG_VERSION"));
    config.session.jsonrpc.request_timeout = Some(timeout);
    config.session.era = era;
    // The stateless era sends logs only to requests that ask for a level;
    // the initialize era's servers send theirs unasked.
    config.session.log_level = Some(wirestate_mcp::schema::LoggingLevel::Info);
    config.tls = tls;
    match rt {
        Rt::Tokio => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(async {
                let client = match target {
                    Target::Http(url) => wirestate_tokio::mcp::connect_http(url, config).await,
                    Target::Ws(url) => wirestate_tokio::mcp::connect_ws(url, config).await,
                    Target::Child(cmd) => {
                        wirestate_tokio::mcp::connect_child(&cmd[0], &cmd[1..], config).await
                    }
                }
                .map_err(|e| connect_error(&e))?;
                session(client, action).await
            })
        }
        Rt::Smol => smol::block_on(async {
            let client = match target {
                Target::Http(url) => wirestate_smol::mcp::connect_http(url, config).await,
                Target::Ws(url) => wirestate_smol::mcp::connect_ws(url, config).await,
                Target::Child(cmd) => {
                    wirestate_smol::mcp::connect_child(&cmd[0], &cmd[1..], config).await
                }
            }
            .map_err(|e| connect_error(&e))?;
            session(client, action).await
        }),
        Rt::Blocking => blocking(target, timeout, era, config.tls, action),
    }
}

/// `wirestate mcp --runtime blocking`: the same on
/// `wirestate_blocking::mcp_client`.
fn blocking(
    target: Target<'_>,
    timeout: Duration,
    era: Era,
    tls: Option<std::sync::Arc<wirestate_rt::tls::rustls::ClientConfig>>,
    action: Action,
) -> Result<ExitCode, String> {
    use wirestate_blocking::mcp_client::{McpClient, McpClientConfig};
    let mut config = McpClientConfig::default();
    config.tls = tls;
    config.client_info =
        wirestate_mcp::schema::Implementation::new("wirestate", env!("CARGO_PKG_VERSION"));
    config.session.jsonrpc.request_timeout = Some(timeout);
    config.session.era = era;
    config.session.log_level = Some(wirestate_mcp::schema::LoggingLevel::Info);
    let client = match target {
        Target::Http(url) => McpClient::http(url, config),
        Target::Ws(url) => McpClient::websocket(url, config),
        Target::Child(cmd) => McpClient::spawn(&cmd[0], &cmd[1..], config),
    }
    .map_err(|e| format!("cannot start the MCP session: {e}"))?;
    // Printed on a thread of their own until the action is done, then
    // until none is left: notifications a server sent before its answer
    // are queued by the time the call returns, and are all printed before
    // the session closes.
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let events = {
        let client = client.clone();
        let done = done.clone();
        std::thread::spawn(move || {
            loop {
                match client.next_event(Duration::from_millis(50)) {
                    Some(event) => print_event(&event),
                    None if client.is_closed()
                        || done.load(std::sync::atomic::Ordering::SeqCst) =>
                    {
                        break;
                    }
                    None => {}
                }
            }
        })
    };
    let outcome = (|| -> Result<ExitCode, wirestate_blocking::mcp_client::McpClientError> {
        match action {
            Action::ListTools => print(&client.list_all_tools()?),
            Action::Call(name, args) => {
                let result = client.call_tool(&name, args)?;
                print(&result);
                if result.is_error == Some(true) {
                    return Ok(ExitCode::FAILURE);
                }
            }
            Action::Resources => {
                let resources = client.list_all_resources()?;
                let templates = templates_or_none(client.list_all_resource_templates())?;
                print(&ResourceListing::new(resources, templates));
            }
            Action::Read(uri) => print(&client.read_resource(&uri)?),
            Action::Prompts => print(&client.list_all_prompts()?),
            Action::GetPrompt(name, args) => print(&client.get_prompt(&name, args)?),
            Action::Info => print(&client.server_info()),
        }
        Ok(ExitCode::SUCCESS)
    })();
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let _ = events.join();
    let closed = client.close();
    let code = outcome.map_err(|e| action_error(&e, &closed))?;
    match closed {
        Ok(Some(status)) if !status.success() => {
            tracing::warn!(%status, "the MCP server exited with a failure");
        }
        Err(e) => return Err(format!("closing the session: {e}")),
        _ => {}
    }
    Ok(code)
}

/// The message of a failed action: the error and, when the server is a
/// child that exited with a failure, its exit status — a server that
/// crashed mid-call shows up as the transport closing, and its status
/// says why.
fn action_error<E: std::fmt::Display>(
    e: &impl std::fmt::Display,
    closed: &Result<Option<std::process::ExitStatus>, E>,
) -> String {
    match closed {
        Ok(Some(status)) if !status.success() => {
            format!("{e} (the MCP server exited: {status})")
        }
        _ => e.to_string(),
    }
}

fn connect_error(e: &McpClientError) -> String {
    format!("cannot start the MCP session: {e}")
}

/// Does `action`, prints the result, and closes the session (reaping a
/// child).
async fn session<R: Runtime>(client: McpClient<R>, action: Action) -> Result<ExitCode, String> {
    // Events are printed in this task, beside the action, not by a task
    // of their own: such a task could still be waiting for a turn when the
    // action returns and the process exits, losing the progress and log
    // notifications that came with the answer.
    let mut events = client.events();
    let outcome = match events.as_mut() {
        Some(events) => {
            let printer = async {
                while let Some(event) = events.next().await {
                    print_event(&event);
                }
                std::future::pending().await
            };
            futures_lite::future::or(act(&client, action), printer).await
        }
        None => act(&client, action).await,
    };
    // What arrived with the answer is queued: print it before closing.
    while let Some(event) = events.as_mut().and_then(Events::try_next) {
        print_event(&event);
    }
    let closed = client.close().await;
    let code = outcome.map_err(|e| action_error(&e, &closed))?;
    match closed {
        Ok(Some(status)) if !status.success() => {
            tracing::warn!(%status, "the MCP server exited with a failure");
        }
        Err(e) => return Err(format!("closing the session: {e}")),
        _ => {}
    }
    Ok(code)
}

async fn act<R: Runtime>(
    client: &McpClient<R>,
    action: Action,
) -> Result<ExitCode, McpClientError> {
    match action {
        Action::ListTools => print(&client.list_all_tools().await?),
        Action::Call(name, args) => {
            let result = client.call_tool(&name, args).await?;
            print(&result);
            if result.is_error == Some(true) {
                return Ok(ExitCode::FAILURE);
            }
        }
        Action::Resources => {
            let resources = client.list_all_resources().await?;
            let templates = templates_or_none(client.list_all_resource_templates().await)?;
            print(&ResourceListing::new(resources, templates));
        }
        Action::Read(uri) => print(&client.read_resource(&uri).await?),
        Action::Prompts => print(&client.list_all_prompts().await?),
        Action::GetPrompt(name, args) => print(&client.get_prompt(&name, args).await?),
        Action::Info => print(&client.server_info()),
    }
    Ok(ExitCode::SUCCESS)
}

/// What `resources` prints: the resources, then the resource templates
/// under their own key, each list complete (every page followed).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ResourceListing {
    resources: Vec<Resource>,
    resource_templates: Vec<ResourceTemplate>,
}

impl ResourceListing {
    fn new(resources: Vec<Resource>, templates: Vec<ResourceTemplate>) -> Self {
        Self {
            resources,
            resource_templates: templates,
        }
    }
}

/// The templates, or none when the server does not implement
/// `resources/templates/list` (-32601): resources without templates are a
/// complete answer, not a failure.
fn templates_or_none<E: TemplateError>(
    listed: Result<Vec<ResourceTemplate>, E>,
) -> Result<Vec<ResourceTemplate>, E> {
    match listed {
        Err(e) if e.method_not_found() => {
            tracing::info!("the server does not list resource templates");
            Ok(Vec::new())
        }
        other => other,
    }
}

/// JSON-RPC's "Method not found".
const METHOD_NOT_FOUND: i64 = -32601;

/// The runtimes' client errors, as far as [`templates_or_none`] asks.
trait TemplateError {
    fn method_not_found(&self) -> bool;
}

impl TemplateError for McpClientError {
    fn method_not_found(&self) -> bool {
        self.hint().map(|c| c.code()) == Some(METHOD_NOT_FOUND)
    }
}

impl TemplateError for wirestate_blocking::mcp_client::McpClientError {
    fn method_not_found(&self) -> bool {
        self.hint().map(|c| c.code()) == Some(METHOD_NOT_FOUND)
    }
}

fn print<T: Serialize>(value: &T) {
    match serde_json::to_string_pretty(value) {
        Ok(text) => {
            // A closed stdout (`| head`) is not an error worth a panic.
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{text}");
        }
        Err(e) => eprintln!("wirestate: cannot print the result: {e}"),
    }
}

fn print_event(event: &ClientEvent) {
    match event {
        ClientEvent::Log(l) => {
            let logger = l.logger.as_deref().unwrap_or("server");
            eprintln!("[{:?}] {logger}: {}", l.level, l.data);
        }
        ClientEvent::Progress { params, .. } => {
            let total = params.total.map(|t| format!("/{t}")).unwrap_or_default();
            let message = params.message.as_deref().unwrap_or("");
            eprintln!("[progress] {}{total} {message}", params.progress);
        }
        other => eprintln!("[notification] {other:?}"),
    }
}
