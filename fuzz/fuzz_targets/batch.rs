//! The batch machine driven by the fuzzer's bytes: the first two bytes pick `max_size`
//! (1–16) and `max_wait` (1–64 ms); then each pair is an operation (push, advance the
//! clock, serve the window, flush). Checked against a naive model after every operation:
//! the same batches at the same moments, never more than `max_size` items, the window's
//! deadline where the model puts it, and every item handed out once, in order, whether or
//! not the handed-out buffers are recycled.
#![no_main]

use core::time::Duration;

use libfuzzer_sys::fuzz_target;
use rsvp::batch::{Batch, BatchConfig};
use rsvp::time::Instant;

/// Milliseconds on a manual clock.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct At(u64);

impl Instant for At {
    fn checked_add(self, d: Duration) -> Option<Self> {
        Some(At(self
            .0
            .checked_add(u64::try_from(d.as_millis()).ok()?)?))
    }

    fn saturating_duration_since(self, earlier: Self) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }
}

/// The rules read naively.
struct Model {
    max_size: usize,
    max_wait: u64,
    open: Vec<u32>,
    opened_at: u64,
}

impl Model {
    fn push(&mut self, item: u32, now: u64) -> Option<Vec<u32>> {
        if self.open.is_empty() {
            self.opened_at = now;
        }
        self.open.push(item);
        (self.open.len() == self.max_size).then(|| std::mem::take(&mut self.open))
    }

    fn handle_timeout(&mut self, now: u64) -> Option<Vec<u32>> {
        let due = !self.open.is_empty() && self.opened_at + self.max_wait <= now;
        due.then(|| std::mem::take(&mut self.open))
    }

    fn flush(&mut self) -> Option<Vec<u32>> {
        (!self.open.is_empty()).then(|| std::mem::take(&mut self.open))
    }
}

fuzz_target!(|data: &[u8]| {
    let [size, wait, ops @ ..] = data else { return };
    let max_size = 1 + usize::from(size % 16);
    let max_wait = 1 + u64::from(wait % 64);
    let config = BatchConfig::new(max_size, Duration::from_millis(max_wait)).unwrap();
    let mut batch: Batch<u32, At> = Batch::new(config);
    let mut model = Model {
        max_size,
        max_wait,
        open: Vec::new(),
        opened_at: 0,
    };
    let mut now = 0u64;
    let mut next_item = 0u32;
    let mut out: Vec<u32> = Vec::new();
    // Every other batch handed out is recycled into the machine, as the batching server
    // does: the batches must come out the same either way.
    let check = |batch: &mut Batch<u32, At>,
                 got: Option<Vec<u32>>,
                 want: Option<Vec<u32>>,
                 out: &mut Vec<u32>| {
        assert_eq!(got, want);
        if let Some(items) = got {
            assert!(!items.is_empty() && items.len() <= max_size);
            out.extend_from_slice(&items);
            if out.len() % 2 == 0 {
                batch.recycle(items);
            }
        }
    };

    for op in ops.chunks(2) {
        let arg = op.get(1).copied().unwrap_or(0);
        match op[0] % 4 {
            0 => {
                let got = batch.push(next_item, At(now));
                let want = model.push(next_item, now);
                next_item += 1;
                check(&mut batch, got, want, &mut out);
            }
            1 => {
                let to = now + u64::from(arg);
                if let Some(deadline) = batch.poll_timeout() {
                    assert_eq!(deadline, At(model.opened_at + max_wait));
                    if deadline.0 <= to {
                        // Served exactly at its deadline, as an adapter's timer would.
                        now = now.max(deadline.0);
                        let got = batch.handle_timeout(At(now));
                        assert!(got.is_some(), "a due batch goes at its deadline");
                        check(&mut batch, got, model.handle_timeout(now), &mut out);
                    }
                } else {
                    assert!(model.open.is_empty());
                }
                now = to;
            }
            2 => {
                let got = batch.handle_timeout(At(now));
                check(&mut batch, got, model.handle_timeout(now), &mut out);
            }
            _ => {
                let got = batch.flush();
                check(&mut batch, got, model.flush(), &mut out);
            }
        }
        assert_eq!(batch.len(), model.open.len());
        assert_eq!(batch.is_empty(), model.open.is_empty());
    }
    let got = batch.flush();
    check(&mut batch, got, model.flush(), &mut out);
    assert!(batch.is_empty() && batch.poll_timeout().is_none());
    // Every item handed out exactly once, in push order.
    assert!(out.iter().copied().eq(0..next_item));
});
