#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| wirestate_tests::fuzz::grpc_call(data));
