//! The batch scenario: rsvp's batching server at sizes 1, 8 and 32 with a window that is
//! never reached, against plain calls of the single-thread flavour on the same executor.
//!
//! - plain calls (`batch0`): 64 caller tasks, one `call` at a time each, and a server that
//!   answers one request at a time (the S2 scenario);
//! - batch `b`: `64 / b` caller tasks, each sending `b` calls at once with
//!   `Caller::call_many` and waiting for all of them, and `serve_batch_jobs` with `max_size`
//!   `b`. So 64 calls are in flight in every row, and each batch is filled by one `call_many`.

use std::convert::Infallible;
use std::rc::Rc;
use std::time::Duration;

use rsvp::batch::{BatchConfig, BatchJob, BatchResult, ManyCall};
use rsvp::lock::LocalMutex;
use rsvp::rpc::With;
use rsvp::{Caller, Rpc};

use crate::contenders::{Local, RsvpLocal};
use crate::exec::{self, Exec, LocalTask};
use crate::{counting, Options, Size};

/// A clock that never moves: the batch window is never reached, so only the size flushes.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Frozen;

/// [`Frozen`]'s instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Tick(u64);

impl rsvp::time::Instant for Tick {
    fn checked_add(self, d: Duration) -> Option<Self> {
        Some(Tick(self.0.saturating_add(d.as_nanos() as u64)))
    }
    fn saturating_duration_since(self, earlier: Self) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0))
    }
}

impl rsvp::time::Clock for Frozen {
    type Instant = Tick;
    type Sleep = rsvp::time::Never;
    // All its instants are equal: no latencies to record, as with the plain calls' NoClock.
    const MEASURES_TIME: bool = false;
    fn now(&self) -> Tick {
        Tick(0)
    }
}

impl rsvp::time::Timer for Frozen {
    fn sleep_until(&self, _: Tick) -> rsvp::time::Never {
        rsvp::time::Never
    }
}

type BatchRpc = Rpc<u64, BatchResult<u64, Infallible>, 64, With<LocalMutex, Frozen>>;

/// The batch sizes measured; 0 stands for plain calls (no batching).
pub(crate) const SIZES: [usize; 4] = [0, 1, 8, 32];
/// The executors of the batch table.
pub(crate) const EXECS: [Exec; 3] = [Exec::Mini, Exec::Smol, Exec::Tokio];

fn tasks(batch: usize, size: Size) -> Vec<LocalTask> {
    if batch == 0 {
        let (clients, server) = RsvpLocal::pair(size.callers);
        let mut tasks: Vec<LocalTask> =
            vec![Box::pin(RsvpLocal::serve(server, size.round_trips()))];
        tasks.extend(clients.into_iter().map(|c| {
            Box::pin(async move {
                let mut c = c;
                for i in 0..size.calls {
                    assert_eq!(RsvpLocal::call(&mut c, i).await, i * 2);
                }
            }) as LocalTask
        }));
        return tasks;
    }
    let config = BatchConfig::new(batch, Duration::from_secs(3600)).expect("a valid batch config");
    let rpc = Rc::new(BatchRpc::new(Frozen));
    let (caller, server) = Rpc::split(rpc.clone());
    let serve = server.serve_batch_jobs(config, |mut job: BatchJob<u64, u64, Infallible>| {
        job.answer_each(|x| Ok(x * 2));
        std::future::ready(job)
    });
    let mut tasks: Vec<LocalTask> = vec![Box::pin(async move {
        let report = serve.await;
        assert_eq!(report.items, size.round_trips());
        assert_eq!(report.batches, size.round_trips() / batch as u64);
    })];
    assert_eq!(size.callers % batch, 0, "every `call_many` fills one batch");
    let callers: Vec<Caller<Rc<BatchRpc>>> = vec![caller; size.callers / batch];
    tasks.extend(
        callers
            .into_iter()
            .map(|c| Box::pin(call_rounds(c, batch, size.calls)) as LocalTask),
    );
    tasks
}

/// `rounds` rounds of `batch` calls at once, each one `call_many`.
async fn call_rounds(caller: Caller<Rc<BatchRpc>>, batch: usize, rounds: u64) {
    let mut calls = Vec::with_capacity(batch);
    for round in 0..rounds {
        let first = round * batch as u64;
        calls.clear();
        calls.extend((first..first + batch as u64).map(ManyCall::new));
        for (x, call) in (first..).zip(caller.call_many(&mut calls).await) {
            assert_eq!(call.take_outcome(), Some(Ok(Ok(x * 2))));
        }
    }
}

fn size(scale: f64) -> Size {
    Size {
        callers: 64,
        calls: ((2048.0 * scale) as u64).max(8),
    }
}

/// Per executor and batch size: ns per item in each repeat, and allocations per item.
pub(crate) struct Batches {
    pub(crate) ns: Vec<Vec<Vec<f64>>>,
    pub(crate) allocs: Vec<Vec<f64>>,
}

/// Measures every executor and batch size once per repeat, interleaved.
pub(crate) fn measure(options: &Options) -> Batches {
    let size = size(options.scale);
    let run = |e: Exec, b: usize, size: Size| exec::run_local(e, tasks(b, size));
    for e in EXECS {
        for b in SIZES {
            run(e, b, size);
        }
    }
    let mut ns = vec![vec![Vec::new(); SIZES.len()]; EXECS.len()];
    for _ in 0..options.repeats {
        for (ei, e) in EXECS.into_iter().enumerate() {
            for (bi, b) in SIZES.into_iter().enumerate() {
                let t = run(e, b, size);
                ns[ei][bi].push(t.as_nanos() as f64 / size.round_trips() as f64);
            }
        }
    }
    let allocs = EXECS
        .into_iter()
        .map(|e| {
            SIZES
                .into_iter()
                .map(|b| {
                    let (small, large) = (
                        Size {
                            callers: 64,
                            calls: 64,
                        },
                        Size {
                            callers: 64,
                            calls: 576,
                        },
                    );
                    let (a, _) = counting::count(|| {
                        let _ = run(e, b, small);
                    });
                    let (z, _) = counting::count(|| {
                        let _ = run(e, b, large);
                    });
                    (z as f64 - a as f64) / (large.round_trips() - small.round_trips()) as f64
                })
                .collect()
        })
        .collect();
    Batches { ns, allocs }
}

/// `--one rsvp-local@EXEC batchN N`: one run, for callgrind.
pub(crate) fn one(row: &str, scenario: &str, n: u64) -> Result<(), String> {
    let exec = match row {
        "rsvp-local@mini" => Exec::Mini,
        "rsvp-local@smol" => Exec::Smol,
        "rsvp-local@tokio-local" => Exec::Tokio,
        _ => {
            return Err(format!(
                "batch runs on rsvp-local@mini|smol|tokio-local, not {row}"
            ))
        }
    };
    let batch: usize = scenario
        .strip_prefix("batch")
        .and_then(|b| b.parse().ok())
        .ok_or_else(|| format!("unknown scenario {scenario}"))?;
    exec::run_local(
        exec,
        tasks(
            batch,
            Size {
                callers: 64,
                calls: (n / 64).max(1),
            },
        ),
    );
    Ok(())
}
