//! Content blocks (tool results, prompt messages, sampling) and resource
//! contents.

use serde::de::Error as _;
use serde::ser::{Error as _, SerializeMap};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

use super::common::{Annotations, Extra, Meta};
use super::resources::Resource;

/// Text content.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TextContent {
    /// The text.
    pub text: String,
    /// Display hints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<Annotations>,
    /// Metadata.
    #[serde(rename = "_meta", default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
    /// Unknown members, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Image or audio content: base64 data and its MIME type.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MediaContent {
    /// Base64-encoded bytes.
    pub data: String,
    /// The MIME type (`image/png`, `audio/wav`).
    pub mime_type: String,
    /// Display hints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<Annotations>,
    /// Metadata.
    #[serde(rename = "_meta", default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
    /// Unknown members, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

/// A resource's contents inside a message.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmbeddedResource {
    /// The contents.
    pub resource: ResourceContents,
    /// Display hints.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<Annotations>,
    /// Metadata.
    #[serde(rename = "_meta", default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
    /// Unknown members, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

/// One block of content, told apart by its `type` member.
///
/// A block of a type this crate does not know (a later revision's, such as
/// sampling's `tool_use`) is kept whole as [`Unknown`](Self::Unknown).
#[derive(Debug, Clone, PartialEq)]
pub enum ContentBlock {
    /// `"text"`.
    Text(TextContent),
    /// `"image"`.
    Image(MediaContent),
    /// `"audio"` (2025-03-26).
    Audio(MediaContent),
    /// `"resource_link"` (2025-06-18): a resource the client may read.
    ResourceLink(Resource),
    /// `"resource"`: an embedded resource.
    Resource(EmbeddedResource),
    /// Any other type: the whole object, `type` included.
    Unknown(Map<String, Value>),
}

impl ContentBlock {
    /// A text block.
    pub fn text(text: impl Into<String>) -> Self {
        Self::Text(TextContent {
            text: text.into(),
            ..TextContent::default()
        })
    }

    /// The text, if this is a text block.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Self::Text(t) => Some(&t.text),
            _ => None,
        }
    }

    fn type_name(&self) -> Option<&'static str> {
        Some(match self {
            Self::Text(_) => "text",
            Self::Image(_) => "image",
            Self::Audio(_) => "audio",
            Self::ResourceLink(_) => "resource_link",
            Self::Resource(_) => "resource",
            Self::Unknown(_) => return None,
        })
    }
}

impl Serialize for ContentBlock {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let inner = match self {
            Self::Text(c) => serde_json::to_value(c),
            Self::Image(c) | Self::Audio(c) => serde_json::to_value(c),
            Self::ResourceLink(c) => serde_json::to_value(c),
            Self::Resource(c) => serde_json::to_value(c),
            Self::Unknown(m) => return m.serialize(serializer),
        }
        .map_err(S::Error::custom)?;
        let Value::Object(fields) = inner else {
            return Err(S::Error::custom("content block is not an object"));
        };
        // `type` first, as the SDKs write it.
        let mut map = serializer.serialize_map(Some(fields.len() + 1))?;
        if let Some(t) = self.type_name() {
            map.serialize_entry("type", t)?;
        }
        for (k, v) in &fields {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for ContentBlock {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut map = Map::<String, Value>::deserialize(deserializer)?;
        let kind = match map.get("type") {
            Some(Value::String(s)) => s.clone(),
            Some(_) => return Err(D::Error::custom("content block `type` is not a string")),
            None => return Err(D::Error::missing_field("type")),
        };
        let known = matches!(
            kind.as_str(),
            "text" | "image" | "audio" | "resource_link" | "resource"
        );
        if !known {
            return Ok(Self::Unknown(map));
        }
        map.remove("type");
        let value = Value::Object(map);
        let block = match kind.as_str() {
            "text" => serde_json::from_value(value).map(Self::Text),
            "image" => serde_json::from_value(value).map(Self::Image),
            "audio" => serde_json::from_value(value).map(Self::Audio),
            "resource_link" => serde_json::from_value(value).map(Self::ResourceLink),
            _ => serde_json::from_value(value).map(Self::Resource),
        };
        block.map_err(D::Error::custom)
    }
}

/// The text contents of a resource.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TextResourceContents {
    /// The resource's URI.
    pub uri: String,
    /// Its MIME type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    /// The text.
    pub text: String,
    /// Metadata.
    #[serde(rename = "_meta", default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
    /// Unknown members, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

/// The binary contents of a resource.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlobResourceContents {
    /// The resource's URI.
    pub uri: String,
    /// Its MIME type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    /// Base64-encoded bytes.
    pub blob: String,
    /// Metadata.
    #[serde(rename = "_meta", default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
    /// Unknown members, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

/// The contents of a resource: text or a blob (told apart by which of
/// `text` and `blob` is present).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ResourceContents {
    /// Text.
    Text(TextResourceContents),
    /// Binary.
    Blob(BlobResourceContents),
}

impl ResourceContents {
    /// Text contents of `uri`.
    pub fn text(uri: impl Into<String>, mime_type: Option<&str>, text: impl Into<String>) -> Self {
        Self::Text(TextResourceContents {
            uri: uri.into(),
            mime_type: mime_type.map(str::to_owned),
            text: text.into(),
            ..TextResourceContents::default()
        })
    }

    /// The URI.
    pub fn uri(&self) -> &str {
        match self {
            Self::Text(t) => &t.uri,
            Self::Blob(b) => &b.uri,
        }
    }
}
