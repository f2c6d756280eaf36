//! Timed calls on every adapter's timer: heap allocations per call in steady state.
//!
//! Each adapter's timer is measured on the executor it is made for, with the thread-safe
//! endpoint of `rsvp::channel` and a responder on the same thread:
//!
//! - `call`: no deadline, the baseline of that executor and endpoint (what the executor
//!   itself allocates);
//! - `call_timeout`: a deadline that is never reached (60 s), so the call arms its timer,
//!   waits for the reply and drops the timer;
//! - `fires`: the responder waits for the caller to give up (`Responder::cancelled`), so
//!   every call ends in `Timeout` when its 200 µs deadline passes; one caller only, since
//!   each call really waits (about 1 ms on tokio, whose timer counts in milliseconds).
//!
//! The rsvp-tower row makes its timed calls through a `CallService` with a timeout, cloned
//! per call (`svc.clone().oneshot(req)`), on tokio.
//!
//! Allocations are counted as in the main table: two runs of different lengths, and the
//! difference divided by the difference in calls, so setup allocations cancel out.

use std::time::Duration;

use rsvp::time::Timer;
use rsvp::CallError;
use rsvp_tower::{CallService, ServiceError};
use tower::ServiceExt as _;

use crate::contenders::CAP;
use crate::counting;
use crate::exec::SendTask;

/// How the calls of a run are made.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Mode {
    /// `call`: no deadline.
    Plain,
    /// `call_timeout` with a deadline that is never reached.
    Timed,
    /// `call_timeout` whose deadline passes: the responder never answers in time.
    Fires,
}

/// The columns of the table: (mode, callers, calls of the small and of the large run).
const COLUMNS: [(Mode, usize, u64, u64); 5] = [
    (Mode::Plain, 1, 2_000, 22_000),
    (Mode::Timed, 1, 2_000, 22_000),
    (Mode::Plain, 64, 32, 352),
    (Mode::Timed, 64, 32, 352),
    (Mode::Fires, 1, 20, 220),
];

/// The deadline of `Mode::Timed`: never reached.
const NEVER: Duration = Duration::from_secs(60);
/// The deadline of `Mode::Fires`.
const SOON: Duration = Duration::from_micros(200);

/// One adapter: its timer, and the executor it runs on.
trait Adapter {
    /// The adapter's crate, as the table names it.
    const NAME: &'static str;
    /// The executor, as the table names it.
    const EXEC: &'static str;
    /// Why a timed call allocates on this adapter, if it does and rsvp cannot help it:
    /// `--smoke` then does not fail on it.
    const ALLOCATES: Option<&'static str> = None;
    /// Whether the timed calls go through rsvp-tower's `CallService` (the plain ones stay
    /// the executor's baseline), the usual tower way: a clone of the service per call
    /// (`svc.clone().oneshot(req)`), its deadline set by `CallService::timeout`.
    const TOWER: bool = false;
    /// The adapter's timer.
    type Timer: Timer<Instant: Send + Sync, Sleep: Send> + Send + Sync + 'static;
    fn timer() -> Self::Timer;
    /// Runs `tasks` on one thread of the adapter's executor until all are done.
    fn run(tasks: Vec<SendTask>);
}

struct Tokio;

impl Adapter for Tokio {
    const NAME: &'static str = "rsvp-tokio";
    const EXEC: &'static str = "tokio";
    type Timer = rsvp_tokio::TokioTimer;
    fn timer() -> Self::Timer {
        rsvp_tokio::TokioTimer
    }
    fn run(tasks: Vec<SendTask>) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a tokio runtime");
        rt.block_on(crate::exec::join_spawned(tasks));
    }
}

struct Tower;

impl Adapter for Tower {
    const NAME: &'static str = "rsvp-tower";
    const EXEC: &'static str = "tokio (rsvp-tokio's timer)";
    const TOWER: bool = true;
    type Timer = rsvp_tokio::TokioTimer;
    fn timer() -> Self::Timer {
        rsvp_tokio::TokioTimer
    }
    fn run(tasks: Vec<SendTask>) {
        Tokio::run(tasks);
    }
}

struct Smol;

impl Adapter for Smol {
    const NAME: &'static str = "rsvp-smol";
    const EXEC: &'static str = "smol";
    const ALLOCATES: Option<&'static str> = Some(
        "async-io's reactor allocates while any timer is registered: each time it checks its \
         timers (every reactor turn, twice when a deadline ends the turn's wait) it splits \
         its `BTreeMap` of them with `split_off` (a new B-tree leaf), and it collects the \
         wakers of fired timers in a new `Vec`. Every async-io timer pays it, so rsvp cannot \
         avoid it while it sleeps on async-io's timer.",
    );
    type Timer = rsvp_smol::SmolTimer;
    fn timer() -> Self::Timer {
        rsvp_smol::SmolTimer
    }
    fn run(tasks: Vec<SendTask>) {
        // smol's own way: the executor driven by `async_io::block_on` (`smol::block_on`),
        // which also drives async-io's reactor, and so the timers, when the tasks wait.
        let ex = async_executor::LocalExecutor::new();
        let handles: Vec<_> = tasks.into_iter().map(|t| ex.spawn(t)).collect();
        async_io::block_on(ex.run(async {
            for h in handles {
                h.await;
            }
        }));
    }
}

/// Runs `tasks` on futures' `LocalPool`.
fn local_pool(tasks: Vec<SendTask>) {
    use futures_util::task::SpawnExt as _;
    let mut pool = futures_executor::LocalPool::new();
    let spawner = pool.spawner();
    for t in tasks {
        spawner.spawn(t).expect("a live pool");
    }
    pool.run();
}

struct Futures;

impl Adapter for Futures {
    const NAME: &'static str = "rsvp-futures";
    const EXEC: &'static str = "futures LocalPool";
    type Timer = rsvp_futures::FuturesTimer;
    fn timer() -> Self::Timer {
        rsvp_futures::FuturesTimer
    }
    fn run(tasks: Vec<SendTask>) {
        local_pool(tasks);
    }
}

struct Embassy;

impl Adapter for Embassy {
    const NAME: &'static str = "rsvp-embassy";
    const EXEC: &'static str = "futures LocalPool (embassy-time std driver)";
    type Timer = rsvp_embassy::EmbassyTimer;
    fn timer() -> Self::Timer {
        rsvp_embassy::EmbassyTimer
    }
    fn run(tasks: Vec<SendTask>) {
        local_pool(tasks);
    }
}

/// The tasks of one run: a responder and `callers` callers making `calls` calls each.
fn tasks<A: Adapter>(mode: Mode, callers: usize, calls: u64) -> Vec<SendTask> {
    let (caller, server) = rsvp::channel::channel_with::<u64, u64, CAP, _>(A::timer());
    let total = callers as u64 * calls;
    let mut tasks: Vec<SendTask> = vec![Box::pin(async move {
        // Until every caller is gone: a call that times out while queued is never received.
        let mut received = 0;
        while let Some((x, responder)) = server.recv().await {
            received += 1;
            if mode == Mode::Fires {
                // Answer only once the caller has timed out: the reply is handed back.
                responder.cancelled().await;
                assert_eq!(
                    responder.reply(x * 2),
                    Err(x * 2),
                    "{}: a late reply",
                    A::NAME
                );
            } else {
                responder.reply(x * 2).expect("a waiting caller");
            }
        }
        if mode != Mode::Fires {
            assert_eq!(received, total, "{}: requests lost", A::NAME);
        }
    })];
    tasks.extend(std::iter::repeat_n(caller, callers).map(|caller| {
        Box::pin(async move {
            let timeout = if mode == Mode::Timed { NEVER } else { SOON };
            let service = CallService::new(caller.clone()).timeout(timeout);
            for i in 0..calls {
                let outcome = match mode {
                    Mode::Timed | Mode::Fires if A::TOWER => {
                        service.clone().oneshot(i).await.map_err(|e| match e {
                            ServiceError::Timeout => CallError::Timeout,
                            ServiceError::Closed => CallError::Closed,
                            ServiceError::Lost | ServiceError::Full => CallError::Lost,
                        })
                    }
                    Mode::Plain => caller.call(i).await,
                    Mode::Timed | Mode::Fires => caller.call_timeout(i, timeout).await,
                };
                let expected = match mode {
                    Mode::Plain | Mode::Timed => Ok(i * 2),
                    Mode::Fires => Err(CallError::Timeout),
                };
                assert_eq!(outcome, expected, "{}: a wrong outcome", A::NAME);
            }
        }) as SendTask
    }));
    tasks
}

/// One row of the table: allocations and bytes per call in each column.
pub(crate) struct TimedRow {
    pub(crate) name: &'static str,
    pub(crate) exec: &'static str,
    pub(crate) allocates: Option<&'static str>,
    pub(crate) cells: Vec<(f64, f64)>,
}

fn per_call(run: impl Fn(u64), small: u64, large: u64, callers: usize) -> (f64, f64) {
    let (a0, b0) = counting::count(|| run(small));
    let (a1, b1) = counting::count(|| run(large));
    let n = ((large - small) * callers as u64) as f64;
    (
        (a1 as f64 - a0 as f64).max(0.0) / n,
        (b1 as f64 - b0 as f64).max(0.0) / n,
    )
}

fn row<A: Adapter>() -> TimedRow {
    // A warm-up run: timer threads started, global tables grown.
    for (mode, callers, small, _) in COLUMNS {
        A::run(tasks::<A>(mode, callers, small));
    }
    let cells = COLUMNS
        .into_iter()
        .map(|(mode, callers, small, large)| {
            per_call(
                |n| A::run(tasks::<A>(mode, callers, n)),
                small,
                large,
                callers,
            )
        })
        .collect();
    TimedRow {
        name: A::NAME,
        exec: A::EXEC,
        allocates: A::ALLOCATES,
        cells,
    }
}

/// Every adapter's row, with `only` as in the main table (a row is kept if its name
/// contains the text).
pub(crate) fn measure(only: Option<&str>) -> Vec<TimedRow> {
    fn add<A: Adapter>(rows: &mut Vec<TimedRow>, only: Option<&str>) {
        if only.is_none_or(|text| A::NAME.contains(text)) {
            rows.push(row::<A>());
        }
    }
    let mut rows = Vec::new();
    add::<Tokio>(&mut rows, only);
    add::<Tower>(&mut rows, only);
    add::<Smol>(&mut rows, only);
    add::<Futures>(&mut rows, only);
    add::<Embassy>(&mut rows, only);
    rows
}

pub(crate) fn print(rows: &[TimedRow]) {
    if rows.is_empty() {
        return;
    }
    println!("\n### Timed calls on each adapter's timer: heap allocations per call in steady state (bytes in brackets)\n");
    println!("Thread-safe `rsvp::channel` endpoint, responder on the same thread. `call`: no deadline (the executor's own allocations); `call_timeout`: a 60 s deadline, never reached; fires: a 200 µs deadline that passes (the responder waits for the caller to give up).\n");
    println!("| adapter | exec | S1 `call` | S1 `call_timeout` | S2 `call` | S2 `call_timeout` | S1 timeout fires |");
    println!("|---|---|---:|---:|---:|---:|---:|");
    for row in rows {
        let mut line = format!("| {} | {} ", row.name, row.exec);
        for (n, b) in &row.cells {
            line += &format!("| {n:.2} ({b:.0}) ");
        }
        println!("{line}|");
    }
    for row in rows {
        if let Some(why) = row.allocates {
            println!("\n{}: {why}", row.name);
        }
    }
}

/// `--smoke`: a timed call allocates nothing beyond a plain call on the same executor,
/// except on the adapters that say why they cannot help it.
pub(crate) fn check_smoke(rows: &[TimedRow]) -> bool {
    let mut ok = true;
    for row in rows {
        if row.allocates.is_some() {
            continue;
        }
        let plain = |c: usize| row.cells[c].0;
        for (c, (mode, callers, _, _)) in COLUMNS.into_iter().enumerate() {
            let base = match (mode, callers) {
                (Mode::Plain, _) => continue,
                (_, 1) => plain(0),
                _ => plain(2),
            };
            if row.cells[c].0 > base + 0.01 {
                eprintln!(
                    "smoke: {} {mode:?} with {callers} caller(s) allocates {:.3} per call, a plain call {base:.3}",
                    row.name, row.cells[c].0
                );
                ok = false;
            }
        }
    }
    ok
}
