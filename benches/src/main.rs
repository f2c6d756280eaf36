//! rsvp beside its peers, in one interleaved run: time, allocations per round trip, batching.
//!
//! `cargo run --profile perf -p rsvp-bench` prints markdown tables; `--help` lists the
//! options. Scenarios (after `shared/research/perf-anchors.md`):
//!
//! - S1: one caller awaits each reply before sending the next request;
//! - S2: 64 callers on one thread;
//! - S3: the 64 callers on one thread's single-threaded executor, the responder alone on a
//!   second thread;
//! - S3mt: responder and callers on a pool of two worker threads;
//! - batch: rsvp's batching server (`serve_batch_jobs`) at batch sizes 1, 8 and 32 (window
//!   never reached), each batch fed by one `Caller::call_many` of that many calls, with 64
//!   calls in flight, against 64 plain callers on the same executor;
//! - timed: `call_timeout` on every adapter's timer (rsvp-tokio, rsvp-smol, rsvp-futures,
//!   rsvp-embassy), allocations per call beside a plain `call` on the same executor.
//!
//! Every repeat measures every contender once per scenario, starting from a different
//! contender each time; ratios are taken within a repeat, then their median is reported,
//! so a burst of load from the rest of the machine mostly cancels out.

mod batch;
mod contenders;
mod counting;
mod exec;
mod models;
mod report;
mod timed;

use std::time::Duration;

use contenders::{
    AsyncChannel, EmbassyCs, EmbassyNoop, Floor, FloorSync, Flume, FuturesMpsc, Local, RsvpLocal,
    RsvpSync, Shared, TokioMpsc, TowerBuffer,
};
use exec::{Exec, LocalTask, SendTask};

#[global_allocator]
static ALLOC: counting::Counting = counting::Counting;

/// A scenario of the round-trip table.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Scenario {
    /// One caller, sequential.
    S1,
    /// 64 callers, one thread.
    S2,
    /// 64 callers on one thread, the responder on another.
    S3,
    /// Callers and responder on a 2-thread pool.
    S3mt,
}

impl Scenario {
    const ALL: [Scenario; 4] = [Scenario::S1, Scenario::S2, Scenario::S3, Scenario::S3mt];

    fn name(self) -> &'static str {
        match self {
            Scenario::S1 => "S1",
            Scenario::S2 => "S2",
            Scenario::S3 => "S3",
            Scenario::S3mt => "S3mt",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|sc| sc.name().eq_ignore_ascii_case(s))
    }
}

/// How many callers and calls each: `callers * calls` round trips.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Size {
    callers: usize,
    calls: u64,
}

impl Size {
    fn round_trips(self) -> u64 {
        self.callers as u64 * self.calls
    }
}

/// One contender on one executor.
pub(crate) struct Row {
    pub(crate) name: &'static str,
    pub(crate) exec: Exec,
    /// `!Send` handles (the single-thread contenders).
    pub(crate) local: bool,
    run: fn(Exec, Scenario, Size) -> Option<Duration>,
}

impl Row {
    pub(crate) fn label(&self) -> String {
        format!("{}@{}", self.name, self.exec.label(self.local))
    }

    /// Whether the scenario applies: the thread-crossing ones need a `Send` contender on a
    /// multi-threaded executor.
    pub(crate) fn has(&self, sc: Scenario) -> bool {
        match sc {
            Scenario::S1 | Scenario::S2 => true,
            Scenario::S3 | Scenario::S3mt => !self.local && self.exec != Exec::Mini,
        }
    }

    pub(crate) fn measure(&self, sc: Scenario, size: Size) -> Option<Duration> {
        if !self.has(sc) {
            return None;
        }
        (self.run)(self.exec, sc, size)
    }
}

async fn caller<C: Local>(mut client: C::Client, calls: u64) {
    let mut sum = 0u64;
    for i in 0..calls {
        sum = sum.wrapping_add(C::call(&mut client, i).await);
    }
    assert_eq!(
        sum,
        calls * calls.saturating_sub(1),
        "{}: wrong replies",
        C::NAME
    );
}

async fn caller_send<C: Shared>(mut client: C::Client, calls: u64) {
    let mut sum = 0u64;
    for i in 0..calls {
        sum = sum.wrapping_add(<C as Shared>::call(&mut client, i).await);
    }
    assert_eq!(
        sum,
        calls * calls.saturating_sub(1),
        "{}: wrong replies",
        <C as Shared>::NAME
    );
}

fn run_local_row<C: Local>(exec: Exec, _: Scenario, size: Size) -> Option<Duration> {
    let (clients, server) = C::pair(size.callers);
    let mut tasks: Vec<LocalTask> = vec![Box::pin(C::serve(server, size.round_trips()))];
    tasks.extend(
        clients
            .into_iter()
            .map(|c| Box::pin(caller::<C>(c, size.calls)) as LocalTask),
    );
    Some(exec::run_local(exec, tasks))
}

fn run_shared_row<C: Shared>(exec: Exec, sc: Scenario, size: Size) -> Option<Duration> {
    let (clients, server) = <C as Shared>::pair(size.callers);
    let server: SendTask = Box::pin(<C as Shared>::serve(server, size.round_trips()));
    let callers: Vec<SendTask> = clients
        .into_iter()
        .map(|c| Box::pin(caller_send::<C>(c, size.calls)) as SendTask)
        .collect();
    Some(match sc {
        Scenario::S1 | Scenario::S2 => {
            exec::run_one_thread(exec, std::iter::once(server).chain(callers).collect())
        }
        Scenario::S3 => exec::run_two_threads(exec, callers, server),
        Scenario::S3mt => exec::run_pool(exec, std::iter::once(server).chain(callers).collect()),
    })
}

const EXECS: [Exec; 3] = [Exec::Mini, Exec::Smol, Exec::Tokio];

fn local_rows<C: Local>(rows: &mut Vec<Row>) {
    for exec in EXECS {
        rows.push(Row {
            name: C::NAME,
            exec,
            local: true,
            run: run_local_row::<C>,
        });
    }
}

fn shared_rows<C: Shared>(rows: &mut Vec<Row>) {
    for exec in EXECS {
        rows.push(Row {
            name: <C as Shared>::NAME,
            exec,
            local: false,
            run: run_shared_row::<C>,
        });
    }
}

/// Every row; with `models`, the design models after the rsvp row of their flavour.
fn all_rows(models: bool) -> Vec<Row> {
    let mut rows = Vec::new();
    local_rows::<Floor>(&mut rows);
    local_rows::<RsvpLocal>(&mut rows);
    if models {
        local_rows::<models::LocalPool>(&mut rows);
    }
    local_rows::<EmbassyNoop>(&mut rows);
    shared_rows::<FloorSync>(&mut rows);
    shared_rows::<RsvpSync>(&mut rows);
    if models {
        shared_rows::<models::Handoff>(&mut rows);
        shared_rows::<models::LockFree<false>>(&mut rows);
        shared_rows::<models::LockFree<true>>(&mut rows);
        shared_rows::<models::LockFreePool>(&mut rows);
    }
    shared_rows::<TokioMpsc>(&mut rows);
    shared_rows::<TowerBuffer>(&mut rows);
    shared_rows::<FuturesMpsc>(&mut rows);
    shared_rows::<AsyncChannel>(&mut rows);
    shared_rows::<Flume>(&mut rows);
    shared_rows::<EmbassyCs>(&mut rows);
    rows
}

/// The command line.
struct Options {
    repeats: usize,
    scale: f64,
    smoke: bool,
    models: bool,
    only: Option<String>,
    one: Option<(String, Scenario, u64)>,
}

const HELP: &str = "\
rsvp-bench: round trips of rsvp and its peers, side by side in one run

usage: rsvp-bench [--repeats N] [--scale F] [--only TEXT] [--smoke] [--models]
       rsvp-bench --one CONTENDER@EXEC SCENARIO ROUND_TRIPS

  --repeats N   timed repeats (default 9), after one untimed warm-up pass
  --scale F     multiply every call count by F (default 1: S1 100k round trips,
                S2 64 x 2048, S3/S3mt 64 x 1024, batch 64 x 2048)
  --only TEXT   only rows whose contender@exec contains TEXT (references are kept);
                timed rows whose adapter (rsvp-tokio, ...) contains TEXT
  --smoke       one quick repeat at scale 0.02; fails unless rsvp allocates nothing
                per round trip beyond what the executor itself allocates (timed calls
                too, except on an adapter whose timer allocates by itself)
  --models      add the design models (benches/src/models.rs): shapes rsvp could take,
                without most of its features; not counted as peers
  --one ...     run one measurement once and print nothing (for callgrind.sh); the
                scenario is S1, S2, S3, S3mt, or batch1/batch8/batch32 on rsvp-local
                (batch0: the batch table's plain calls)
";

fn parse_args() -> Options {
    let mut o = Options {
        repeats: 9,
        scale: 1.0,
        smoke: false,
        models: false,
        only: None,
        one: None,
    };
    let mut args = std::env::args().skip(1);
    let bad = |what: &str| -> ! {
        eprintln!("rsvp-bench: {what}\n\n{HELP}");
        std::process::exit(2)
    };
    while let Some(a) = args.next() {
        match a.as_str() {
            "--repeats" => {
                o.repeats = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .filter(|&n| n > 0)
                    .unwrap_or_else(|| bad("--repeats needs a positive number"))
            }
            "--scale" => {
                o.scale = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .filter(|&f: &f64| f > 0.0)
                    .unwrap_or_else(|| bad("--scale needs a positive number"))
            }
            "--models" => o.models = true,
            "--only" => o.only = Some(args.next().unwrap_or_else(|| bad("--only needs a text"))),
            "--smoke" => {
                o.smoke = true;
                o.repeats = 1;
                o.scale = 0.02;
            }
            "--one" => {
                let (Some(row), Some(sc), Some(n)) = (args.next(), args.next(), args.next()) else {
                    bad("--one needs CONTENDER@EXEC SCENARIO ROUND_TRIPS")
                };
                let n = n
                    .parse()
                    .unwrap_or_else(|_| bad("ROUND_TRIPS must be a number"));
                let Some(scenario) = Scenario::parse(&sc) else {
                    batch::one(&row, &sc, n).unwrap_or_else(|e| bad(&e));
                    std::process::exit(0);
                };
                o.one = Some((row, scenario, n));
            }
            "-h" | "--help" => {
                print!("{HELP}");
                std::process::exit(0)
            }
            other => bad(&format!("unknown argument {other}")),
        }
    }
    o
}

/// The sizes of a scenario at `scale`.
pub(crate) fn size(sc: Scenario, scale: f64) -> Size {
    let n = |base: f64| ((base * scale) as u64).max(8);
    match sc {
        Scenario::S1 => Size {
            callers: 1,
            calls: n(100_000.0),
        },
        Scenario::S2 => Size {
            callers: 64,
            calls: n(2048.0),
        },
        Scenario::S3 | Scenario::S3mt => Size {
            callers: 64,
            calls: n(1024.0),
        },
    }
}

fn main() {
    let options = parse_args();
    let mut rows = all_rows(options.models || options.one.is_some());
    if let Some((label, sc, n)) = &options.one {
        let row = rows
            .iter()
            .find(|r| r.label() == *label)
            .unwrap_or_else(|| panic!("no row {label}; rows are contender@exec, e.g. floor@mini"));
        let size = match sc {
            Scenario::S1 => Size {
                callers: 1,
                calls: *n,
            },
            _ => Size {
                callers: 64,
                calls: (*n / 64).max(1),
            },
        };
        row.measure(*sc, size)
            .unwrap_or_else(|| panic!("{label} has no {}", sc.name()));
        return;
    }
    if let Some(only) = &options.only {
        // Keep the references every ratio needs.
        rows.retain(|r| {
            r.label().contains(only.as_str()) || r.name == "floor" || r.name == "floor-sync"
        });
    }
    let results = report::measure(&rows, &options);
    let allocs = report::allocations(&rows);
    let batches = batch::measure(&options);
    let timed = timed::measure(options.only.as_deref());
    report::print(&rows, &results, &allocs, &batches, &options);
    timed::print(&timed);
    if options.smoke {
        let timed_ok = timed::check_smoke(&timed);
        report::check_smoke(&rows, &allocs, &batches);
        assert!(timed_ok, "smoke: a timed call allocates");
    }
}
