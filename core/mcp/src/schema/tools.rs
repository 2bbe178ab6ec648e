//! Tools: `tools/list`, `tools/call`.

use std::fmt;

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use super::common::{Cursor, Extra, Icon, Meta};
use super::content::ContentBlock;

/// Hints about a tool's behaviour (untrusted unless the server is).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ToolAnnotations {
    /// A display name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The tool does not modify its environment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only_hint: Option<bool>,
    /// The tool may destroy data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destructive_hint: Option<bool>,
    /// Calling it again with the same arguments has no further effect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotent_hint: Option<bool>,
    /// The tool talks to an open world of external entities.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub open_world_hint: Option<bool>,
    /// Unknown members, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A tool the server offers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tool {
    /// The programmatic name, unique on the server.
    pub name: String,
    /// A display name (2025-06-18).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// What the tool does, for the model.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// JSON Schema of the arguments: an object schema.
    pub input_schema: Map<String, Value>,
    /// JSON Schema of `structuredContent` (2025-06-18): an object schema.
    /// A server declaring it must return conforming structured content.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_schema: Option<Map<String, Value>>,
    /// Behaviour hints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<ToolAnnotations>,
    /// Icons (2025-11-25).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icons: Option<Vec<Icon>>,
    /// Execution properties (2025-11-25, `taskSupport`), kept raw.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution: Option<Value>,
    /// Metadata.
    #[serde(rename = "_meta", default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
    /// Unknown members, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

impl Default for Tool {
    fn default() -> Self {
        Self::new("", Map::new())
    }
}

impl Tool {
    /// A tool taking arguments described by `input_schema`. An empty schema
    /// becomes `{"type":"object"}` (the schema must be an object schema).
    pub fn new(name: impl Into<String>, mut input_schema: Map<String, Value>) -> Self {
        if input_schema.is_empty() {
            input_schema.insert("type".to_owned(), Value::String("object".to_owned()));
        }
        Self {
            name: name.into(),
            title: None,
            description: None,
            input_schema,
            output_schema: None,
            annotations: None,
            icons: None,
            execution: None,
            meta: None,
            extra: Extra::new(),
        }
    }
}

/// Result of `tools/list`: one page.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListToolsResult {
    /// The tools of this page.
    pub tools: Vec<Tool>,
    /// Where the next page starts; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<Cursor>,
    /// Metadata.
    #[serde(rename = "_meta", default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
    /// Unknown members, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Params of `tools/call`. Decoded by hand (below) rather than with
/// `#[serde(flatten)]`, which buffers every member — the arguments
/// included — into serde's intermediate `Content` before building the
/// struct: this is decoded for every call.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CallToolParams {
    /// The tool.
    pub name: String,
    /// The arguments (an object; absent for none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arguments: Option<Map<String, Value>>,
    /// Metadata (`progressToken`).
    #[serde(rename = "_meta", default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
    /// Unknown members, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

impl<'de> Deserialize<'de> for CallToolParams {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        /// The members with a field of their own; any other is kept in
        /// `extra`.
        #[derive(Deserialize)]
        #[serde(field_identifier)]
        enum Field {
            #[serde(rename = "name")]
            Name,
            #[serde(rename = "arguments")]
            Arguments,
            #[serde(rename = "_meta")]
            Meta,
            Other(String),
        }

        struct Params;

        impl<'de> Visitor<'de> for Params {
            type Value = CallToolParams;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("tools/call params (an object)")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<CallToolParams, A::Error> {
                let mut name = None;
                let mut arguments = None;
                let mut meta = None;
                let mut extra = Extra::new();
                while let Some(field) = map.next_key::<Field>()? {
                    match field {
                        Field::Name => {
                            if name.is_some() {
                                return Err(de::Error::duplicate_field("name"));
                            }
                            name = Some(map.next_value::<String>()?);
                        }
                        Field::Arguments => {
                            if arguments.is_some() {
                                return Err(de::Error::duplicate_field("arguments"));
                            }
                            arguments = Some(map.next_value::<Option<Map<String, Value>>>()?);
                        }
                        Field::Meta => {
                            if meta.is_some() {
                                return Err(de::Error::duplicate_field("_meta"));
                            }
                            meta = Some(map.next_value::<Option<Meta>>()?);
                        }
                        Field::Other(key) => {
                            let value = map.next_value::<Value>()?;
                            extra.insert(key, value);
                        }
                    }
                }
                Ok(CallToolParams {
                    name: name.ok_or_else(|| de::Error::missing_field("name"))?,
                    arguments: arguments.flatten(),
                    meta: meta.flatten(),
                    extra,
                })
            }
        }

        deserializer.deserialize_map(Params)
    }
}

/// Result of `tools/call`. A failure of the tool itself is a result with
/// `isError: true` (for the model to see), not a JSON-RPC error.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CallToolResult {
    /// Unstructured content.
    #[serde(default)]
    pub content: Vec<ContentBlock>,
    /// Structured content (2025-06-18), conforming to the tool's
    /// `outputSchema` if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub structured_content: Option<Value>,
    /// Whether the call failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_error: Option<bool>,
    /// Metadata.
    #[serde(rename = "_meta", default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
    /// Unknown members, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

impl CallToolResult {
    /// A successful result with one text block.
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            content: vec![ContentBlock::text(text)],
            ..Self::default()
        }
    }

    /// A successful result with structured content, and (as the spec
    /// recommends for older clients) its JSON text as a text block.
    pub fn structured(value: Value) -> Self {
        Self {
            // serde_json::to_string writes straight into a buffer, where
            // `Value`'s Display goes through a formatter (and twice the
            // time, on a tool call's whole answer).
            content: vec![ContentBlock::text(
                serde_json::to_string(&value).unwrap_or_default(),
            )],
            structured_content: Some(value),
            ..Self::default()
        }
    }

    /// A failed call, with the reason as text for the model.
    pub fn error(text: impl Into<String>) -> Self {
        Self {
            content: vec![ContentBlock::text(text)],
            is_error: Some(true),
            ..Self::default()
        }
    }
}
