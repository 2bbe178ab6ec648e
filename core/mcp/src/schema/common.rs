//! Types shared by every part of the schema.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// The `_meta` object of a request, result, notification or schema object:
/// reserved by MCP for protocol and application metadata, kept as is.
pub type Meta = Map<String, Value>;

/// Members a type does not know (from a later revision, or an extension),
/// kept so that they survive a round trip.
pub type Extra = Map<String, Value>;

/// An opaque pagination position: the `nextCursor` of one page, given back
/// as the `cursor` of the request for the next.
pub type Cursor = String;

/// A token the requester puts in `_meta.progressToken` to receive
/// `notifications/progress` for that request: a string or an integer.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ProgressToken {
    /// A string token.
    String(String),
    /// An integer token.
    Number(i64),
}

impl From<&str> for ProgressToken {
    fn from(s: &str) -> Self {
        Self::String(s.to_owned())
    }
}

impl From<i64> for ProgressToken {
    fn from(n: i64) -> Self {
        Self::Number(n)
    }
}

/// The progress token of a request, from its `_meta`, if it has a valid one.
pub fn progress_token(meta: Option<&Meta>) -> Option<ProgressToken> {
    let value = meta?.get("progressToken")?;
    serde_json::from_value(value.clone()).ok()
}

/// Who a message or content is for: the user or the assistant (the model).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The human user.
    User,
    /// The model.
    Assistant,
}

/// Hints to the client about how to use or display an object.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Annotations {
    /// Who the object is meant for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub audience: Option<Vec<Role>>,
    /// Importance from 0 (optional) to 1 (required).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<f64>,
    /// When the object was last modified (ISO 8601), since 2025-06-18.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_modified: Option<String>,
    /// Unknown members, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

/// An icon of an implementation, tool, resource or prompt (2025-11-25).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Icon {
    /// A URI (https: or data:) of the image.
    pub src: String,
    /// Its MIME type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    /// Sizes it is available in (`"48x48"`, `"any"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sizes: Option<Vec<String>>,
    /// The theme it is meant for (`"light"`, `"dark"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub theme: Option<String>,
    /// Unknown members, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

/// Name and version of an MCP implementation (`clientInfo`, `serverInfo`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Implementation {
    /// The programmatic name.
    pub name: String,
    /// A display name (2025-06-18).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The version.
    pub version: String,
    /// A description (2025-11-25).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// A website (2025-11-25).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub website_url: Option<String>,
    /// Icons (2025-11-25).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icons: Option<Vec<Icon>>,
    /// Unknown members, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

impl Implementation {
    /// An implementation with a name and a version.
    pub fn new(name: impl Into<String>, version: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            version: version.into(),
            ..Self::default()
        }
    }
}

/// Params or result that carry nothing but `_meta` (ping, `roots/list`
/// params, the empty results of subscribe and `logging/setLevel`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Empty {
    /// Metadata.
    #[serde(rename = "_meta", default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
    /// Unknown members, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

/// The `_meta` of a request's params and nothing else, for a transport or
/// session that looks at it before routing: the other members are skipped
/// unparsed, where [`Empty`] would copy each into its `extra`. Like
/// [`Empty`], only an object decodes (a duplicate `_meta` is an error).
#[derive(Debug, Default)]
pub(crate) struct MetaParams {
    /// `_meta`, when present and not null.
    pub(crate) meta: Option<Meta>,
}

impl<'de> Deserialize<'de> for MetaParams {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::{self, IgnoredAny, MapAccess, Visitor};

        /// A member name: `_meta` or another, told apart without copying.
        enum Key {
            Meta,
            Other,
        }
        impl<'de> Deserialize<'de> for Key {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                struct KeyVisitor;
                impl Visitor<'_> for KeyVisitor {
                    type Value = Key;
                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        f.write_str("a member name")
                    }
                    fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
                        Ok(if v == "_meta" { Key::Meta } else { Key::Other })
                    }
                }
                d.deserialize_identifier(KeyVisitor)
            }
        }

        struct ParamsVisitor;
        impl<'de> Visitor<'de> for ParamsVisitor {
            type Value = MetaParams;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<MetaParams, A::Error> {
                let mut meta: Option<Option<Meta>> = None;
                while let Some(key) = map.next_key::<Key>()? {
                    match key {
                        Key::Meta if meta.is_some() => {
                            return Err(de::Error::duplicate_field("_meta"));
                        }
                        Key::Meta => meta = Some(map.next_value()?),
                        Key::Other => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                Ok(MetaParams {
                    meta: meta.flatten(),
                })
            }
        }
        d.deserialize_map(ParamsVisitor)
    }
}

impl MetaParams {
    /// The `_meta` of a request's params, if they are an object that has
    /// one. Params that mention neither `_meta` nor an escape (through
    /// which a member name could spell it) have none, and are not parsed:
    /// most requests carry no `_meta`, and this is asked of each request
    /// by the session and by the HTTP transport.
    pub(crate) fn meta_of(params: Option<&wirestate_jsonrpc::RawJson>) -> Option<Meta> {
        let params = params?;
        let text = params.as_str();
        if !text.contains("_meta") && !text.contains('\\') {
            return None;
        }
        params.decode::<MetaParams>().ok().and_then(|p| p.meta)
    }
}

/// Params of the paginated list requests (`tools/list`, `resources/list`,
/// `resources/templates/list`, `prompts/list`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct PaginatedParams {
    /// Where to continue: the `nextCursor` of the previous page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<Cursor>,
    /// Metadata.
    #[serde(rename = "_meta", default, skip_serializing_if = "Option::is_none")]
    pub meta: Option<Meta>,
    /// Unknown members, kept.
    #[serde(flatten)]
    pub extra: Extra,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta_of(json: &str) -> Result<Option<Meta>, serde_json::Error> {
        serde_json::from_str::<MetaParams>(json).map(|p| p.meta)
    }

    /// `MetaParams` reads what `Empty` reads of `_meta`, and refuses what
    /// it refuses, without keeping the other members.
    #[test]
    fn meta_of_skips_only_params_without_meta() {
        let of = |json: &str| {
            MetaParams::meta_of(Some(
                &wirestate_jsonrpc::RawJson::from_text(json.to_owned()).unwrap(),
            ))
        };
        assert!(of(r#"{"name":"echo","arguments":{"text":"hi"}}"#).is_none());
        assert!(of(r#"{"_meta":{"progressToken":7}}"#).is_some());
        // An escaped member name is still `_meta`.
        assert!(of(r#"{"\u005fmeta":{"progressToken":7}}"#).is_some());
        assert!(of(r#"{"_meta":1}"#).is_none());
        assert!(MetaParams::meta_of(None).is_none());
    }

    #[test]
    fn meta_params_agree_with_empty() {
        let cases = [
            r#"{"name":"echo","arguments":{"text":"a\"b"},"_meta":{"progressToken":7}}"#,
            r#"{"_meta":{"a":[1,{"b":null}]},"x":[{"_meta":1}]}"#,
            r#"{"name":"echo"}"#,
            r#"{"_meta":null,"y":1}"#,
            r#"{}"#,
            r#"{"_meta":1}"#,
            r#"{"_meta":{},"_meta":{}}"#,
            r#"[{"progressToken":1}]"#,
            r#""text""#,
            r#"{"_meta":{"a":1}"#,
        ];
        for json in cases {
            let empty = serde_json::from_str::<Empty>(json).map(|e| e.meta);
            let ours = meta_of(json);
            assert_eq!(ours.is_ok(), empty.is_ok(), "{json}");
            if let (Ok(a), Ok(b)) = (ours, empty) {
                assert_eq!(a, b, "{json}");
            }
        }
        assert_eq!(
            meta_of(r#"{"a":1,"_meta":{"progressToken":"t"}}"#).unwrap(),
            Some(
                serde_json::json!({"progressToken": "t"})
                    .as_object()
                    .unwrap()
                    .clone()
            )
        );
    }
}
