//! gRPC server reflection (`wirestate-grpc-reflection`): an index built from
//! wirestate's descriptor set plus a second set from the input, then one
//! stream of requests answered by a session.
//!
//! # Input layout
//!
//! ```text
//! [set length: u16 LE][set bytes...][request...]
//! request = [kind: u8][length: u8][name bytes...]
//! ```
//!
//! The set length is clamped to what is there. The set is registered after
//! wirestate-proto's `FILE_DESCRIPTOR_SET` (so it may import its files,
//! repeat them or miss imports); when building fails, the index is
//! wirestate's set alone. Each request's `kind % 6` picks list_services,
//! file_by_filename, file_containing_symbol, file_containing_extension
//! (extendee = the name, number = the kind byte as `i8 >> 3`),
//! all_extension_numbers_of_type or no question; the name is read as UTF-8
//! lossily; the host is the name too.
//!
//! # What is checked
//!
//! * Building either succeeds or fails with an error; it never panics.
//! * Every request gets one answer that echoes it and its host, and says
//!   something: a list equal to `Reflection::services`, files, extension
//!   numbers, or NOT_FOUND / INVALID_ARGUMENT (only for no question).
//! * A file answer is non-empty, each entry decodes as a
//!   `FileDescriptorProto` with a name; no file is sent twice on the stream
//!   except as the first of an answer (the file asked for).

use std::collections::HashSet;

use prost::Message;
use prost_types::FileDescriptorProto;
use wirestate_grpc_reflection::Reflection;
use wirestate_proto::grpc::reflection::v1::{
    ExtensionRequest, ServerReflectionRequest, server_reflection_request::MessageRequest,
    server_reflection_response::MessageResponse,
};

const NOT_FOUND: i32 = 5;
const INVALID_ARGUMENT: i32 = 3;

/// Fuzz body for `grpc_reflection` (see the module docs).
pub fn grpc_reflection(data: &[u8]) {
    let (set, mut rest) = match data {
        [a, b, rest @ ..] => {
            let len = usize::from(u16::from_le_bytes([*a, *b])).min(rest.len());
            rest.split_at(len)
        }
        _ => (&[][..], &[][..]),
    };
    let reflection = Reflection::builder()
        .register_file_descriptor_set(wirestate_proto::FILE_DESCRIPTOR_SET)
        .and_then(|b| b.register_file_descriptor_set(set))
        .and_then(|b| b.build())
        .unwrap_or_else(|_| Reflection::wirestate());
    let mut session = reflection.session();
    let mut sent = HashSet::new();
    while let [kind, len, tail @ ..] = rest {
        let len = usize::from(*len).min(tail.len());
        let (name, next) = tail.split_at(len);
        rest = next;
        let name = String::from_utf8_lossy(name).into_owned();
        let message_request = match kind % 6 {
            0 => Some(MessageRequest::ListServices(name.clone())),
            1 => Some(MessageRequest::FileByFilename(name.clone())),
            2 => Some(MessageRequest::FileContainingSymbol(name.clone())),
            3 => Some(MessageRequest::FileContainingExtension(ExtensionRequest {
                containing_type: name.clone(),
                extension_number: i32::from(*kind as i8 >> 3),
            })),
            4 => Some(MessageRequest::AllExtensionNumbersOfType(name.clone())),
            _ => None,
        };
        let request = ServerReflectionRequest {
            host: name,
            message_request,
        };
        let answer = session.answer(request.clone());
        assert_eq!(answer.original_request.as_ref(), Some(&request));
        assert_eq!(answer.valid_host, request.host);
        match answer.message_response {
            Some(MessageResponse::ListServicesResponse(list)) => {
                let names: Vec<_> = list.service.into_iter().map(|s| s.name).collect();
                assert_eq!(names, reflection.services());
            }
            Some(MessageResponse::FileDescriptorResponse(files)) => {
                assert!(
                    !files.file_descriptor_proto.is_empty(),
                    "an empty file answer"
                );
                for (i, bytes) in files.file_descriptor_proto.iter().enumerate() {
                    let file = FileDescriptorProto::decode(&bytes[..]).expect("a registered file");
                    assert!(!file.name().is_empty());
                    assert!(
                        sent.insert(file.name().to_owned()) || i == 0,
                        "{} sent twice on one stream",
                        file.name()
                    );
                }
            }
            Some(MessageResponse::AllExtensionNumbersResponse(r)) => {
                assert!(matches!(
                    request.message_request,
                    Some(MessageRequest::AllExtensionNumbersOfType(ref t)) if *t == r.base_type_name
                ));
            }
            Some(MessageResponse::ErrorResponse(e)) => {
                if request.message_request.is_some() {
                    assert_eq!(e.error_code, NOT_FOUND);
                } else {
                    assert_eq!(e.error_code, INVALID_ARGUMENT);
                }
            }
            None => panic!("no answer"),
        }
    }
}

/// The hand-made seeds of `grpc_reflection`.
pub fn grpc_reflection_seeds() -> Vec<(&'static str, Vec<u8>)> {
    use prost_types::{
        DescriptorProto, FieldDescriptorProto, FileDescriptorSet, MethodDescriptorProto,
        ServiceDescriptorProto,
    };
    fn requests(set: &[u8], reqs: &[(u8, &str)]) -> Vec<u8> {
        let mut out = (set.len() as u16).to_le_bytes().to_vec();
        out.extend_from_slice(set);
        for (kind, name) in reqs {
            out.push(*kind);
            out.push(name.len() as u8);
            out.extend_from_slice(name.as_bytes());
        }
        out
    }
    // A user's file importing health.proto, with a service, a nested
    // message and an extension of one of its own messages.
    let user = FileDescriptorSet {
        file: vec![FileDescriptorProto {
            name: Some("shop/v1/cart.proto".into()),
            package: Some("shop.v1".into()),
            dependency: vec!["grpc/health/v1/health.proto".into()],
            message_type: vec![DescriptorProto {
                name: Some("Item".into()),
                nested_type: vec![DescriptorProto {
                    name: Some("Tag".into()),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            extension: vec![FieldDescriptorProto {
                name: Some("note".into()),
                number: Some(100),
                extendee: Some(".shop.v1.Item".into()),
                ..Default::default()
            }],
            service: vec![ServiceDescriptorProto {
                name: Some("Cart".into()),
                method: vec![MethodDescriptorProto {
                    name: Some("Check".into()),
                    input_type: Some(".grpc.health.v1.HealthCheckRequest".into()),
                    output_type: Some(".shop.v1.Item".into()),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec();
    // kind % 6: 0 list, 1 file, 2 symbol, 3 extension (number: the kind
    // byte as i8 >> 3, -16..=15), 4 all extension numbers, 5 nothing.
    vec![
        (
            "wirestate-every-kind",
            requests(
                &[],
                &[
                    (0, ""),
                    (2, "grpc.testing.TestService"),
                    (2, "grpc.testing.TestService.UnaryCall"),
                    (1, "src/proto/grpc/testing/messages.proto"),
                    (2, "grpc.health.v1.HealthCheckResponse.SERVING"),
                    (4, "grpc.testing.Payload"),
                    (3, "grpc.testing.Payload"),
                    (5, ""),
                    (2, "no.such.Symbol"),
                ],
            ),
        ),
        (
            "user-set",
            requests(
                &user,
                &[
                    (0, ""),
                    (2, "shop.v1.Cart.Check"),
                    (2, "shop.v1.Item.Tag"),
                    (4, "shop.v1.Item"),
                    (2, "shop.v1.note"),
                    (1, "grpc/health/v1/health.proto"),
                ],
            ),
        ),
        (
            "user-set-truncated",
            requests(&user[..user.len() / 2], &[(2, "shop.v1.Cart")]),
        ),
    ]
}
