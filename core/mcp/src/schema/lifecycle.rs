//! `initialize` and protocol versions.

use serde::{Deserialize, Serialize};

use super::capabilities::{ClientCapabilities, ServerCapabilities};
use super::common::{Extra, Implementation, Meta};

/// Protocol revisions and negotiation.
///
/// The client proposes a revision in `initialize`; a server that supports it
/// answers with the same, otherwise with the latest it supports, and the
/// client decides whether it can go on.
pub mod version {
    /// The first revision (no structured tool output, no elicitation).
    pub const V2024_11_05: &str = "2024-11-05";
    /// Streamable HTTP, tool annotations, audio content, completions capability.
    pub const V2025_03_26: &str = "2025-03-26";
    /// Structured tool output, elicitation, resource links, titles; no batches.
    pub const V2025_06_18: &str = "2025-06-18";
    /// Icons, URL elicitation, sampling with tools, tasks.
    pub const V2025_11_25: &str = "2025-11-25";
    /// The latest revision of the `initialize` era this crate speaks.
    pub const LATEST: &str = V2025_11_25;
    /// Every revision of the `initialize` era a server of this crate
    /// accepts, oldest first.
    pub const SUPPORTED: &[&str] = &[V2024_11_05, V2025_03_26, V2025_06_18, V2025_11_25];
    /// The stateless revision (SEP-2575): no `initialize`, per-request
    /// `_meta`, `server/discover`.
    pub const V2026_07_28: &str = "2026-07-28";
    /// The stateless revisions this crate speaks.
    pub const STATELESS: &[&str] = &[V2026_07_28];
    /// Every revision this crate speaks, both eras, oldest first (the
    /// `supportedVersions` of `server/discover`).
    pub const ALL: &[&str] = &[
        V2024_11_05,
        V2025_03_26,
        V2025_06_18,
        V2025_11_25,
        V2026_07_28,
    ];

    /// Whether `version` is a stateless revision this crate speaks.
    pub fn is_stateless(version: &str) -> bool {
        STATELESS.contains(&version)
    }

    /// Whether `version` is one of [`SUPPORTED`].
    pub fn is_supported(version: &str) -> bool {
        SUPPORTED.contains(&version)
    }

    /// The revision a server answers a client proposing `requested` with:
    /// the same when supported, otherwise [`LATEST`].
    ///
    /// ```
    /// use wirestate_mcp::schema::version;
    /// assert_eq!(version::negotiate("2025-03-26"), "2025-03-26");
    /// assert_eq!(version::negotiate("1999-01-01"), version::LATEST);
    /// ```
    pub fn negotiate(requested: &str) -> &'static str {
        SUPPORTED
            .iter()
            .copied()
            .find(|v| *v == requested)
            .unwrap_or(LATEST)
    }

    /// Whether a session of `version` takes JSON-RPC batches: 2025-03-26
    /// requires them (and 2024-11-05 inherits them from JSON-RPC 2.0);
    /// 2025-06-18 removed them, and the stateless era has none either.
    ///
    /// ```
    /// use wirestate_mcp::schema::version;
    /// assert!(version::has_batches("2025-03-26"));
    /// assert!(!version::has_batches("2025-06-18"));
    /// assert!(!version::has_batches("2026-07-28"));
    /// ```
    pub fn has_batches(version: &str) -> bool {
        matches!(version, V2024_11_05 | V2025_03_26)
    }
}

/// Params of `initialize`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InitializeParams {
    /// The revision the client proposes (its latest).
    pub protocol_version: String,
    /// What the client supports.
    #[serde(default)]
    pub capabilities: ClientCapabilities,
    /// The client.
    pub client_info: Implementation,
    /// Metadata.
    #[serde(rename = "_meta", default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
    /// Unknown members, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Result of `initialize`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InitializeResult {
    /// The revision the session speaks.
    pub protocol_version: String,
    /// What the server supports.
    pub capabilities: ServerCapabilities,
    /// The server.
    pub server_info: Implementation,
    /// How to use the server, for the model's context.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instructions: Option<String>,
    /// Metadata.
    #[serde(rename = "_meta", default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
    /// Unknown members, kept.
    #[serde(flatten)]
    pub extra: Extra,
}
