//! The reflection index and sessions, without sockets: every request kind,
//! NOT_FOUND answers, transitive dependencies sent once per stream, nested
//! symbols, extensions, and malformed descriptor sets.

use proptest::prelude::*;
use prost::Message;
use prost_types::{
    DescriptorProto, EnumDescriptorProto, EnumValueDescriptorProto, FieldDescriptorProto,
    FileDescriptorProto, FileDescriptorSet, MethodDescriptorProto, OneofDescriptorProto,
    ServiceDescriptorProto, descriptor_proto::ExtensionRange,
};
use v1::server_reflection_request::MessageRequest;
use v1::server_reflection_response::MessageResponse;
use v1::{ExtensionRequest, ServerReflectionRequest, ServerReflectionResponse};
use wirestate_grpc_reflection::{Error, Reflection, Session};
use wirestate_proto::grpc::reflection::{v1, v1alpha};

const NOT_FOUND: i32 = 5;
const INVALID_ARGUMENT: i32 = 3;

fn field(name: &str, number: i32) -> FieldDescriptorProto {
    FieldDescriptorProto {
        name: Some(name.into()),
        number: Some(number),
        r#type: Some(prost_types::field_descriptor_proto::Type::String as i32),
        ..Default::default()
    }
}

fn extension(name: &str, extendee: &str, number: i32) -> FieldDescriptorProto {
    FieldDescriptorProto {
        extendee: Some(extendee.into()),
        ..field(name, number)
    }
}

fn enumeration(name: &str, values: &[&str]) -> EnumDescriptorProto {
    EnumDescriptorProto {
        name: Some(name.into()),
        value: values
            .iter()
            .enumerate()
            .map(|(i, v)| EnumValueDescriptorProto {
                name: Some((*v).into()),
                number: Some(i as i32),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

fn file(name: &str, package: &str, deps: &[&str]) -> FileDescriptorProto {
    FileDescriptorProto {
        name: Some(name.into()),
        package: Some(package.into()),
        dependency: deps.iter().map(|d| (*d).into()).collect(),
        syntax: Some("proto2".into()),
        ..Default::default()
    }
}

/// `a/base.proto` (package `a`): `Base` (a field, a oneof, extensions
/// 100-199, a nested `Inner` with a nested enum `Kind`) and an enum `Color`.
fn base() -> FileDescriptorProto {
    FileDescriptorProto {
        message_type: vec![DescriptorProto {
            name: Some("Base".into()),
            field: vec![field("x", 1)],
            oneof_decl: vec![OneofDescriptorProto {
                name: Some("choice".into()),
                ..Default::default()
            }],
            nested_type: vec![DescriptorProto {
                name: Some("Inner".into()),
                enum_type: vec![enumeration("Kind", &["KIND_A", "KIND_B"])],
                ..Default::default()
            }],
            extension_range: vec![ExtensionRange {
                start: Some(100),
                end: Some(200),
                ..Default::default()
            }],
            ..Default::default()
        }],
        enum_type: vec![enumeration("Color", &["RED", "GREEN"])],
        ..file("a/base.proto", "a", &[])
    }
}

/// `b/ext.proto` (package `b`, imports base): extension `b.tag` (100 of
/// `a.Base`) and `b.Holder.note` (101, declared inside a message).
fn ext() -> FileDescriptorProto {
    FileDescriptorProto {
        extension: vec![extension("tag", ".a.Base", 100)],
        message_type: vec![DescriptorProto {
            name: Some("Holder".into()),
            extension: vec![extension("note", ".a.Base", 101)],
            ..Default::default()
        }],
        ..file("b/ext.proto", "b", &["a/base.proto"])
    }
}

/// `c/svc.proto` (package `c`, imports ext and base: a diamond): service
/// `Svc` with method `Do`.
fn svc() -> FileDescriptorProto {
    FileDescriptorProto {
        service: vec![ServiceDescriptorProto {
            name: Some("Svc".into()),
            method: vec![MethodDescriptorProto {
                name: Some("Do".into()),
                input_type: Some(".a.Base".into()),
                output_type: Some(".a.Base".into()),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..file("c/svc.proto", "c", &["b/ext.proto", "a/base.proto"])
    }
}

fn set(files: Vec<FileDescriptorProto>) -> Vec<u8> {
    FileDescriptorSet { file: files }.encode_to_vec()
}

fn reflection() -> Reflection {
    Reflection::builder()
        .register_file_descriptor_set(&set(vec![base(), ext(), svc()]))
        .unwrap()
        .build()
        .unwrap()
}

fn ask(session: &mut Session, request: MessageRequest) -> ServerReflectionResponse {
    let request = ServerReflectionRequest {
        host: "example.test".into(),
        message_request: Some(request),
    };
    let answer = session.answer(request.clone());
    // Every answer echoes the request and the host.
    assert_eq!(answer.original_request.as_ref(), Some(&request));
    assert_eq!(answer.valid_host, "example.test");
    answer
}

/// The names of the files of a file answer, in order.
fn files(answer: &ServerReflectionResponse) -> Vec<String> {
    match &answer.message_response {
        Some(MessageResponse::FileDescriptorResponse(r)) => r
            .file_descriptor_proto
            .iter()
            .map(|b| {
                FileDescriptorProto::decode(&b[..])
                    .unwrap()
                    .name()
                    .to_owned()
            })
            .collect(),
        other => panic!("not a file answer: {other:?}"),
    }
}

fn error_code(answer: &ServerReflectionResponse) -> i32 {
    match &answer.message_response {
        Some(MessageResponse::ErrorResponse(e)) => {
            assert!(!e.error_message.is_empty());
            e.error_code
        }
        other => panic!("not an error: {other:?}"),
    }
}

fn symbol(s: &str) -> MessageRequest {
    MessageRequest::FileContainingSymbol(s.into())
}

#[test]
fn list_services_lists_every_service_or_the_advertised_ones() {
    let mut session = reflection().session();
    let answer = ask(&mut session, MessageRequest::ListServices(String::new()));
    let Some(MessageResponse::ListServicesResponse(list)) = answer.message_response else {
        panic!("{answer:?}");
    };
    let names: Vec<_> = list.service.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["c.Svc"]);

    let ours = Reflection::wirestate();
    for service in [
        "grpc.health.v1.Health",
        "grpc.reflection.v1.ServerReflection",
        "grpc.reflection.v1alpha.ServerReflection",
        "grpc.testing.TestService",
        "wirestate.echo.v1.Echo",
    ] {
        assert!(ours.services().iter().any(|s| s == service), "{service}");
    }
    let sorted = {
        let mut s = ours.services().to_vec();
        s.sort();
        s
    };
    assert_eq!(ours.services(), sorted);

    let only = Reflection::builder()
        .register_file_descriptor_set(wirestate_proto::FILE_DESCRIPTOR_SET)
        .unwrap()
        .advertise("wirestate.echo.v1.Echo")
        .advertise("grpc.health.v1.Health")
        .build()
        .unwrap();
    assert_eq!(
        only.services(),
        ["grpc.health.v1.Health", "wirestate.echo.v1.Echo"]
    );
    // Lookups are not restricted to the advertised services.
    let answer = ask(
        &mut only.session(),
        symbol("grpc.testing.TestService.UnaryCall"),
    );
    assert_eq!(files(&answer)[0], "src/proto/grpc/testing/test.proto");
}

#[test]
fn a_file_comes_with_its_imports_each_once() {
    let mut session = reflection().session();
    let answer = ask(
        &mut session,
        MessageRequest::FileByFilename("c/svc.proto".into()),
    );
    // The file first, then its imports breadth first; base.proto, imported
    // twice (directly and through ext.proto), once.
    assert_eq!(
        files(&answer),
        ["c/svc.proto", "b/ext.proto", "a/base.proto"]
    );
    // The bytes are the registered descriptor's.
    let Some(MessageResponse::FileDescriptorResponse(r)) = &answer.message_response else {
        unreachable!()
    };
    assert_eq!(r.file_descriptor_proto[0], svc().encode_to_vec());

    // Later answers on the same stream leave out what was sent, except the
    // file asked for.
    let answer = ask(&mut session, symbol("b.tag"));
    assert_eq!(files(&answer), ["b/ext.proto"]);
    let answer = ask(
        &mut session,
        MessageRequest::FileByFilename("c/svc.proto".into()),
    );
    assert_eq!(files(&answer), ["c/svc.proto"]);

    // A new stream starts afresh.
    let answer = ask(&mut reflection().session(), symbol("b.tag"));
    assert_eq!(files(&answer), ["b/ext.proto", "a/base.proto"]);
}

#[test]
fn symbols_of_every_kind_are_found() {
    for (name, file) in [
        ("c.Svc", "c/svc.proto"),
        ("c.Svc.Do", "c/svc.proto"),
        ("a.Base", "a/base.proto"),
        ("a.Base.x", "a/base.proto"),
        ("a.Base.choice", "a/base.proto"),
        ("a.Base.Inner", "a/base.proto"),
        ("a.Base.Inner.Kind", "a/base.proto"),
        // Enum values are scoped like their enum.
        ("a.Base.Inner.KIND_B", "a/base.proto"),
        ("a.Color", "a/base.proto"),
        ("a.RED", "a/base.proto"),
        ("b.tag", "b/ext.proto"),
        ("b.Holder", "b/ext.proto"),
        ("b.Holder.note", "b/ext.proto"),
    ] {
        let answer = ask(&mut reflection().session(), symbol(name));
        assert_eq!(files(&answer)[0], file, "{name}");
    }
}

#[test]
fn unknown_names_are_not_found_and_the_stream_goes_on() {
    let mut session = reflection().session();
    for request in [
        symbol("a.Nope"),
        symbol(""),
        symbol("c.Svc.Nope"),
        symbol(".a.Base"),
        symbol("a.Color.RED"),
        symbol("a"),
        symbol(&"a.Base".repeat(10_000)),
        MessageRequest::FileByFilename("nope.proto".into()),
        MessageRequest::FileByFilename("".into()),
        MessageRequest::FileContainingExtension(ExtensionRequest {
            containing_type: "a.Base".into(),
            extension_number: 102,
        }),
        MessageRequest::FileContainingExtension(ExtensionRequest {
            containing_type: "a.Nope".into(),
            extension_number: 100,
        }),
        MessageRequest::AllExtensionNumbersOfType("a.Nope".into()),
        MessageRequest::AllExtensionNumbersOfType("c.Svc".into()),
    ] {
        let answer = ask(&mut session, request.clone());
        assert_eq!(error_code(&answer), NOT_FOUND, "{request:?}");
    }
    // A request asking nothing is INVALID_ARGUMENT.
    let answer = session.answer(ServerReflectionRequest::default());
    assert_eq!(error_code(&answer), INVALID_ARGUMENT);
    // The session still answers, and sent nothing so far.
    let answer = ask(&mut session, symbol("c.Svc"));
    assert_eq!(
        files(&answer),
        ["c/svc.proto", "b/ext.proto", "a/base.proto"]
    );
}

#[test]
fn extensions_by_number_and_all_numbers_of_a_type() {
    let mut session = reflection().session();
    for number in [100, 101] {
        let answer = ask(
            &mut session,
            MessageRequest::FileContainingExtension(ExtensionRequest {
                containing_type: "a.Base".into(),
                extension_number: number,
            }),
        );
        assert_eq!(files(&answer)[0], "b/ext.proto");
    }
    let numbers = |session: &mut Session, ty: &str| {
        let answer = ask(
            session,
            MessageRequest::AllExtensionNumbersOfType(ty.into()),
        );
        let Some(MessageResponse::AllExtensionNumbersResponse(r)) = answer.message_response else {
            panic!("{answer:?}")
        };
        assert_eq!(r.base_type_name, ty);
        r.extension_number
    };
    assert_eq!(numbers(&mut session, "a.Base"), [100, 101]);
    // A known type without extensions has none.
    assert!(numbers(&mut session, "a.Base.Inner").is_empty());
    assert!(numbers(&mut session, "b.Holder").is_empty());
}

#[test]
fn wirestates_own_set_answers_with_the_interop_imports() {
    let mut session = Reflection::wirestate().session();
    let answer = ask(&mut session, symbol("grpc.testing.TestService"));
    let names = files(&answer);
    assert_eq!(names[0], "src/proto/grpc/testing/test.proto");
    for import in [
        "src/proto/grpc/testing/empty.proto",
        "src/proto/grpc/testing/messages.proto",
    ] {
        assert!(names.iter().any(|n| n == import), "{import} in {names:?}");
    }
    for (name, file) in [
        (
            "grpc.reflection.v1.ServerReflection.ServerReflectionInfo",
            "grpc/reflection/v1/reflection.proto",
        ),
        (
            "grpc.reflection.v1alpha.ServerReflectionRequest",
            "grpc/reflection/v1alpha/reflection.proto",
        ),
        (
            "grpc.health.v1.HealthCheckResponse.ServingStatus",
            "grpc/health/v1/health.proto",
        ),
        (
            "grpc.health.v1.HealthCheckResponse.SERVICE_UNKNOWN",
            "grpc/health/v1/health.proto",
        ),
        (
            "wirestate.echo.v1.Echo.EchoBidi",
            "wirestate/echo/v1/echo.proto",
        ),
    ] {
        assert_eq!(files(&ask(&mut session, symbol(name)))[0], file, "{name}");
    }
}

#[test]
fn sets_sharing_files_can_all_be_registered() {
    // A user's set that repeats wirestate's health.proto beside its own.
    let health = prost_types::FileDescriptorSet::decode(wirestate_proto::FILE_DESCRIPTOR_SET)
        .unwrap()
        .file
        .into_iter()
        .find(|f| f.name() == "grpc/health/v1/health.proto")
        .unwrap();
    let user = set(vec![health, base(), ext(), svc()]);
    let reflection = Reflection::builder()
        .register_file_descriptor_set(wirestate_proto::FILE_DESCRIPTOR_SET)
        .unwrap()
        .register_file_descriptor_set(&user)
        .unwrap()
        .register_file_descriptor_set(&user)
        .unwrap()
        .build()
        .unwrap();
    let names: Vec<_> = reflection.files().collect();
    assert_eq!(
        names
            .iter()
            .filter(|n| **n == "grpc/health/v1/health.proto")
            .count(),
        1
    );
    assert!(reflection.services().iter().any(|s| s == "c.Svc"));
    assert!(
        reflection
            .services()
            .iter()
            .any(|s| s == "grpc.health.v1.Health")
    );
}

#[test]
fn import_cycles_end() {
    let a = file("x/a.proto", "x", &["x/b.proto"]);
    let b = FileDescriptorProto {
        message_type: vec![DescriptorProto {
            name: Some("B".into()),
            ..Default::default()
        }],
        ..file("x/b.proto", "x", &["x/a.proto", "x/b.proto"])
    };
    let reflection = Reflection::builder()
        .register_file_descriptor_set(&set(vec![a, b]))
        .unwrap()
        .build()
        .unwrap();
    let answer = ask(&mut reflection.session(), symbol("x.B"));
    assert_eq!(files(&answer), ["x/b.proto", "x/a.proto"]);
}

#[test]
fn bad_sets_are_errors() {
    let build = |bytes: &[u8]| {
        Reflection::builder()
            .register_file_descriptor_set(bytes)
            .and_then(|b| b.build())
    };
    assert!(matches!(
        build(&set(vec![ext()])),
        Err(Error::MissingDependency { file, dependency })
            if file == "b/ext.proto" && dependency == "a/base.proto"
    ));
    assert!(matches!(
        build(&set(vec![file("", "p", &[])])),
        Err(Error::UnnamedFile)
    ));
    // Field 1 announces 10 bytes, 2 follow.
    assert!(matches!(build(&[0x0a, 10, 1, 2]), Err(Error::Truncated)));
    // Field 1 holding bytes that are no FileDescriptorProto.
    assert!(matches!(
        build(&[0x0a, 2, 0x0a, 0xff]),
        Err(Error::Decode(_))
    ));
    assert!(matches!(build(&[0x0b]), Err(Error::Malformed(_))));
    assert!(matches!(build(&[0xff; 11]), Err(Error::Malformed(_))));
    // An unknown field is skipped, an empty set is an empty index.
    let empty = build(&[0x10, 0x01]).unwrap();
    assert!(empty.services().is_empty());
    assert!(matches!(
        Reflection::builder()
            .register_file_descriptor_set(&set(vec![base()]))
            .unwrap()
            .advertise("a.Nope")
            .build(),
        Err(Error::UnknownService(s)) if s == "a.Nope"
    ));
}

#[test]
fn v1alpha_messages_are_v1_messages_on_the_wire() {
    // The services route v1alpha calls through the v1 types: check that a
    // v1alpha request decodes as the same v1 request, and the v1 answer as
    // the same v1alpha answer.
    let request = v1alpha::ServerReflectionRequest {
        host: "h".into(),
        message_request: Some(
            v1alpha::server_reflection_request::MessageRequest::FileContainingExtension(
                v1alpha::ExtensionRequest {
                    containing_type: "a.Base".into(),
                    extension_number: 100,
                },
            ),
        ),
    };
    let as_v1 = ServerReflectionRequest::decode(&request.encode_to_vec()[..]).unwrap();
    assert_eq!(
        as_v1.message_request,
        Some(MessageRequest::FileContainingExtension(ExtensionRequest {
            containing_type: "a.Base".into(),
            extension_number: 100,
        }))
    );
    let answer = reflection().session().answer(as_v1);
    let back = v1alpha::ServerReflectionResponse::decode(&answer.encode_to_vec()[..]).unwrap();
    assert_eq!(back.original_request, Some(request));
    let Some(v1alpha::server_reflection_response::MessageResponse::FileDescriptorResponse(r)) =
        back.message_response
    else {
        panic!("{back:?}")
    };
    assert_eq!(r.file_descriptor_proto.len(), 2);
}

/// Names close to registered ones: registered, cut, extended, case-flipped.
fn name() -> impl Strategy<Value = String> {
    let known = prop::sample::select(vec![
        "a",
        "a.Base",
        "a.Base.x",
        "a.Base.Inner.KIND_A",
        "a.RED",
        "b.tag",
        "c.Svc",
        "c.Svc.Do",
        "c/svc.proto",
        "a/base.proto",
        "",
    ]);
    prop_oneof![
        known.clone().prop_map(String::from),
        (known.clone(), 0usize..12).prop_map(|(k, n)| k.chars().take(n).collect()),
        (known, ".{0,8}").prop_map(|(k, s)| format!("{k}{s}")),
        ".{0,40}",
    ]
}

fn request() -> impl Strategy<Value = ServerReflectionRequest> {
    let kind = prop_oneof![
        name().prop_map(MessageRequest::FileByFilename),
        name().prop_map(MessageRequest::FileContainingSymbol),
        name().prop_map(MessageRequest::AllExtensionNumbersOfType),
        name().prop_map(MessageRequest::ListServices),
        (name(), any::<i32>()).prop_map(|(t, n)| MessageRequest::FileContainingExtension(
            ExtensionRequest {
                containing_type: t,
                extension_number: n,
            }
        )),
    ];
    (".{0,4}", prop::option::of(kind)).prop_map(|(host, message_request)| ServerReflectionRequest {
        host,
        message_request,
    })
}

proptest! {
    /// Any stream of requests is answered, one answer each, never a panic;
    /// no file is sent twice on a stream except when asked for by name.
    #[test]
    fn any_request_stream_is_answered(requests in prop::collection::vec(request(), 0..24)) {
        let reflection = reflection();
        let mut session = reflection.session();
        let mut sent = std::collections::HashSet::new();
        for request in requests {
            let answer = session.answer(request.clone());
            prop_assert_eq!(answer.original_request.as_ref(), Some(&request));
            match answer.message_response {
                Some(MessageResponse::FileDescriptorResponse(r)) => {
                    prop_assert!(!r.file_descriptor_proto.is_empty());
                    for (i, bytes) in r.file_descriptor_proto.iter().enumerate() {
                        let name = FileDescriptorProto::decode(&bytes[..]).unwrap().name().to_owned();
                        prop_assert!(sent.insert(name.clone()) || i == 0, "{} sent twice", name);
                    }
                }
                Some(MessageResponse::ErrorResponse(e)) => {
                    prop_assert!(e.error_code == NOT_FOUND || e.error_code == INVALID_ARGUMENT);
                }
                Some(_) => {}
                None => prop_assert!(false, "no answer"),
            }
        }
    }

    /// Any bytes given as a descriptor set are an index or an error.
    #[test]
    fn any_bytes_as_a_descriptor_set(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        if let Ok(builder) = Reflection::builder().register_file_descriptor_set(&bytes) {
            let _ = builder.build();
        }
    }

    /// Real sets with bytes flipped: an index or an error, and an index
    /// answers.
    #[test]
    fn corrupted_sets(flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6)) {
        let mut bytes = set(vec![base(), ext(), svc()]);
        for (at, value) in flips {
            let i = at.index(bytes.len());
            bytes[i] = value;
        }
        let built = Reflection::builder()
            .register_file_descriptor_set(&bytes)
            .and_then(|b| b.build());
        if let Ok(reflection) = built {
            let mut session = reflection.session();
            let _ = session.answer(ServerReflectionRequest {
                host: String::new(),
                message_request: Some(symbol("c.Svc")),
            });
        }
    }
}
