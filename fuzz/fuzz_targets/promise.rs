//! The promise (setters, set, abandon, waiters with and without timeouts) driven by the
//! fuzzer's bytes against the reference model of `rsvp_tests::model`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rsvp_tests::model::{self, Bytes};

fuzz_target!(|data: &[u8]| {
    model::promise(&mut Bytes(data), 1_000, &"fuzz input");
});
