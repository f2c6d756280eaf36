//! The endpoint (reply slots, queue, timeouts, shutdown) driven by the fuzzer's bytes, one
//! byte per choice, against the reference model of `rsvp_tests::model`: every outcome,
//! stats count, `is_cancelled` answer and wake-up is checked after every step.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rsvp_tests::model::{self, Bytes};

fuzz_target!(|data: &[u8]| {
    model::endpoint(&mut Bytes(data), 1_000, &"fuzz input");
});
