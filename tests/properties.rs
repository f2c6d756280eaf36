//! Property tests: random operation sequences against the reference models of
//! `rsvp_tests::model` (the endpoint and the promise), on a manual clock, through the
//! public API. The batch machine's own property test is beside it in `core/src/batch.rs`.
//!
//! The generator is a seeded xorshift, so a failure names its seed and step and replays.
//! `RSVP_PROPTEST_RUNS` sets the number of runs per property (default 2,000).

use rsvp_tests::model::{self, Rng};

fn runs() -> u64 {
    std::env::var("RSVP_PROPTEST_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2_000)
}

/// The seed of run `i`, spread over the whole range.
fn seed(i: u64) -> u64 {
    i.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1
}

#[test]
fn endpoint_matches_the_model() {
    for i in 0..runs() {
        let seed = seed(i);
        model::endpoint(&mut Rng(seed), 60, &format_args!("seed {seed:#x}"));
    }
}

#[test]
fn promise_matches_the_model() {
    for i in 0..runs() {
        let seed = seed(i);
        model::promise(&mut Rng(seed), 40, &format_args!("seed {seed:#x}"));
    }
}
