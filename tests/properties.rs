//! Property tests: random operation sequences against the reference models of
//! `rsvp_tests::model` (the endpoint and the promise), on a manual clock, through the
//! public API; and `serve_batches` against its invariants. The batch machine's own model
//! test is beside it in `core/src/batch.rs`.
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

/// `serve_batches` under random calls (some with deadlines) and time steps of 1 ms: every
/// caller gets exactly one outcome, the right one; batches keep the callers' order, never
/// exceed `max_size`, and no item waits in an open batch longer than the window; a batch
/// that is not full went because its window ended (or at the final flush).
#[test]
fn batching_keeps_its_invariants() {
    use rsvp::batch::BatchError;
    use rsvp::CallError;
    use rsvp_tests::batch::{triple_or_reject_negatives, BatchHarness};
    use rsvp_tests::model::Choices;
    use rsvp_tests::ms;

    const WINDOW: u64 = 100; // BatchHarness's max_wait
    for i in 0..runs() / 10 {
        let seed = seed(i);
        let mut rng = Rng(seed);
        let max_size = 1 + rng.below(6);
        let mut h = BatchHarness::start(max_size, triple_or_reject_negatives);
        let mut now = 0u64;
        // (request, called at, deadline); requests are distinct and in call order.
        let mut calls: Vec<(i32, u64, Option<u64>)> = Vec::new();
        // When each batch ran, by its index in `h.batches()`.
        let mut ran_at: Vec<u64> = Vec::new();
        for step in 0..80 {
            let at = format!("seed {seed:#x} step {step}");
            if rng.below(3) == 0 {
                let id = calls.len() as i32;
                let n = if id % 5 == 4 { -id } else { id };
                let timeout = (rng.below(3) == 0).then(|| 1 + rng.below(150) as u64);
                h.call(n, timeout.map(ms));
                calls.push((n, now, timeout.map(|t| now + t)));
            } else {
                for _ in 0..rng.below(40) {
                    now += 1;
                    h.advance(ms(1));
                    ran_at.resize(h.batches().len(), now);
                }
            }
            ran_at.resize(h.batches().len(), now);
            for (b, batch) in h.batches().iter().enumerate() {
                assert!(
                    !batch.is_empty() && batch.len() <= max_size,
                    "{at}: {batch:?}"
                );
                let first = calls.iter().find(|c| c.0 == batch[0]).unwrap();
                let waited = ran_at[b] - first.1;
                assert!(waited <= WINDOW, "{at}: batch {b} waited {waited} ms");
                if batch.len() < max_size {
                    // Short: its window ended, or it held items of callers that had timed
                    // out by the time it ran (skipped, so not handed to the handler).
                    let since = if b == 0 { 0 } else { ran_at[b - 1] };
                    let had_skipped = calls.iter().any(|c| {
                        (since..=ran_at[b]).contains(&c.1) && c.2.is_some_and(|d| d <= ran_at[b])
                    });
                    assert!(
                        waited == WINDOW || had_skipped,
                        "{at}: batch {batch:?} went early"
                    );
                }
            }
        }
        let at = format!("seed {seed:#x} end");
        let batches = h.batches.clone(); // read after finish, which flushes the last batch
        let (replies, report) = h.finish();
        let batches = batches.take();
        assert_eq!(replies.len(), calls.len(), "{at}: one outcome per call");
        let mut seen = std::collections::HashSet::new();
        for (n, reply) in &replies {
            assert!(seen.insert(*n), "{at}: two outcomes for {n}");
            let deadline = calls.iter().find(|c| c.0 == *n).unwrap().2;
            match reply {
                Ok(Ok(v)) => assert_eq!(*v, n * 3, "{at}"),
                Ok(Err(BatchError::Item(_))) => assert!(*n < 0, "{at}"),
                Err(CallError::Timeout) => assert!(deadline.is_some(), "{at}: {n} timed out"),
                other => panic!("{at}: {n} got {other:?}"),
            }
        }
        // Batches keep the callers' order, and hold exactly the callers that got a result.
        let handled: Vec<i32> = batches.concat();
        assert!(
            handled.windows(2).all(|w| w[0].abs() < w[1].abs()),
            "{at}: order"
        );
        let answered = replies.iter().filter(|(_, r)| r.is_ok()).count();
        assert_eq!(handled.len(), answered, "{at}: handled vs answered");
        let timeouts = replies.len() - answered;
        assert_eq!(report.stats.replied as usize, answered, "{at}");
        assert_eq!(report.stats.timeout as usize, timeouts, "{at}");
    }
}
