//! The generated prost messages: round trips, and encodings checked byte by
//! byte against the protobuf wire format worked out by hand.

use prost::Message;
use wirestate_proto::grpc::health::v1::{
    HealthCheckRequest, HealthCheckResponse, health_check_response::ServingStatus,
};
use wirestate_proto::grpc::testing::{
    BoolValue, Empty, Payload, PayloadType, ResponseParameters, SimpleRequest, SimpleResponse,
    StreamingOutputCallRequest,
};
use wirestate_proto::wirestate::echo::v1::{EchoRequest, EchoResponse};

fn round_trip<M: Message + Default + PartialEq + std::fmt::Debug>(message: &M) -> Vec<u8> {
    let bytes = message.encode_to_vec();
    assert_eq!(bytes.len(), message.encoded_len());
    assert_eq!(&M::decode(&bytes[..]).unwrap(), message);
    bytes
}

#[test]
fn echo_request_known_bytes() {
    // field 1 (message), wire type 2: key 0x0a, length 2, "hi".
    let hi = EchoRequest {
        message: "hi".into(),
        ..Default::default()
    };
    assert_eq!(round_trip(&hi), [0x0a, 0x02, 0x68, 0x69]);

    // field 2 (payload) key 0x12, 3 bytes; field 3 (repeat) key 0x18, 300 as
    // the varint ac 02.
    let request = EchoRequest {
        message: String::new(),
        payload: vec![1, 2, 3],
        repeat: 300,
    };
    assert_eq!(
        round_trip(&request),
        [0x12, 0x03, 0x01, 0x02, 0x03, 0x18, 0xac, 0x02]
    );

    // Defaults are not written at all.
    assert!(round_trip(&EchoRequest::default()).is_empty());
}

#[test]
fn echo_response_round_trip() {
    let response = EchoResponse {
        message: "héllo".into(),
        payload: (0..=255).collect(),
        index: u32::MAX,
    };
    let bytes = round_trip(&response);
    // message: 0x0a, 6 bytes of UTF-8; payload: 0x12, length 256 as 80 02.
    assert_eq!(&bytes[..2], [0x0a, 0x06]);
    assert_eq!(&bytes[8..11], [0x12, 0x80, 0x02]);
    // index: 0x18 then u32::MAX as a five-byte varint.
    assert_eq!(
        &bytes[bytes.len() - 6..],
        [0x18, 0xff, 0xff, 0xff, 0xff, 0x0f]
    );
}

#[test]
fn simple_request_with_payload() {
    // The interop `large_unary` request shape, with a small body.
    let request = SimpleRequest {
        response_type: PayloadType::Compressable as i32,
        response_size: 314_159,
        payload: Some(Payload {
            r#type: PayloadType::Compressable as i32,
            body: vec![0; 3],
        }),
        ..Default::default()
    };
    // response_size: key 0x10, 314159 = varint af 96 13; payload: key 0x1a,
    // length 5, holding body (key 0x12, length 3, zeros); the enum zeros are
    // omitted.
    assert_eq!(
        round_trip(&request),
        [
            0x10, 0xaf, 0x96, 0x13, 0x1a, 0x05, 0x12, 0x03, 0x00, 0x00, 0x00
        ]
    );

    // The large_unary sizes, whole.
    let large = SimpleRequest {
        response_size: 314_159,
        payload: Some(Payload {
            r#type: 0,
            body: vec![0; 271_828],
        }),
        response_compressed: Some(BoolValue { value: true }),
        fill_username: true,
        ..Default::default()
    };
    let bytes = round_trip(&large);
    // response_compressed (field 6): key 0x32, length 2, {value: true}.
    assert!(bytes.ends_with(&[0x32, 0x02, 0x08, 0x01]));

    let response = SimpleResponse {
        payload: large.payload.clone(),
        username: "user".into(),
        oauth_scope: "scope".into(),
        server_id: "server-1".into(),
        grpclb_route_type: 2,
        hostname: "localhost".into(),
    };
    round_trip(&response);
}

#[test]
fn streaming_output_call_request_known_bytes() {
    let request = StreamingOutputCallRequest {
        response_parameters: vec![
            ResponseParameters {
                size: 31_415,
                ..Default::default()
            },
            ResponseParameters {
                size: 9,
                ..Default::default()
            },
        ],
        ..Default::default()
    };
    // Each repeated element: key 0x12 and its own length; size 31415 is the
    // varint b7 f5 01.
    assert_eq!(
        round_trip(&request),
        [0x12, 0x04, 0x08, 0xb7, 0xf5, 0x01, 0x12, 0x02, 0x08, 0x09]
    );
}

#[test]
fn empty_and_health() {
    assert!(round_trip(&Empty {}).is_empty());

    let request = HealthCheckRequest {
        service: "x".into(),
    };
    assert_eq!(round_trip(&request), [0x0a, 0x01, b'x']);

    let mut response = HealthCheckResponse::default();
    response.set_status(ServingStatus::Serving);
    assert_eq!(round_trip(&response), [0x08, 0x01]);
    for (status, number) in [
        (ServingStatus::Unknown, 0),
        (ServingStatus::Serving, 1),
        (ServingStatus::NotServing, 2),
        (ServingStatus::ServiceUnknown, 3),
    ] {
        assert_eq!(status as i32, number);
        assert_eq!(ServingStatus::try_from(number), Ok(status));
    }
    assert_eq!(
        ServingStatus::ServiceUnknown.as_str_name(),
        "SERVICE_UNKNOWN"
    );
    // An unknown enum value survives decoding as its number.
    let decoded = HealthCheckResponse::decode(&[0x08, 0x07][..]).unwrap();
    assert_eq!(decoded.status, 7);
    assert_eq!(decoded.status(), ServingStatus::Unknown);
}

#[test]
fn unknown_fields_are_skipped() {
    // EchoRequest with an extra field 15 (varint) in front: older readers
    // ignore what newer writers add.
    let bytes = [0x78, 0x01, 0x0a, 0x02, b'h', b'i'];
    let decoded = EchoRequest::decode(&bytes[..]).unwrap();
    assert_eq!(decoded.message, "hi");
}

#[test]
fn truncated_input_is_an_error() {
    assert!(EchoRequest::decode(&[0x0a, 0x05, b'h'][..]).is_err());
}

/// `google.rpc.Status` has googleapis' field numbers and types (code 1
/// int32, message 2 string, details 3 repeated Any): the bytes any other
/// gRPC implementation's `grpc-status-details-bin` carries.
#[test]
fn google_rpc_status_known_bytes() {
    use wirestate_proto::google::rpc::Status;
    let status = Status {
        code: 5,
        message: "x".into(),
        details: vec![prost_types::Any {
            type_url: "t".into(),
            value: vec![1],
        }],
    };
    let bytes = round_trip(&status);
    assert_eq!(
        bytes,
        [0x08, 5, 0x12, 1, b'x', 0x1a, 6, 0x0a, 1, b't', 0x12, 1, 1]
    );
}
