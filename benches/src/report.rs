//! Measuring in interleaved repeats, and the tables.

use crate::batch::{self, Batches};
use crate::{counting, size, Options, Row, Scenario, Size};

/// ns per round trip: `[row][scenario][repeat]`, empty where the scenario does not apply.
pub(crate) type Times = Vec<Vec<Vec<f64>>>;
/// Allocations and bytes per round trip: `[row][scenario]`.
pub(crate) type Allocs = Vec<Vec<Option<(f64, f64)>>>;

fn ns_per_rt(row: &Row, sc: Scenario, size: Size) -> Option<f64> {
    row.measure(sc, size)
        .map(|t| t.as_nanos() as f64 / size.round_trips() as f64)
}

/// One untimed warm-up pass, then `repeats` passes; in each, every row runs once per
/// scenario, starting from a different row each time.
pub(crate) fn measure(rows: &[Row], options: &Options) -> Times {
    let mut times: Times = vec![vec![Vec::new(); Scenario::ALL.len()]; rows.len()];
    for (si, sc) in Scenario::ALL.into_iter().enumerate() {
        for row in rows {
            ns_per_rt(row, sc, size(sc, options.scale * 0.1));
        }
        let _ = si;
    }
    for repeat in 0..options.repeats {
        for (si, sc) in Scenario::ALL.into_iter().enumerate() {
            for k in 0..rows.len() {
                let ri = (k + repeat * 7) % rows.len();
                if let Some(ns) = ns_per_rt(&rows[ri], sc, size(sc, options.scale)) {
                    times[ri][si].push(ns);
                }
            }
        }
        eprint!("\rrepeat {}/{}", repeat + 1, options.repeats);
    }
    eprintln!();
    times
}

/// Allocations per round trip in steady state: two runs of different lengths, and the
/// difference divided by the difference in round trips, so setup allocations cancel out.
pub(crate) fn allocations(rows: &[Row]) -> Allocs {
    rows.iter()
        .map(|row| {
            Scenario::ALL
                .into_iter()
                .map(|sc| {
                    if !row.has(sc) {
                        return None;
                    }
                    let (small, large) = match sc {
                        Scenario::S1 => (
                            Size {
                                callers: 1,
                                calls: 2_000,
                            },
                            Size {
                                callers: 1,
                                calls: 22_000,
                            },
                        ),
                        _ => (
                            Size {
                                callers: 64,
                                calls: 32,
                            },
                            Size {
                                callers: 64,
                                calls: 352,
                            },
                        ),
                    };
                    let (a0, b0) = counting::count(|| {
                        let _ = row.measure(sc, small);
                    });
                    let (a1, b1) = counting::count(|| {
                        let _ = row.measure(sc, large);
                    });
                    let n = (large.round_trips() - small.round_trips()) as f64;
                    Some((
                        (a1 as f64 - a0 as f64).max(0.0) / n,
                        (b1 as f64 - b0 as f64).max(0.0) / n,
                    ))
                })
                .collect()
        })
        .collect()
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn fmt_ns(ns: f64) -> String {
    if ns >= 100.0 {
        format!("{ns:.0}")
    } else {
        format!("{ns:.1}")
    }
}

fn spread(v: &[f64]) -> String {
    let mut v = v.to_vec();
    let m = median(&mut v);
    format!(
        "{} ({}–{})",
        fmt_ns(m),
        fmt_ns(v[0]),
        fmt_ns(v[v.len() - 1])
    )
}

/// Median over repeats of `a[k] / b[k]`.
fn paired(a: &[f64], b: &[f64]) -> Option<f64> {
    if a.is_empty() || a.len() != b.len() {
        return None;
    }
    let mut r: Vec<f64> = a.iter().zip(b).map(|(x, y)| x / y).collect();
    Some(median(&mut r))
}

fn find(rows: &[Row], name: &str, row: &Row) -> Option<usize> {
    rows.iter()
        .position(|r| r.name == name && r.exec == row.exec)
}

/// The reference of a row: the floor of its kind on the same executor.
fn reference(rows: &[Row], row: &Row) -> Option<usize> {
    find(rows, if row.local { "floor" } else { "floor-sync" }, row)
}

pub(crate) fn print(
    rows: &[Row],
    times: &Times,
    allocs: &Allocs,
    batches: &Batches,
    options: &Options,
) {
    let scale = options.scale;
    println!(
        "\n### Round trips: median ns (min–max) over {} repeats, and × the floor of the same kind on the same executor (paired per repeat)\n",
        options.repeats
    );
    println!(
        "sizes: S1 {} calls; S2 64 × {}; S3 and S3mt 64 × {}. `×ref`: `floor` for single-thread rows, `floor-sync` for `Send` rows.\n",
        size(Scenario::S1, scale).calls,
        size(Scenario::S2, scale).calls,
        size(Scenario::S3, scale).calls
    );
    println!("| contender | exec | S1 ns | ×ref | S2 ns | ×ref | S3 ns | ×ref | S3mt ns | ×ref |");
    println!("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (ri, row) in rows.iter().enumerate() {
        let mut line = format!("| {} | {} ", row.name, row.exec.label(row.local));
        for (si, t) in times[ri].iter().enumerate() {
            if t.is_empty() {
                line += "| - | - ";
                continue;
            }
            let ratio = reference(rows, row)
                .and_then(|r| paired(t, &times[r][si]))
                .map_or("-".into(), |x| format!("{x:.2}"));
            line += &format!("| {} | {} ", spread(t), ratio);
        }
        println!("{line}|");
    }

    println!("\n### Heap allocations per round trip in steady state (bytes in brackets)\n");
    println!("| contender | exec | S1 | S2 | S3 | S3mt |");
    println!("|---|---|---:|---:|---:|---:|");
    for (ri, row) in rows.iter().enumerate() {
        let mut line = format!("| {} | {} ", row.name, row.exec.label(row.local));
        for a in &allocs[ri] {
            line += &match a {
                Some((n, b)) => format!("| {n:.2} ({b:.0}) "),
                None => "| - ".into(),
            };
        }
        println!("{line}|");
    }

    println!("\n### Batching (rsvp-local, 64 calls in flight, window never reached): median ns per item (min–max), × plain calls (paired)\n");
    println!("plain call: 64 caller tasks, one `call` each at a time, a server answering one request at a time. batch b: 64/b caller tasks, each sending b calls at once with `Caller::call_many`, served by `serve_batch_jobs` with `max_size` b.\n");
    println!("| exec | plain call | batch 1 | ×plain | batch 8 | ×plain | batch 32 | ×plain | items/s at 32 | allocs/item (plain / 1 / 8 / 32) |");
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (ei, e) in batch::EXECS.into_iter().enumerate() {
        let ns = &batches.ns[ei];
        let mut line = format!("| {} | {} ", e.label(true), spread(&ns[0]));
        for bi in 1..batch::SIZES.len() {
            line += &format!(
                "| {} | {:.2} ",
                spread(&ns[bi]),
                paired(&ns[bi], &ns[0]).unwrap_or(f64::NAN)
            );
        }
        let mut last = ns[batch::SIZES.len() - 1].clone();
        let per_s = 1e9 / median(&mut last);
        let a = &batches.allocs[ei];
        line += &format!(
            "| {:.1} M | {:.2} / {:.2} / {:.2} / {:.2} |",
            per_s / 1e6,
            a[0],
            a[1],
            a[2],
            a[3]
        );
        println!("{line}");
    }

    println!("\n### Targets (issue 4), from the paired ratios above\n");
    targets(rows, times, allocs, batches);
}

fn targets(rows: &[Row], times: &Times, allocs: &Allocs, batches: &Batches) {
    let verdict = |ok: bool| if ok { "met" } else { "MISSED" };
    for (ri, row) in rows.iter().enumerate() {
        if row.name == "rsvp-local" {
            for (si, sc) in [Scenario::S1, Scenario::S2].into_iter().enumerate() {
                let against = |name: &str| {
                    find(rows, name, row).and_then(|r| paired(&times[ri][si], &times[r][si]))
                };
                if let (Some(f), Some(e)) = (against("floor"), against("embassy-noop")) {
                    println!(
                        "- rsvp-local@{} {}: {f:.2}× floor (target ≤ 1.05: {}), {e:.2}× embassy-noop (target ≤ 1.00: {})",
                        row.exec.label(true),
                        sc.name(),
                        verdict(f <= 1.05),
                        verdict(e <= 1.0)
                    );
                }
            }
        }
        if row.name == "rsvp-sync" {
            for (si, sc) in Scenario::ALL.into_iter().enumerate() {
                if times[ri][si].is_empty() {
                    continue;
                }
                let closest = rows
                    .iter()
                    .enumerate()
                    .filter(|(_, r)| {
                        !r.local
                            && r.exec == row.exec
                            && !matches!(r.name, "rsvp-sync" | "floor-sync")
                            && !r.name.starts_with("model-")
                    })
                    .filter_map(|(pi, p)| Some((p.name, paired(&times[ri][si], &times[pi][si])?)))
                    .max_by(|a, b| a.1.total_cmp(&b.1));
                if let Some((peer, x)) = closest {
                    println!(
                        "- rsvp-sync@{} {}: {x:.2}× the fastest peer there ({peer}) (target < 1.00: {})",
                        row.exec.label(false),
                        sc.name(),
                        verdict(x < 1.0)
                    );
                }
            }
        }
    }
    // The executor's own allocations (smol's run queue grows in blocks) are the floor's too:
    // what counts is what rsvp adds to them.
    let worst = rows
        .iter()
        .enumerate()
        .filter(|(_, r)| r.name.starts_with("rsvp"))
        .flat_map(|(ri, r)| {
            let floor = reference(rows, r);
            Scenario::ALL
                .into_iter()
                .enumerate()
                .filter_map(move |(si, _)| {
                    let (n, _) = allocs[ri][si]?;
                    let base = floor.and_then(|f| allocs[f][si]).map_or(0.0, |(b, _)| b);
                    Some((r, n, n - base))
                })
        })
        .max_by(|a, b| a.2.total_cmp(&b.2));
    if let Some((row, n, extra)) = worst {
        println!(
            "- allocations per round trip, every rsvp row and scenario: at most {extra:.2} beyond the floor on the same executor ({}: {n:.2}, of which the rest is the executor's) (target 0.00: {})",
            row.label(),
            verdict(extra < 0.005)
        );
    }
    for (ei, e) in batch::EXECS.into_iter().enumerate() {
        let ns = &batches.ns[ei];
        if let Some(x) = paired(&ns[batch::SIZES.len() - 1], &ns[0]) {
            println!(
                "- batch of 32 on {}: {x:.2}× a plain call per item (target ≤ 0.25: {})",
                e.label(true),
                verdict(x <= 0.25)
            );
        }
    }
    println!("- S1 instructions per round trip: see `benches/callgrind.sh` (target ≤ 1.1× the floor's on mini)");
}

/// `--smoke`: every row ran (no lost wake-up, right replies), and rsvp allocates nothing per
/// round trip beyond what its executor allocates for the floor itself.
pub(crate) fn check_smoke(rows: &[Row], allocs: &Allocs, batches: &Batches) {
    let mut failed = false;
    for (ri, row) in rows.iter().enumerate() {
        if !row.name.starts_with("rsvp") {
            continue;
        }
        let Some(reference) = reference(rows, row) else {
            continue;
        };
        for (si, sc) in Scenario::ALL.into_iter().enumerate() {
            if let (Some((n, _)), Some((floor, _))) = (allocs[ri][si], allocs[reference][si]) {
                if n > floor + 0.01 {
                    eprintln!(
                        "smoke: {} {} allocates {n:.3} per round trip, the floor {floor:.3}",
                        row.label(),
                        sc.name()
                    );
                    failed = true;
                }
            }
        }
    }
    // Batches allocate nothing per item beyond what the executor allocates for plain calls.
    for (ei, a) in batches.allocs.iter().enumerate() {
        for (bi, &n) in a.iter().enumerate().skip(1) {
            if n > a[0] + 0.01 {
                eprintln!(
                    "smoke: batch {} on {} allocates {n:.3} per item, plain calls {:.3}",
                    batch::SIZES[bi],
                    batch::EXECS[ei].label(true),
                    a[0]
                );
                failed = true;
            }
        }
    }
    assert!(!failed, "smoke: rsvp allocates per round trip");
    println!("\nsmoke: every contender answered every call; rsvp allocates nothing per round trip beyond its executor");
}
