"""gRPC server reflection checks against a running `wirestate serve`, with
grpcio (the C core) and PyPI grpcio-reflection as the independent client.

Usage: interop_grpc_reflection.py HOST:PORT STUBS_DIR LABEL

* grpcio-reflection's ProtoReflectionDescriptorDatabase (it speaks
  grpc.reflection.v1alpha) under a protobuf DescriptorPool: list the
  services, find methods and their input types, build the request class from
  the fetched descriptors and make dynamic calls (unary Echo, unary
  TestService.UnaryCall, server-streaming EchoStream) with no generated code;
* grpc.reflection.v1 with stubs that grpcio-tools generated from the
  published definition (STUBS_DIR): list_services, a method symbol, an
  unknown symbol (NOT_FOUND, the stream goes on), file_by_filename with its
  imports, and a file not sent twice on one stream.

One `PASS name` / `FAIL name` line per check (name prefixed with LABEL).
"""

import sys

import grpc
from google.protobuf import descriptor_pb2
from google.protobuf.descriptor_pool import DescriptorPool
from google.protobuf.message_factory import GetMessageClass
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

target, stubs, label = sys.argv[1], sys.argv[2], sys.argv[3]
sys.path.insert(0, stubs)
# Generated from a copy named reflection_v1.proto: a `grpc.reflection`
# Python package would clash with grpcio's own `grpc`.
import reflection_v1_pb2 as v1  # noqa: E402
import reflection_v1_pb2_grpc as v1_grpc  # noqa: E402

SERVED = {
    "grpc.testing.TestService",
    "grpc.health.v1.Health",
    "wirestate.echo.v1.Echo",
    "grpc.reflection.v1.ServerReflection",
    "grpc.reflection.v1alpha.ServerReflection",
}

failures = 0


def check(name, fn):
    global failures
    try:
        fn()
        print(f"PASS {label} {name}")
    except Exception as e:  # noqa: BLE001 - every failure is reported
        failures += 1
        print(f"FAIL {label} {name}")
        print(f"    {type(e).__name__}: {e}")


channel = grpc.insecure_channel(target)
grpc.channel_ready_future(channel).result(timeout=10)
db = ProtoReflectionDescriptorDatabase(channel)
pool = DescriptorPool(db)


def list_services():
    services = set(db.get_services())
    assert services == SERVED, f"services {sorted(services)}"


def method_input_types():
    echo = pool.FindServiceByName("wirestate.echo.v1.Echo")
    method = echo.methods_by_name["Echo"]
    assert method.input_type.full_name == "wirestate.echo.v1.EchoRequest", method.input_type
    stream = echo.methods_by_name["EchoStream"]
    assert stream.server_streaming and not stream.client_streaming
    test = pool.FindServiceByName("grpc.testing.TestService")
    unary = test.methods_by_name["UnaryCall"]
    # Its input type is declared in messages.proto, an import of test.proto
    # that the answer carries.
    assert unary.input_type.full_name == "grpc.testing.SimpleRequest"
    assert unary.input_type.file.name == "src/proto/grpc/testing/messages.proto"
    payload = unary.input_type.fields_by_name["payload"].message_type
    assert payload.full_name == "grpc.testing.Payload"


def nested_symbols():
    status = pool.FindEnumTypeByName("grpc.health.v1.HealthCheckResponse.ServingStatus")
    assert status.values_by_name["SERVING"].number == 1
    method = pool.FindMethodByName("grpc.health.v1.Health.Watch")
    assert method.output_type.name == "HealthCheckResponse"
    f = db.FindFileContainingSymbol("grpc.reflection.v1.ServerReflection.ServerReflectionInfo")
    assert f.name == "grpc/reflection/v1/reflection.proto", f.name


def unknown_symbol():
    try:
        db.FindFileContainingSymbol("no.such.Symbol")
    except KeyError:
        pass
    else:
        raise AssertionError("no.such.Symbol was found")
    # The same stream goes on answering.
    assert db.FindFileByName("grpc/health/v1/health.proto").package == "grpc.health.v1"


def call(method_path, full_method, request_fields):
    method = pool.FindMethodByName(full_method)
    request_class = GetMessageClass(method.input_type)
    response_class = GetMessageClass(method.output_type)
    request = request_class(**request_fields)
    if method.server_streaming:
        rpc = channel.unary_stream(
            method_path,
            request_serializer=request_class.SerializeToString,
            response_deserializer=response_class.FromString,
        )
        return list(rpc(request, timeout=10))
    rpc = channel.unary_unary(
        method_path,
        request_serializer=request_class.SerializeToString,
        response_deserializer=response_class.FromString,
    )
    return rpc(request, timeout=10)


def dynamic_echo():
    response = call("/wirestate.echo.v1.Echo/Echo", "wirestate.echo.v1.Echo.Echo", {"message": "hi"})
    assert response.message == "hi", response


def dynamic_unary_call():
    response = call(
        "/grpc.testing.TestService/UnaryCall",
        "grpc.testing.TestService.UnaryCall",
        {"response_size": 7},
    )
    assert len(response.payload.body) == 7, response


def dynamic_stream():
    responses = call(
        "/wirestate.echo.v1.Echo/EchoStream",
        "wirestate.echo.v1.Echo.EchoStream",
        {"message": "m", "repeat": 3},
    )
    assert [r.index for r in responses] == [0, 1, 2], responses


def v1_stream(requests):
    stub = v1_grpc.ServerReflectionStub(channel)
    return list(stub.ServerReflectionInfo(iter(requests), timeout=10))


def names(response):
    return [
        descriptor_pb2.FileDescriptorProto.FromString(b).name
        for b in response.file_descriptor_response.file_descriptor_proto
    ]


def v1_checks():
    answers = v1_stream(
        [
            v1.ServerReflectionRequest(host="h", list_services=""),
            v1.ServerReflectionRequest(file_containing_symbol="grpc.testing.TestService.FullDuplexCall"),
            v1.ServerReflectionRequest(file_containing_symbol="grpc.testing.Nope"),
            v1.ServerReflectionRequest(file_by_filename="src/proto/grpc/testing/messages.proto"),
            v1.ServerReflectionRequest(file_by_filename="nope.proto"),
            v1.ServerReflectionRequest(all_extension_numbers_of_type="grpc.testing.Payload"),
        ]
    )
    assert len(answers) == 6, answers
    listed = {s.name for s in answers[0].list_services_response.service}
    assert listed == SERVED, listed
    assert answers[0].valid_host == "h"
    assert answers[0].original_request.list_services == ""
    first = names(answers[1])
    assert first[0] == "src/proto/grpc/testing/test.proto", first
    assert set(first) == {
        "src/proto/grpc/testing/test.proto",
        "src/proto/grpc/testing/empty.proto",
        "src/proto/grpc/testing/messages.proto",
    }, first
    assert answers[2].error_response.error_code == grpc.StatusCode.NOT_FOUND.value[0]
    # Asked by name, a file sent before on the stream is sent again (alone:
    # it imports nothing).
    assert names(answers[3]) == ["src/proto/grpc/testing/messages.proto"]
    assert answers[4].error_response.error_code == grpc.StatusCode.NOT_FOUND.value[0]
    ext = answers[5].all_extension_numbers_response
    assert ext.base_type_name == "grpc.testing.Payload" and list(ext.extension_number) == []


check("v1alpha list services (grpcio-reflection)", list_services)
check("v1alpha method input types through imports (DescriptorPool)", method_input_types)
check("v1alpha nested symbols, enum values, methods", nested_symbols)
check("v1alpha unknown symbol NOT_FOUND, stream goes on", unknown_symbol)
check("dynamic call Echo/Echo from reflected descriptors", dynamic_echo)
check("dynamic call TestService/UnaryCall from reflected descriptors", dynamic_unary_call)
check("dynamic server-streaming Echo/EchoStream", dynamic_stream)
check("v1 stream: list, symbol with imports, NOT_FOUND, file by name, extensions", v1_checks)
channel.close()
sys.exit(1 if failures else 0)
