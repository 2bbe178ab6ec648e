//! Schema round trips: what is written reads back equal, unknown members
//! and `_meta` included, and messages as the official SDKs write them parse.

use proptest::prelude::*;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};
use wirestate_mcp::schema::*;

fn round_trip<T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug>(value: &T) {
    let text = serde_json::to_string(value).unwrap();
    let back: T = serde_json::from_str(&text).unwrap();
    assert_eq!(&back, value, "{text}");
    // Writing again gives the same text.
    assert_eq!(serde_json::to_string(&back).unwrap(), text);
}

fn extra() -> impl Strategy<Value = Map<String, Value>> {
    proptest::collection::btree_map(
        "x-[a-z]{1,6}",
        prop_oneof![
            any::<i64>().prop_map(Value::from),
            any::<bool>().prop_map(Value::from),
            "[ -~]{0,8}".prop_map(Value::from),
            Just(json!({"nested": [1, "two", null]})),
        ],
        0..3,
    )
    .prop_map(|m| m.into_iter().collect())
}

fn meta() -> impl Strategy<Value = Option<Meta>> {
    proptest::option::of(extra().prop_map(|mut m| {
        m.insert("progressToken".into(), json!("tok"));
        m
    }))
}

fn text() -> impl Strategy<Value = String> {
    "[ -~\u{e9}\u{65e5}\n\"\\\\]{0,12}"
}

fn opt_text() -> impl Strategy<Value = Option<String>> {
    proptest::option::of(text())
}

fn schema_obj() -> impl Strategy<Value = Map<String, Value>> {
    (extra(), proptest::collection::vec("[a-z]{1,5}", 0..3)).prop_map(|(mut m, props)| {
        m.insert("type".into(), json!("object"));
        let p: Map<String, Value> = props
            .into_iter()
            .map(|k| (k, json!({"type": "string"})))
            .collect();
        m.insert("properties".into(), Value::Object(p));
        m
    })
}

fn annotations() -> impl Strategy<Value = Option<Annotations>> {
    proptest::option::of(
        (
            proptest::option::of(proptest::collection::vec(
                prop_oneof![Just(Role::User), Just(Role::Assistant)],
                0..3,
            )),
            proptest::option::of((0u8..=10).prop_map(|n| f64::from(n) / 10.0)),
            opt_text(),
            extra(),
        )
            .prop_map(|(audience, priority, last_modified, extra)| Annotations {
                audience,
                priority,
                last_modified,
                extra,
            }),
    )
}

fn resource() -> impl Strategy<Value = Resource> {
    (
        text(),
        text(),
        opt_text(),
        opt_text(),
        proptest::option::of(any::<u64>()),
        annotations(),
        meta(),
        extra(),
    )
        .prop_map(
            |(uri, name, title, mime_type, size, annotations, meta, extra)| Resource {
                uri,
                name,
                title,
                mime_type,
                size,
                annotations,
                meta,
                extra,
                ..Resource::default()
            },
        )
}

fn resource_contents() -> impl Strategy<Value = ResourceContents> {
    prop_oneof![
        (text(), opt_text(), text(), meta(), extra()).prop_map(
            |(uri, mime_type, text, meta, extra)| {
                ResourceContents::Text(TextResourceContents {
                    uri,
                    mime_type,
                    text,
                    meta,
                    extra,
                })
            }
        ),
        (text(), opt_text(), "[A-Za-z0-9+/]{0,8}", extra()).prop_map(
            |(uri, mime_type, blob, extra)| {
                ResourceContents::Blob(BlobResourceContents {
                    uri,
                    mime_type,
                    blob,
                    meta: None,
                    extra,
                })
            }
        ),
    ]
}

fn content_block() -> impl Strategy<Value = ContentBlock> {
    prop_oneof![
        (text(), annotations(), meta(), extra()).prop_map(|(text, annotations, meta, extra)| {
            ContentBlock::Text(TextContent {
                text,
                annotations,
                meta,
                extra,
            })
        }),
        ("[A-Za-z0-9+/=]{0,12}", "image/[a-z]{2,4}", extra()).prop_map(
            |(data, mime_type, extra)| {
                ContentBlock::Image(MediaContent {
                    data,
                    mime_type,
                    extra,
                    ..MediaContent::default()
                })
            }
        ),
        ("[A-Za-z0-9+/=]{0,12}", "audio/[a-z]{2,4}").prop_map(|(data, mime_type)| {
            ContentBlock::Audio(MediaContent {
                data,
                mime_type,
                ..MediaContent::default()
            })
        }),
        resource().prop_map(ContentBlock::ResourceLink),
        (resource_contents(), annotations(), extra()).prop_map(|(resource, annotations, extra)| {
            ContentBlock::Resource(EmbeddedResource {
                resource,
                annotations,
                meta: None,
                extra,
            })
        }),
        extra().prop_map(|mut m| {
            m.insert("type".into(), json!("tool_use"));
            ContentBlock::Unknown(m)
        }),
    ]
}

fn tool() -> impl Strategy<Value = Tool> {
    (
        "[a-z_]{1,10}",
        opt_text(),
        opt_text(),
        schema_obj(),
        proptest::option::of(schema_obj()),
        proptest::option::of((proptest::option::of(any::<bool>()), extra()).prop_map(
            |(read_only_hint, extra)| ToolAnnotations {
                read_only_hint,
                extra,
                ..ToolAnnotations::default()
            },
        )),
        meta(),
        extra(),
    )
        .prop_map(
            |(name, title, description, input_schema, output_schema, annotations, meta, extra)| {
                Tool {
                    title,
                    description,
                    output_schema,
                    annotations,
                    meta,
                    extra,
                    ..Tool::new(name, input_schema)
                }
            },
        )
}

proptest! {
    #[test]
    fn tools_round_trip(tools in proptest::collection::vec(tool(), 0..4), cursor in opt_text(), meta in meta(), extra in extra()) {
        round_trip(&ListToolsResult { tools, next_cursor: cursor, meta, extra });
    }

    #[test]
    fn call_tool_round_trip(
        name in "[a-z]{1,8}",
        args in proptest::option::of(extra()),
        content in proptest::collection::vec(content_block(), 0..4),
        structured in proptest::option::of(extra().prop_map(Value::Object)),
        is_error in proptest::option::of(any::<bool>()),
        meta in meta(),
        extra in extra(),
    ) {
        round_trip(&CallToolParams { name, arguments: args, meta: meta.clone(), extra: extra.clone() });
        round_trip(&CallToolResult { content, structured_content: structured, is_error, meta, extra });
    }

    #[test]
    fn resources_round_trip(
        resources in proptest::collection::vec(resource(), 0..4),
        contents in proptest::collection::vec(resource_contents(), 0..4),
        template in (text(), text(), opt_text(), extra()),
        extra in extra(),
    ) {
        round_trip(&ListResourcesResult { resources, next_cursor: None, meta: None, extra: extra.clone() });
        round_trip(&ReadResourceResult { contents, meta: None, extra: extra.clone() });
        let (uri_template, name, description, e) = template;
        round_trip(&ListResourceTemplatesResult {
            resource_templates: vec![ResourceTemplate { uri_template, name, description, extra: e, ..ResourceTemplate::default() }],
            next_cursor: Some("c".into()),
            meta: None,
            extra,
        });
    }

    #[test]
    fn prompts_round_trip(
        name in text(),
        args in proptest::collection::vec((text(), opt_text(), proptest::option::of(any::<bool>()), extra()), 0..3),
        messages in proptest::collection::vec((any::<bool>(), content_block(), extra()), 0..3),
        values in proptest::option::of(proptest::collection::btree_map(text(), text(), 0..3)),
        extra in extra(),
    ) {
        let arguments = Some(args.into_iter().map(|(name, description, required, extra)| PromptArgument { name, description, required, extra, ..PromptArgument::default() }).collect());
        round_trip(&ListPromptsResult { prompts: vec![Prompt { name: name.clone(), arguments, extra: extra.clone(), ..Prompt::default() }], ..ListPromptsResult::default() });
        round_trip(&GetPromptParams { name, arguments: values, meta: None, extra: extra.clone() });
        let messages = messages.into_iter().map(|(user, content, extra)| PromptMessage { role: if user { Role::User } else { Role::Assistant }, content, extra }).collect();
        round_trip(&GetPromptResult { description: None, messages, meta: None, extra });
    }

    #[test]
    fn lifecycle_round_trip(version in "20[0-9]{2}-[0-9]{2}-[0-9]{2}", name in text(), caps_extra in extra(), extra in extra(), instructions in opt_text()) {
        let client = InitializeParams {
            protocol_version: version.clone(),
            capabilities: ClientCapabilities {
                roots: Some(ListChangedCapability::list_changed()),
                sampling: Some(SamplingCapability::default()),
                elicitation: Some(ElicitationCapability { form: Some(Map::new()), ..Default::default() }),
                extra: caps_extra.clone(),
                ..Default::default()
            },
            client_info: Implementation { title: Some(name.clone()), extra: extra.clone(), ..Implementation::new(name.clone(), "1.0") },
            meta: None,
            extra: extra.clone(),
        };
        round_trip(&client);
        let server = InitializeResult {
            protocol_version: version,
            capabilities: ServerCapabilities {
                tools: Some(ListChangedCapability::list_changed()),
                resources: Some(ResourcesCapability { subscribe: Some(true), list_changed: Some(false), extra: caps_extra }),
                logging: Some(Map::new()),
                ..Default::default()
            },
            server_info: Implementation::new(name, "2"),
            instructions,
            meta: None,
            extra,
        };
        round_trip(&server);
    }

    #[test]
    fn notifications_round_trip(
        token in prop_oneof![any::<i64>().prop_map(ProgressToken::Number), text().prop_map(ProgressToken::String)],
        progress in 0u32..1000,
        total in proptest::option::of(0u32..1000),
        message in opt_text(),
        id in prop_oneof![any::<i64>().prop_map(wirestate_jsonrpc::RequestId::from), "[a-z]{1,5}".prop_map(|s| wirestate_jsonrpc::RequestId::from(s.as_str()))],
        level in 0usize..8,
        extra in extra(),
    ) {
        round_trip(&ProgressParams { progress_token: token, progress: f64::from(progress) / 4.0, total: total.map(f64::from), message, meta: None, extra: extra.clone() });
        round_trip(&CancelledParams { request_id: Some(id), reason: Some("r".into()), meta: None, extra: extra.clone() });
        let levels = [LoggingLevel::Debug, LoggingLevel::Info, LoggingLevel::Notice, LoggingLevel::Warning, LoggingLevel::Error, LoggingLevel::Critical, LoggingLevel::Alert, LoggingLevel::Emergency];
        round_trip(&SetLevelParams { level: levels[level], meta: None, extra: extra.clone() });
        round_trip(&LoggingMessageParams { level: levels[level], logger: Some("l".into()), data: Value::Object(extra.clone()), meta: None, extra });
    }

    #[test]
    fn client_features_round_trip(content in content_block(), many in proptest::collection::vec(content_block(), 0..3), extra in extra(), roots in proptest::collection::vec((text(), opt_text()), 0..3)) {
        round_trip(&CreateMessageParams {
            messages: vec![
                SamplingMessage { role: Role::User, content: SamplingContent::One(Box::new(content.clone())), meta: None, extra: extra.clone() },
                SamplingMessage { role: Role::Assistant, content: SamplingContent::Many(many), meta: None, extra: Extra::new() },
            ],
            max_tokens: 100,
            system_prompt: Some("s".into()),
            temperature: Some(0.5),
            extra: extra.clone(),
            ..CreateMessageParams::default()
        });
        round_trip(&CreateMessageResult { role: Role::Assistant, content: SamplingContent::One(Box::new(content)), model: "m".into(), stop_reason: Some("endTurn".into()), meta: None, extra: extra.clone() });
        round_trip(&ListRootsResult { roots: roots.into_iter().map(|(uri, name)| Root { uri, name, ..Root::default() }).collect(), meta: None, extra: extra.clone() });
        round_trip(&ElicitParams { message: "m".into(), requested_schema: Some(extra.clone()), ..ElicitParams::default() });
        round_trip(&ElicitResult { action: ElicitAction::Accept, content: Some(extra.clone()), meta: None, extra });
    }

    #[test]
    fn completion_round_trip(name in text(), value in text(), prompt in any::<bool>(), extra in extra()) {
        let reference = if prompt {
            CompletionReference::Prompt(PromptReference { name: name.clone(), title: None, extra: extra.clone() })
        } else {
            CompletionReference::Resource(ResourceTemplateReference { uri: name.clone(), extra: extra.clone() })
        };
        round_trip(&CompleteParams { reference, argument: CompletionArgument { name, value: value.clone(), extra: extra.clone() }, context: None, meta: None, extra: extra.clone() });
        round_trip(&CompleteResult { completion: Completion { values: vec![value], total: Some(1), has_more: Some(false), extra: extra.clone() }, meta: None, extra });
    }
}

#[test]
fn reads_what_the_sdks_write() {
    // As the TypeScript and Python SDKs send them.
    let init: InitializeParams = serde_json::from_value(json!({
        "protocolVersion": "2025-06-18",
        "capabilities": {"roots": {"listChanged": true}, "sampling": {}, "elicitation": {}},
        "clientInfo": {"name": "mcp", "version": "0.1.0"}
    }))
    .unwrap();
    assert_eq!(init.capabilities.roots.unwrap().list_changed, Some(true));
    assert!(init.capabilities.elicitation.is_some());

    let call: CallToolParams = serde_json::from_value(json!({
        "name": "echo", "arguments": {"text": "hi"}, "_meta": {"progressToken": 7}
    }))
    .unwrap();
    assert_eq!(
        progress_token(call.meta.as_ref()),
        Some(ProgressToken::Number(7))
    );

    // tools/call params are decoded by hand: unknown members kept,
    // null arguments absent, a missing or repeated name refused, from
    // text and from a Value alike.
    let text = r#"{"x-a":1,"name":"echo","arguments":null,"x-b":{"c":[true]}}"#;
    let from_text: CallToolParams = serde_json::from_str(text).unwrap();
    let from_value: CallToolParams =
        serde_json::from_value(serde_json::from_str::<Value>(text).unwrap()).unwrap();
    assert_eq!(from_text, from_value);
    assert_eq!(from_text.name, "echo");
    assert_eq!(from_text.arguments, None);
    assert_eq!(from_text.meta, None);
    assert_eq!(from_text.extra["x-a"], json!(1));
    assert_eq!(from_text.extra["x-b"], json!({"c": [true]}));
    assert!(serde_json::from_str::<CallToolParams>(r#"{"arguments":{}}"#).is_err());
    assert!(serde_json::from_str::<CallToolParams>(r#"{"name":"a","name":"b"}"#).is_err());
    assert!(serde_json::from_str::<CallToolParams>(r#"["echo"]"#).is_err());

    let block: ContentBlock = serde_json::from_value(json!({
        "type": "resource", "resource": {"uri": "file:///a", "blob": "AAE="}
    }))
    .unwrap();
    let ContentBlock::Resource(e) = &block else {
        panic!("{block:?}")
    };
    assert!(matches!(e.resource, ResourceContents::Blob(_)));

    let link: ContentBlock = serde_json::from_value(json!({
        "type": "resource_link", "uri": "file:///b", "name": "b", "mimeType": "text/plain"
    }))
    .unwrap();
    assert_eq!(
        serde_json::to_value(&link).unwrap(),
        json!({"type": "resource_link", "uri": "file:///b", "name": "b", "mimeType": "text/plain"})
    );

    // A content block without a type, or with a wrong body, is refused.
    assert!(serde_json::from_value::<ContentBlock>(json!({"text": "x"})).is_err());
    assert!(serde_json::from_value::<ContentBlock>(json!({"type": "text"})).is_err());
    assert!(serde_json::from_value::<ContentBlock>(json!({"type": 1})).is_err());

    // Tool: inputSchema defaulting and what goes on the wire.
    let t = Tool::new("t", Map::new());
    assert_eq!(
        serde_json::to_value(&t).unwrap(),
        json!({"name": "t", "inputSchema": {"type": "object"}})
    );
}

#[test]
fn version_negotiation() {
    for v in version::SUPPORTED {
        assert_eq!(version::negotiate(v), *v);
        assert!(version::is_supported(v));
    }
    assert_eq!(version::negotiate("2026-07-28"), version::LATEST);
    assert_eq!(version::negotiate(""), version::LATEST);
    assert_eq!(version::LATEST, "2025-11-25");
}

#[test]
fn logging_levels_order_by_severity() {
    assert!(LoggingLevel::Emergency > LoggingLevel::Warning);
    assert!(LoggingLevel::Debug < LoggingLevel::Info);
}
