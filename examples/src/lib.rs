//! The demo routes served by `wirestate serve`, shared by every runtime,
//! and small helpers for the command-line tool.

pub mod grpc;
pub mod grpc_blocking;
pub mod grpc_cli;
mod grpc_reflect;
pub mod grpc_web;
pub mod load;
pub mod mcp;
pub mod mcp_blocking;
pub mod mcp_client;
pub mod routes;

/// The text of a command-line argument that may say where to read it
/// from: `@` reads `stdin`, `@PATH` the file at PATH (grpcurl's
/// convention: no JSON text starts with `@`), anything else is the text
/// itself. `what` names it in errors ("the request"). For JSON too large
/// for one argument (Linux takes at most 128 KiB in one).
///
/// # Errors
///
/// The file or stdin could not be read.
pub fn argument_text(
    source: &str,
    what: &str,
    mut stdin: impl std::io::Read,
) -> Result<String, String> {
    match source.strip_prefix('@') {
        None => Ok(source.to_owned()),
        Some("") => {
            let mut text = String::new();
            stdin
                .read_to_string(&mut text)
                .map_err(|e| format!("reading {what} from stdin: {e}"))?;
            Ok(text)
        }
        Some(path) => {
            std::fs::read_to_string(path).map_err(|e| format!("reading {what} from {path}: {e}"))
        }
    }
}
