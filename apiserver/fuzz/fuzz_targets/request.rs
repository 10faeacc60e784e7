//! Fuzzes the hub's whole request path (see `clusternet_hub::fuzzing`). Run with
//! `make fuzz` (cargo fuzz, nightly): `cargo +nightly fuzz run request`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    clusternet_hub::fuzzing::request(data);
});
