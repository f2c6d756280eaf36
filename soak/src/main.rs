//! Chaos soak of rsvp's thread-safe endpoint.
//!
//! ```sh
//! cargo run --release -p rsvp-soak -- --calls 1000000
//! ```
//!
//! Calls run on a multi-thread smol executor (`--threads`, default 2 workers), against real
//! async-io timers, in epochs of `--epoch` calls: each epoch makes a fresh endpoint, serves
//! it with `serve` and has 16 client tasks call it. Every call picks at random how its
//! caller behaves (waits, times out after 0–2 ms, uses `try_call`, reserves a slot first and
//! then calls or drops the permit, or drops the call after 0–3 polls, so at every await
//! point) and how its responder behaves (replies at once or
//! later, sleeps first, drops the reply handle, panics, or waits until the caller gives
//! up). Most epochs are shut down mid-flight with `CloseMode::Fail` or `Drain`.
//!
//! It checks, and exits non-zero if any check fails:
//! - every call got exactly one outcome, and every reply reached the caller that asked;
//! - the endpoint's stats equal the outcomes the callers observed (a caller that dropped
//!   its call observes nothing: its call counts as `Cancelled`, or as the outcome that was
//!   decided before the drop);
//! - nothing is left queued or in flight, and every handler `serve` started finished;
//! - the live heap bytes after the run equal those after a warm-up run (no leak).

use std::alloc::{GlobalAlloc, Layout, System};
use std::future::Future;
use std::num::NonZeroUsize;
use std::pin::Pin;
use std::process::ExitCode;
use std::sync::atomic::{AtomicIsize, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures_util::future::{select, Either};
use rsvp::stats::StatsSnapshot;
use rsvp::{CallError, CloseMode, TryCallError};

/// Live heap bytes, counted by the global allocator.
static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);

struct CountingAlloc;

// SAFETY: every method forwards to `System` with the caller's arguments unchanged and only
// adds bookkeeping on the side, so `System`'s guarantees carry over.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded; the caller upholds `alloc`'s contract.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            LIVE_BYTES.fetch_add(layout.size() as isize, Relaxed);
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded; the caller upholds `alloc_zeroed`'s contract.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            LIVE_BYTES.fetch_add(layout.size() as isize, Relaxed);
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded; `ptr` came from this allocator with `layout`.
        unsafe { System.dealloc(ptr, layout) };
        LIVE_BYTES.fetch_sub(layout.size() as isize, Relaxed);
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded; the caller upholds `realloc`'s contract.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            LIVE_BYTES.fetch_add(new_size as isize - layout.size() as isize, Relaxed);
        }
        new
    }
}

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

/// The panic message of a handler told to panic; the panic hook keeps these quiet.
const PLANNED_PANIC: &str = "rsvp-soak: planned handler panic";

const SLOTS: usize = 8;
/// How far the live heap may move between two idle moments for reasons that are not rsvp's.
const HEAP_NOISE: isize = 1024;
const CLIENTS: u64 = 16;

type Caller = rsvp_smol::Caller<Job, u64, SLOTS>;

/// What the responder does with a request.
#[derive(Clone, Copy, Debug)]
enum Action {
    Reply,
    /// Reply after yielding to the executor once.
    ReplyLater,
    /// Reply after a real-timer sleep of this many microseconds.
    SleepThenReply(u64),
    DropResponder,
    Panic,
    /// Wait until the caller stops waiting; only sent by callers that time out or drop.
    WaitCancelled,
}

/// What the caller does with its call.
#[derive(Clone, Copy, Debug)]
enum Mode {
    Call,
    Timeout(Duration),
    TryCall,
    /// Drop the call after this many polls (0: before the first).
    DropAfter(u32),
    /// Reserve a slot first, then call with this timeout, or (`None`) drop the permit unused.
    Reserve(Option<Duration>),
}

#[derive(Debug)]
struct Job {
    id: u64,
    action: Action,
}

/// What callers observed, counted across threads.
#[derive(Default)]
struct Observed {
    started: AtomicU64,
    ok: AtomicU64,
    misrouted: AtomicU64,
    timeout: AtomicU64,
    closed: AtomicU64,
    lost: AtomicU64,
    full: AtomicU64,
    dropped: AtomicU64,
    never_polled: AtomicU64,
}

/// Totals over every epoch.
#[derive(Default, Debug, Clone, Copy)]
struct Totals {
    started: u64,
    ok: u64,
    misrouted: u64,
    timeout: u64,
    closed: u64,
    lost: u64,
    full: u64,
    dropped: u64,
    never_polled: u64,
    stats_replied: u64,
    stats_timeout: u64,
    stats_closed: u64,
    stats_lost: u64,
    stats_full: u64,
    stats_cancelled: u64,
    left_in_flight: u64,
    served: u64,
    unfinished_handlers: u64,
    shutdowns: u64,
}

/// xorshift64*: deterministic per seed, no dependencies.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    /// A caller mode and a responder action that cannot leave the call waiting forever.
    fn plan(&mut self) -> (Mode, Action) {
        let mode = match self.below(11) {
            0..=2 => Mode::Call,
            3..=5 => Mode::Timeout(Duration::from_micros(self.below(2_000))),
            6 => Mode::TryCall,
            7..=9 => Mode::DropAfter(self.below(4) as u32),
            _ => Mode::Reserve(
                (self.below(4) != 0).then(|| Duration::from_micros(self.below(2_000))),
            ),
        };
        let action = match self.below(12) {
            0..=4 => Action::Reply,
            5 | 6 => Action::ReplyLater,
            7 => Action::SleepThenReply(self.below(500)),
            8 => Action::DropResponder,
            9 => Action::Panic,
            // Only a caller that gives up by itself may meet a responder that waits for it.
            _ if matches!(
                mode,
                Mode::Timeout(_) | Mode::DropAfter(_) | Mode::Reserve(_)
            ) =>
            {
                Action::WaitCancelled
            }
            _ => Action::Reply,
        };
        (mode, action)
    }
}

/// Ready after `n` polls, waking itself in between: lets `select` poll a call `n` times.
struct PollBudget(u32);

impl Future for PollBudget {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 <= 1 {
            return Poll::Ready(());
        }
        self.0 -= 1;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// One call, as its caller sees it; records exactly one observation. Returns false for a
/// call future dropped before its first poll: that call never started (rsvp counts nothing
/// for it), so it does not count towards `--calls` either.
async fn one_call(caller: &Caller, id: u64, mode: Mode, action: Action, seen: &Observed) -> bool {
    let job = Job { id, action };
    if let Mode::DropAfter(0) = mode {
        drop(caller.call(job));
        seen.never_polled.fetch_add(1, Relaxed);
        return false;
    }
    seen.started.fetch_add(1, Relaxed);
    let result = match mode {
        Mode::Call => caller.call(job).await,
        Mode::Timeout(t) => caller.call_timeout(job, t).await,
        Mode::TryCall => match caller.try_call(job) {
            Ok(call) => call.await,
            Err(TryCallError::Full(_)) => {
                seen.full.fetch_add(1, Relaxed);
                return true;
            }
            Err(TryCallError::Closed(_)) => Err(CallError::Closed),
        },
        Mode::Reserve(timeout) => match (caller.reserve().await, timeout) {
            (Ok(permit), Some(t)) => permit.call_timeout(job, t).await,
            (Ok(permit), None) => {
                // An unused permit gives its slot back; no call was made, and rsvp counts
                // nothing, also if a shutdown came meanwhile: like a call dropped unpolled,
                // it does not count towards `--calls`.
                drop(permit);
                seen.started.fetch_sub(1, Relaxed);
                seen.never_polled.fetch_add(1, Relaxed);
                return false;
            }
            (Err(e), _) => Err(e),
        },
        Mode::DropAfter(polls) => {
            // Boxed: the call is pinned, and `select` hands it back to be dropped here.
            let call = Box::pin(caller.call(job));
            match select(call, PollBudget(polls)).await {
                Either::Left((result, _)) => result,
                Either::Right(((), call)) => {
                    drop(call);
                    seen.dropped.fetch_add(1, Relaxed);
                    return true;
                }
            }
        }
    };
    let counter = match result {
        Ok(reply) if reply == id => &seen.ok,
        Ok(_) => &seen.misrouted,
        Err(CallError::Timeout) => &seen.timeout,
        Err(CallError::Closed) => &seen.closed,
        Err(CallError::Lost) => &seen.lost,
    };
    counter.fetch_add(1, Relaxed);
    true
}

/// Runs one epoch of `calls` calls on a fresh endpoint and adds what happened to `totals`.
async fn epoch(ex: &smol::Executor<'static>, calls: u64, seed: u64, totals: &mut Totals) {
    let (caller, server) = rsvp_smol::channel::<Job, u64, SLOTS>();
    // Read the stats through this handle once every caller is done: `serve`'s report is a
    // snapshot taken when it returns, and after a `Drain` shutdown it returns while callers
    // may still be getting `Closed`.
    let spare = server.clone();
    let serving = ex.spawn(server.serve(
        NonZeroUsize::new(8).unwrap(),
        |job: Job, responder| async move {
            match job.action {
                Action::Reply => {
                    let _ = responder.reply(job.id);
                }
                Action::ReplyLater => {
                    smol::future::yield_now().await;
                    let _ = responder.reply(job.id);
                }
                Action::SleepThenReply(us) => {
                    smol::Timer::after(Duration::from_micros(us)).await;
                    let _ = responder.reply(job.id);
                }
                Action::DropResponder => drop(responder),
                Action::Panic => panic!("{PLANNED_PANIC}"),
                Action::WaitCancelled => responder.cancelled().await,
            }
        },
    ));

    let mut rng = Rng(seed | 1);
    // Most epochs are shut down once this many calls have ended, with the others in flight.
    let close_after = match rng.below(4) {
        0 => u64::MAX,
        _ => rng.below(calls),
    };
    let close_mode = if rng.below(2) == 0 {
        CloseMode::Fail
    } else {
        CloseMode::Drain
    };
    let seen = Arc::new(Observed::default());
    let ended = Arc::new(AtomicU64::new(0));
    let per_client = calls / CLIENTS;
    let clients: Vec<_> = (0..CLIENTS)
        .map(|c| {
            let (caller, seen, ended) = (caller.clone(), seen.clone(), ended.clone());
            let mut rng = Rng(rng.next() | 1);
            let extra = u64::from(c < calls % CLIENTS);
            ex.spawn(async move {
                let (mut made, mut i) = (0, 0);
                while made < per_client + extra {
                    let (mode, action) = rng.plan();
                    i += 1;
                    if !one_call(&caller, c << 40 | i, mode, action, &seen).await {
                        continue;
                    }
                    made += 1;
                    if ended.fetch_add(1, Relaxed) + 1 == close_after {
                        caller.close(close_mode);
                    }
                }
            })
        })
        .collect();
    drop(caller);
    for client in clients {
        client.await;
    }
    // Every caller handle is gone: serve drains what is left and returns.
    let report = serving.await;
    let stats = spare.stats();
    drop(spare);
    add(totals, &seen, &stats);
    totals.served += report.received;
    totals.unfinished_handlers += report.received - report.finished;
    totals.shutdowns += u64::from(close_after < calls);
}

fn add(t: &mut Totals, seen: &Observed, stats: &StatsSnapshot) {
    t.started += seen.started.load(Relaxed);
    t.ok += seen.ok.load(Relaxed);
    t.misrouted += seen.misrouted.load(Relaxed);
    t.timeout += seen.timeout.load(Relaxed);
    t.closed += seen.closed.load(Relaxed);
    t.lost += seen.lost.load(Relaxed);
    t.full += seen.full.load(Relaxed);
    t.dropped += seen.dropped.load(Relaxed);
    t.never_polled += seen.never_polled.load(Relaxed);
    t.stats_replied += stats.replied;
    t.stats_timeout += stats.timeout;
    t.stats_closed += stats.closed;
    t.stats_lost += stats.lost;
    t.stats_full += stats.full;
    t.stats_cancelled += stats.cancelled;
    t.left_in_flight += (stats.queued + stats.in_flight) as u64;
}

/// Every broken promise in `t`, as readable lines; empty when all hold.
fn failures(t: &Totals, calls: u64) -> Vec<String> {
    let mut bad = Vec::new();
    let observed = t.ok + t.misrouted + t.timeout + t.closed + t.lost + t.full + t.dropped;
    let counted = t.stats_replied
        + t.stats_timeout
        + t.stats_closed
        + t.stats_lost
        + t.stats_full
        + t.stats_cancelled;
    let mut check = |ok: bool, what: String| {
        if !ok {
            bad.push(what);
        }
    };
    check(
        t.started == calls,
        format!("started {} of {calls} calls", t.started),
    );
    check(
        observed == t.started,
        format!("{observed} outcomes observed for {} calls", t.started),
    );
    check(
        counted == t.started,
        format!("stats count {counted} outcomes for {} calls", t.started),
    );
    check(
        t.misrouted == 0,
        format!("{} replies reached the wrong caller", t.misrouted),
    );
    check(
        t.stats_timeout == t.timeout,
        format!(
            "stats timeout {} != observed {}",
            t.stats_timeout, t.timeout
        ),
    );
    check(
        t.stats_full == t.full,
        format!("stats full {} != observed {}", t.stats_full, t.full),
    );
    // A caller that dropped its call observes nothing; its call is counted as Cancelled, or
    // as the outcome decided before the drop (a reply sent, a responder gone, a shutdown).
    let decided_unseen = t
        .stats_replied
        .checked_sub(t.ok)
        .zip(t.stats_lost.checked_sub(t.lost))
        .zip(t.stats_closed.checked_sub(t.closed));
    match decided_unseen {
        Some(((r, l), c)) => check(
            t.stats_cancelled + r + l + c == t.dropped,
            format!(
                "{} dropped calls, stats: {} cancelled + {} decided before the drop",
                t.dropped,
                t.stats_cancelled,
                r + l + c
            ),
        ),
        None => check(
            false,
            "stats count fewer replies, losses or closes than callers saw".into(),
        ),
    }
    check(
        t.left_in_flight == 0,
        format!("{} calls left queued or in flight", t.left_in_flight),
    );
    check(
        t.unfinished_handlers == 0,
        format!("{} handlers never finished", t.unfinished_handlers),
    );
    bad
}

/// The live heap once async-io's reactor has caught up: a dropped timer is removed from
/// the reactor's timer map on its next turn, not at once, so read after a few turns.
fn settled_heap() -> isize {
    smol::block_on(smol::Timer::after(Duration::from_millis(20)));
    LIVE_BYTES.load(Relaxed)
}

struct Args {
    calls: u64,
    threads: usize,
    epoch: u64,
    seed: u64,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        calls: 1_000_000,
        threads: 2,
        epoch: 10_000,
        seed: 0x5eed,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || -> Result<u64, String> {
            let v = it.next().ok_or(format!("{flag} needs a value"))?;
            v.replace('_', "")
                .parse()
                .map_err(|e| format!("{flag} {v}: {e}"))
        };
        match flag.as_str() {
            "--calls" => args.calls = value()?,
            "--threads" => args.threads = value()?.max(1) as usize,
            "--epoch" => args.epoch = value()?.max(CLIENTS),
            "--seed" => args.seed = value()?,
            "-h" | "--help" => {
                return Err(
                    "usage: rsvp-soak [--calls N] [--threads T] [--epoch N] [--seed S]".into(),
                )
            }
            other => return Err(format!("unknown argument {other} (try --help)")),
        }
    }
    Ok(args)
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::FAILURE;
        }
    };
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let planned = info
            .payload()
            .downcast_ref::<String>()
            .is_some_and(|m| m == PLANNED_PANIC);
        if !planned {
            default_hook(info);
        }
    }));

    let ex: &'static smol::Executor<'static> = Box::leak(Box::new(smol::Executor::new()));
    let (stop, stopped) = smol::channel::bounded::<()>(1);
    let workers: Vec<_> = (0..args.threads)
        .map(|_| {
            let stopped = stopped.clone();
            std::thread::spawn(move || smol::block_on(ex.run(stopped.recv())))
        })
        .collect();

    // Warm-up: the executor, async-io's reactor and the allocator's own caches settle;
    // the heap after it is the baseline.
    let mut warm = Totals::default();
    smol::block_on(epoch(
        ex,
        2_000.min(args.calls.max(CLIENTS)),
        args.seed ^ 0xdead,
        &mut warm,
    ));
    let warm_failures = failures(&warm, warm.started);
    let baseline = settled_heap();

    let started = Instant::now();
    let mut totals = Totals::default();
    let mut done = 0;
    let mut seed = args.seed;
    while done < args.calls {
        let n = args.epoch.min(args.calls - done);
        seed = Rng(seed | 1).next();
        smol::block_on(epoch(ex, n, seed, &mut totals));
        done += n;
    }
    let elapsed = started.elapsed();
    let after = settled_heap();

    drop(stop);
    for w in workers {
        let _ = w.join();
    }

    let t = &totals;
    println!(
        "rsvp-soak: {} calls in {:.2?} ({:.0} calls/s) on {} executor threads, {} endpoints, {} shut down mid-flight",
        t.started,
        elapsed,
        t.started as f64 / elapsed.as_secs_f64(),
        args.threads,
        args.calls.div_ceil(args.epoch),
        t.shutdowns
    );
    println!("  observed by callers: ok {}, timeout {}, closed {}, lost {}, full {}, dropped by caller {}, wrong reply {}; plus {} calls never started (futures dropped unpolled, permits dropped unused: not counted)",
        t.ok, t.timeout, t.closed, t.lost, t.full, t.dropped, t.misrouted, t.never_polled);
    println!(
        "  counted in stats:    replied {}, timeout {}, closed {}, lost {}, full {}, cancelled {}",
        t.stats_replied,
        t.stats_timeout,
        t.stats_closed,
        t.stats_lost,
        t.stats_full,
        t.stats_cancelled
    );
    println!(
        "  serve: {} requests taken, every handler finished: {}; left queued or in flight: {}",
        t.served,
        t.unfinished_handlers == 0,
        t.left_in_flight
    );
    println!(
        "  live heap: {baseline} bytes after warm-up, {after} bytes after the run (difference {}, runtime noise allowed: {HEAP_NOISE})",
        after - baseline
    );

    let mut bad = warm_failures;
    bad.extend(failures(t, args.calls));
    // The runtime's own bookkeeping moves by a few hundred bytes from run to run whatever
    // the number of calls (async-io's timer map keeps or frees an empty 456-byte node); a
    // leak in rsvp would grow with the calls (a reply slot, a waker or a request per call).
    if (after - baseline).abs() > HEAP_NOISE {
        bad.push(format!(
            "live heap moved by {} bytes (more than the runtime's {HEAP_NOISE} bytes of noise)",
            after - baseline
        ));
    }
    if bad.is_empty() {
        println!(
            "  PASS: every call had exactly one outcome, stats match, live heap back to baseline"
        );
        ExitCode::SUCCESS
    } else {
        for b in &bad {
            println!("  FAIL: {b}");
        }
        ExitCode::FAILURE
    }
}
