//! rsvp-nats against raw async-nats request-reply on the same loopback nats-server, paired
//! in one run: round-trip time per call, sequential and with 64 concurrent callers, and heap
//! allocations per call (both sides, the whole process). A measurement, not a test.
//!
//! ```sh
//! cargo bench -p rsvp-nats --bench nats -- --rounds 15     # starts its own nats-server
//! cargo bench -p rsvp-nats --bench nats -- --url nats://127.0.0.1:4222 --rounds 9
//! cargo bench -p rsvp-nats --bench nats -- --rounds 15 --variants  # + two wire formats
//! cargo bench -p rsvp-nats --bench nats -- --only rsvp --callers 1 # for a profiler, 5 s
//! ```
//!
//! Each round runs every contender back to back (rotating which goes first) and the ratio
//! is taken within the round; the table gives the median over rounds. Every contender
//! echoes the same number, written in decimal: the raw ones as the payload itself, rsvp-nats
//! as its JSON (the same bytes). Results, and what was found, in `benches/README.md` of the
//! repository ("rsvp-nats against raw async-nats").

use std::alloc::{GlobalAlloc, Layout, System};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use rsvp_nats::async_nats::{self, Client};
use rsvp_nats::{Caller, Service};

/// Counts every allocation of the process (all threads).
struct Counting;

static ALLOCATIONS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the caller's guarantees for `alloc` are passed on as they are.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: as for `realloc` itself.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const CONCURRENT: usize = 64;

struct Options {
    url: Option<String>,
    rounds: usize,
    sequential: usize,
    concurrent: usize,
    /// For profiling: measure only this contender ("raw", "raw-headers", "raw-two-headers",
    /// "raw-framed"; anything else is "rsvp"), with `callers` concurrent callers (64
    /// unless `--callers` says otherwise).
    only: Option<String>,
    callers: usize,
    /// Also measure the wire-format variants (`RawTwoHeaders`, `RawFramed`).
    variants: bool,
}

fn options() -> Options {
    let mut o = Options {
        url: None,
        rounds: 7,
        sequential: 2_000,
        concurrent: 12_800,
        only: None,
        callers: CONCURRENT,
        variants: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--url" => o.url = args.next(),
            "--rounds" => o.rounds = args.next().and_then(|n| n.parse().ok()).unwrap_or(o.rounds),
            "--smoke" => (o.rounds, o.sequential, o.concurrent) = (1, 50, CONCURRENT * 4),
            "--only" => o.only = args.next(),
            "--variants" => o.variants = true,
            "--callers" => {
                o.callers = args
                    .next()
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(o.callers);
            }
            "--bench" => {} // what `cargo bench` passes
            other => panic!("unknown argument {other}"),
        }
    }
    o
}

/// A nats-server of the benchmark's own on a loopback port it picks; killed on drop.
struct Server(Child, String);

impl Server {
    fn start() -> Self {
        use std::io::{BufRead, BufReader};
        let binary = std::env::var("NATS_SERVER").unwrap_or_else(|_| "nats-server".into());
        let mut child = Command::new(&binary)
            .args(["-a", "127.0.0.1", "-p", "-1"])
            .stderr(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {binary} ({e}); set NATS_SERVER or --url"));
        let stderr = child.stderr.take().unwrap();
        let mut lines = BufReader::new(stderr).lines().map_while(Result::ok);
        let url = lines
            .find_map(|l| {
                let addr = l.split("Listening for client connections on ").nth(1)?;
                Some(format!("nats://{}", addr.trim()))
            })
            .expect("nats-server did not start");
        std::thread::spawn(move || lines.for_each(drop));
        Self(child, url)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One measured phase: seconds per call, allocations per call.
#[derive(Clone, Copy)]
struct Phase {
    per_call: Duration,
    allocs: f64,
}

/// What is measured: the same echo of a number, three ways.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Who {
    /// A plain async-nats request to a plain echo subscriber.
    Raw,
    /// The same, carrying rsvp-nats' request header (the budget), to show what a header
    /// alone costs in async-nats.
    RawHeaders,
    /// rsvp-nats: `Caller::call_timeout` to a `Service`.
    Rsvp,
    /// (`--variants`) A raw request with two headers, the budget and the call id: the wire
    /// format before the call id moved into the reply subject.
    RawTwoHeaders,
    /// (`--variants`) A raw request with the budget and call id at the head of the
    /// payload (`<budget> <id> <number>`), which the echo responder strips: what a wire
    /// format without headers would cost.
    RawFramed,
}

/// The callers' ends of every contender.
#[derive(Clone)]
struct Callers {
    client: Client,
    rsvp: Caller<u64, u64>,
}

impl Callers {
    async fn call(&self, who: Who, n: u64) {
        let payload = || n.to_string().into_bytes().into();
        match who {
            Who::Raw => {
                let reply = self.client.request("bench.raw", payload()).await.unwrap();
                assert_eq!(reply.payload, payload());
            }
            Who::RawHeaders => {
                let mut headers = async_nats::HeaderMap::new();
                headers.insert(rsvp_nats::wire::BUDGET_HEADER, "10000000");
                let reply = self
                    .client
                    .request_with_headers("bench.raw", headers, payload());
                assert_eq!(reply.await.unwrap().payload, payload());
            }
            Who::Rsvp => {
                let reply = self.rsvp.call_timeout(n, Duration::from_secs(10)).await;
                assert_eq!(reply, Ok(n));
            }
            Who::RawTwoHeaders => {
                let mut headers = async_nats::HeaderMap::new();
                headers.insert(rsvp_nats::wire::BUDGET_HEADER, "10000000");
                headers.insert(
                    rsvp_nats::wire::CALL_HEADER,
                    "0123456789abcdef0123456789abcdef",
                );
                let reply = self
                    .client
                    .request_with_headers("bench.raw", headers, payload());
                assert_eq!(reply.await.unwrap().payload, payload());
            }
            Who::RawFramed => {
                let framed = format!("10000000 0123456789abcdef0123456789abcdef {n}");
                let reply = self.client.request("bench.framed", framed.into()).await;
                assert_eq!(reply.unwrap().payload, payload());
            }
        }
    }
}

async fn measure(callers: &Callers, who: Who, calls: usize, concurrency: usize) -> Phase {
    let per_caller = calls / concurrency;
    let allocs = ALLOCATIONS.load(Ordering::Relaxed);
    let start = Instant::now();
    if concurrency == 1 {
        for n in 0..per_caller as u64 {
            callers.call(who, n).await;
        }
    } else {
        let tasks: Vec<_> = (0..concurrency as u64)
            .map(|c| {
                let callers = callers.clone();
                tokio::spawn(async move {
                    for n in 0..per_caller as u64 {
                        callers.call(who, c * 1_000_000 + n).await;
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
    }
    let elapsed = start.elapsed();
    let total = (per_caller * concurrency) as u32;
    Phase {
        per_call: elapsed / total,
        allocs: (ALLOCATIONS.load(Ordering::Relaxed) - allocs) as f64 / f64::from(total),
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let o = options();
    let _server;
    let url = match &o.url {
        Some(url) => url.clone(),
        None => {
            _server = Server::start();
            _server.1.clone()
        }
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(run(o, url));
}

async fn run(o: Options, url: String) {
    let responder: Client = async_nats::connect(&url).await.unwrap();
    let caller_client: Client = async_nats::connect(&url).await.unwrap();

    // Raw: an echo responder, and a caller with async-nats' own request (and its timeout).
    let mut raw_sub = responder
        .queue_subscribe("bench.raw", "q".into())
        .await
        .unwrap();
    let raw_responder = responder.clone();
    tokio::spawn(async move {
        while let Some(msg) = raw_sub.next().await {
            if let Some(reply) = msg.reply {
                let _ = raw_responder.publish(reply, msg.payload).await;
            }
        }
    });
    // The framed variant's responder: the reply is what follows the budget and the id.
    let mut framed_sub = responder
        .queue_subscribe("bench.framed", "q".into())
        .await
        .unwrap();
    let framed_responder = responder.clone();
    tokio::spawn(async move {
        while let Some(msg) = framed_sub.next().await {
            let mut parts = msg.payload.splitn(3, |&b| b == b' ');
            let (Some(_budget), Some(_id), Some(n)) = (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            let n = msg.payload.slice_ref(n);
            if let Some(reply) = msg.reply {
                let _ = framed_responder.publish(reply, n).await;
            }
        }
    });
    // rsvp-nats: the same work through a Service and a Caller (JSON, budget, call id).
    let serving = Service::<u64, u64>::new(responder.clone(), "bench.rsvp")
        .concurrency(std::num::NonZeroUsize::new(CONCURRENT).unwrap())
        .serve(|n, responder| async move {
            let _ = responder.reply(n);
        })
        .await
        .unwrap();
    tokio::spawn(serving);
    responder.flush().await.unwrap();

    let callers = Callers {
        client: caller_client.clone(),
        rsvp: Caller::new(caller_client, "bench.rsvp"),
    };
    if let Some(only) = &o.only {
        // For a profiler: one contender, `--callers` concurrent callers (64), for 5 s.
        let who = match only.as_str() {
            "raw" => Who::Raw,
            "raw-headers" => Who::RawHeaders,
            "raw-two-headers" => Who::RawTwoHeaders,
            "raw-framed" => Who::RawFramed,
            _ => Who::Rsvp,
        };
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(5) {
            let calls = if o.callers == 1 {
                o.sequential
            } else {
                o.concurrent
            };
            let p = measure(&callers, who, calls, o.callers).await;
            println!(
                "{who:?}: {:.2} µs/call, {:.1} allocations per call",
                p.per_call.as_secs_f64() * 1e6,
                p.allocs
            );
        }
        return;
    }

    println!(
        "rsvp-nats against raw async-nats, median of {} paired rounds, on {url}",
        o.rounds
    );
    println!("(ratio: × raw in the same round; allocations: per call, both sides, whole process)");
    let mut who = vec![Who::Raw, Who::RawHeaders, Who::Rsvp];
    if o.variants {
        who.extend([Who::RawTwoHeaders, Who::RawFramed]);
    }
    for (name, calls, concurrency) in [
        ("sequential", o.sequential, 1),
        ("64 concurrent", o.concurrent, CONCURRENT),
    ] {
        // Warm every path (connections, subscriptions, allocator) before measuring.
        for &w in &who {
            measure(&callers, w, calls / 4, concurrency).await;
        }
        let mut phases: Vec<Vec<Phase>> = Vec::new();
        for round in 0..o.rounds {
            // Rotate which contender goes first.
            let mut phase = vec![
                Phase {
                    per_call: Duration::ZERO,
                    allocs: 0.0,
                };
                who.len()
            ];
            for i in 0..who.len() {
                let k = (round + i) % who.len();
                phase[k] = measure(&callers, who[k], calls, concurrency).await;
            }
            phases.push(phase);
        }
        for (k, w) in who.iter().enumerate() {
            let us = median(
                phases
                    .iter()
                    .map(|p| p[k].per_call.as_secs_f64() * 1e6)
                    .collect(),
            );
            let ratios: Vec<f64> = phases
                .iter()
                .map(|p| p[k].per_call.as_secs_f64() / p[0].per_call.as_secs_f64())
                .collect();
            let allocs = median(phases.iter().map(|p| p[k].allocs).collect());
            println!(
                "{name:>14} {:<12} {us:8.2} µs/call  × raw {:.3}  ({})  allocations {allocs:5.1}",
                format!("{w:?}"),
                median(ratios.clone()),
                ratios
                    .iter()
                    .map(|r| format!("{r:.2}"))
                    .collect::<Vec<_>>()
                    .join(" "),
            );
        }
    }
}
