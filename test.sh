#!/usr/bin/env bash
# The one test command: `./test.sh` installs what it needs and runs every check.
# CI runs exactly this (.ci/run execs it), so a green `./test.sh` here means a green CI.
#
# Steps go cheapest first so a formatting slip fails in seconds, and the host test run is
# last so the output closes on nextest's summary line. Extra arguments go to
# `cargo nextest run` (e.g. `./test.sh promise` to run only tests matching "promise").
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

export CARGO_TERM_COLOR=never
# Incremental artifacts only slow down a build that is thrown away or rebuilt once.
export CARGO_INCREMENTAL=0

# Pinned tool versions. The wheels are prebuilt binaries (about 1 s to install instead of
# minutes of `cargo install`); pin exact versions because a wheel can lag upstream.
CARGO_HACK_VERSION=0.6.45
CARGO_NEXTEST_VERSION=0.9.143

# Targets the no_std core must build for: thumbv6m (no compare-and-swap), thumbv7em (with
# CAS and an FPU), riscv32imac (a second architecture).
NO_STD_TARGETS=(thumbv6m-none-eabi thumbv7em-none-eabihf riscv32imac-unknown-none-elf)

# Kept between runs on a reused machine; a fresh machine builds it in a few seconds.
TOOLS="${XDG_CACHE_HOME:-$HOME/.cache}/rsvp-ci-tools"

T0=$SECONDS
CURRENT_STEP="start"
step() {
    CURRENT_STEP="$*"
    printf '\n=== [%ss] %s\n' "$((SECONDS - T0))" "$*"
}
# Say which step broke, since the last lines are what a reader of a CI log sees first.
report_failure() {
    local rc=$?
    if [ "$rc" -ne 0 ]; then
        printf '\n=== [%ss] FAILED in step: %s (exit %s)\n' "$((SECONDS - T0))" "$CURRENT_STEP" "$rc"
    fi
}
trap report_failure EXIT

# Install one pinned tool wheel into the tools venv unless that exact version is there.
# $1: the cargo subcommand binary name (cargo-hack), $2: its version.
ensure_wheel() {
    local bin=$1 version=$2
    # grep without -q: it must read all the input, or the writer can die of SIGPIPE and
    # pipefail would turn a match into a failure.
    if "$TOOLS/bin/$bin" "${bin#cargo-}" --version 2>/dev/null | grep -F " $version" >/dev/null; then
        return
    fi
    [ -x "$TOOLS/bin/pip" ] || python3 -m venv "$TOOLS"
    "$TOOLS/bin/pip" install --quiet --disable-pip-version-check \
        "astral-dev-toolchain-$bin==$version"
}

step "tools"
# Install only what is missing, so a warm machine does not ask the network at all.
cargo fmt --version >/dev/null 2>&1 || rustup component add rustfmt
cargo clippy --version >/dev/null 2>&1 || rustup component add clippy
installed_targets=$(rustup target list --installed)
for t in "${NO_STD_TARGETS[@]}"; do
    grep -qx "$t" <<<"$installed_targets" || rustup target add "$t"
done
# Later checks hook in here: the nightly components for miri (`rustup component add
# --toolchain nightly miri rust-src`) and the loom build with its own CARGO_TARGET_DIR,
# since RUSTFLAGS="--cfg loom" would otherwise invalidate the normal build.
ensure_wheel cargo-hack "$CARGO_HACK_VERSION"
export PATH="$TOOLS/bin:$PATH"
# The machine image ships cargo-nextest; a machine without it gets the pinned wheel.
cargo nextest --version >/dev/null 2>&1 || ensure_wheel cargo-nextest "$CARGO_NEXTEST_VERSION"
rustc --version
cargo hack --version
cargo nextest --version | sed -n 1p # sed, not head: see the SIGPIPE note above

step "fmt"
cargo fmt --all --check -- --color never

step "clippy (host, all features)"
cargo clippy --workspace --all-targets --all-features -- -D warnings

step "clippy (core, thumbv7em, no default features)"
# Catches lints in code that only exists without std/alloc.
cargo clippy -p rsvp --target thumbv7em-none-eabihf --no-default-features -- -D warnings

step "feature powerset (core)"
# Every feature combination must compile without warnings. `default` is left out because
# it is only `alloc` again. clippy rather than check so `-D warnings` reaches the core alone
# (RUSTFLAGS would change the dependencies' fingerprints and rebuild them for later steps).
# --no-dev-deps: a dev-dependency (futures-executor pulls in std) must not be able to hide
# a feature combination that is broken without it. cargo-hack does this by removing the
# [dev-dependencies] from the manifests while it runs and restoring them afterwards, so
# Cargo.lock is re-resolved; that is why this step could not use --locked (we do not track
# Cargo.lock anyway). If the run is killed hard mid-step the manifests stay edited:
# `git diff` shows it.
cargo hack --feature-powerset --exclude-features default --no-dev-deps clippy -p rsvp -- -D warnings

step "no_std builds (core)"
# Bare: everything the core offers with no allocator.
cargo build -p rsvp --no-default-features --target thumbv7em-none-eabihf
cargo build -p rsvp --no-default-features --target riscv32imac-unknown-none-elf
# thumbv6m has no compare-and-swap: atomics come from portable-atomic.
cargo build -p rsvp --no-default-features --features portable-atomic --target thumbv6m-none-eabi
# With an allocator. On thumbv6m `alloc` has no `Arc` (no atomic pointer); the core gates
# its Arc-using items on `target_has_atomic = "ptr"`, so alloc must still build there.
cargo build -p rsvp --no-default-features --features alloc --target thumbv7em-none-eabihf
cargo build -p rsvp --no-default-features --features alloc --target riscv32imac-unknown-none-elf
cargo build -p rsvp --no-default-features --features alloc,portable-atomic --target thumbv6m-none-eabi

step "embassy: rsvp-embassy bare builds, cross-target suite under QEMU, example and guide firmware"
# rsvp-embassy must build for firmware with no allocator and no embassy-time driver
# features; then the scenarios run on embassy's executor on the host and inside QEMU
# (mps2-an386 for thumbv7em, microbit for thumbv6m, virt for riscv32imac), each printing
# `cross-target suite: <target>` and `N passed, M failed`. cross/ is its own workspace
# (bare-metal linker scripts, embassy's platform picked per target), so it runs from there.
# QEMU (arm, and riscv32 from qemu-system-misc) comes from Debian, installed only when
# missing.
if ! command -v qemu-system-arm >/dev/null || ! command -v qemu-system-riscv32 >/dev/null; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get update
    $SUDO apt-get install -y --no-install-recommends qemu-system-arm qemu-system-misc
fi
cargo build -p rsvp-embassy --target thumbv6m-none-eabi
cargo build -p rsvp-embassy --target thumbv7em-none-eabihf --features alloc
cargo build -p rsvp-embassy --target riscv32imac-unknown-none-elf
(
    cd cross
    cargo fmt --all --check -- --color never
    # Linted for a bare-metal target, where most of its code lives (drivers, fault handlers).
    cargo clippy --workspace --target thumbv7em-none-eabihf --all-targets --features rsvp-cross-suite/alloc -- -D warnings
    # -p: the firmwares enable a heap and rsvp's `alloc`; the suite runs without either
    # on thumbv6m and riscv32imac, which shows nothing in it needs an allocator. On
    # thumbv7em it runs with a heap, adding the batching scenarios (the micro:bit's 16 KiB
    # of RAM cannot hold the suite and a heap).
    cargo test -p rsvp-cross-suite
    cargo test -p rsvp-cross-suite --target thumbv7em-none-eabihf --features alloc
    cargo test -p rsvp-cross-suite --target thumbv6m-none-eabi
    cargo test -p rsvp-cross-suite --target riscv32imac-unknown-none-elf
    cargo run -p rsvp-firmware-example --target thumbv7em-none-eabihf
    cargo run -p rsvp-firmware-example --target thumbv6m-none-eabi
    # The firmware guide's code (cross/README.md), built as written; on thumbv6m its
    # StaticCell needs portable-atomic's `critical-section`. Built, not run: it never ends.
    cargo build -p rsvp-firmware-guide --target thumbv6m-none-eabi
    cargo build -p rsvp-firmware-guide --target thumbv7em-none-eabihf
)
# cross/size.sh (firmware size, three fat-LTO release builds) is run by hand: it is a
# measurement, its firmwares are linted above, and it would double this step's time.

step "docs"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps --all-features
# docs.rs builds the core with nightly and `--cfg docsrs`: check that build too. Its own
# target dir, since a different toolchain and RUSTDOCFLAGS would rebuild everything.
RUSTDOCFLAGS="--cfg docsrs -D warnings" CARGO_TARGET_DIR=target/docsrs \
    cargo +nightly doc -p rsvp --no-deps --all-features

step "example: tour"
# The README's tour: the seed's four programs must run. Bounded, so that a hung
# example cannot eat CI's time limit.
timeout 300 cargo run --example tour

step "core unit tests without alloc"
# The fixed-size fallbacks (e.g. the waker set without a heap) only exist without
# `alloc`; the workspace run below has every feature on, so they are tested here.
cargo clippy -p rsvp --no-default-features --all-targets -- -D warnings
cargo test -p rsvp --no-default-features --lib

step "doctests"
# nextest does not run doctests. The core's doctests need `std`; --all-features covers it.
cargo test --workspace --all-features --doc

step "no_std build (scenarios)"
# The scenario suite also runs on firmware (no allocator, no compare-and-swap), but every
# host run builds it with std and alloc: only a bare-target build shows a no_std break.
cargo build -p rsvp-scenarios --target thumbv6m-none-eabi

# ---- reliability (issue 5): loom, miri, the chaos soak, a fuzz smoke run -----------------
# Each checks one of DESIGN.md's promises (exactly one outcome, no leaks, no deadlocks) in
# a way the host tests cannot. Each flavour builds in its own target dir: RUSTFLAGS, the
# nightly toolchain or the fuzzer's sanitizers would otherwise invalidate the normal build.
RELIABILITY_TARGET="${CARGO_TARGET_DIR:-target}"
CARGO_FUZZ_VERSION=0.13.2

step "loom: every interleaving of the cross-thread protocols (core/tests/loom.rs)"
# Under --cfg loom, StdMutex and the pool's atomics are loom's, so the models run the real
# code; 3 preemptions cover every race in them in about 10 s once built.
RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=3 CARGO_TARGET_DIR="$RELIABILITY_TARGET/loom" \
    timeout 900 cargo test -p rsvp --features std --test loom --release

step "miri: the core's unit tests under strict provenance"
installed_nightly=$(rustup component list --toolchain nightly --installed)
for component in miri rust-src; do
    grep -q "^$component" <<<"$installed_nightly" || rustup component add --toolchain nightly "$component"
done
cargo +nightly miri setup # builds miri's sysroot once per machine (~30 s)
# Three tests (two of the waker set, one of the endpoint state) are ignored under miri
# (`cfg_attr(miri, ignore)`): their premise is `Waker::will_wake` on equal wakers, which
# std documents as best-effort and miri answers false.
MIRIFLAGS="-Zmiri-strict-provenance" CARGO_TARGET_DIR="$RELIABILITY_TARGET/miri" \
    timeout 900 cargo +nightly miri test -p rsvp --all-features --lib

step "chaos soak: 50,000 calls on a 2-thread executor (rsvp-soak)"
# Exits non-zero unless every call had exactly one outcome, the stats equal what callers
# observed, and the live heap is back to its baseline. benches/README.md runs a million.
timeout 300 cargo run -p rsvp-soak -- --calls 50000

step "fuzz smoke: 10 s per target (fuzz/)"
ensure_wheel cargo-fuzz "$CARGO_FUZZ_VERSION"
CARGO_TARGET_DIR="$RELIABILITY_TARGET/fuzz" cargo +nightly fuzz build -O
for target in batch endpoint promise; do
    CARGO_TARGET_DIR="$RELIABILITY_TARGET/fuzz" \
        cargo +nightly fuzz run "$target" -O -- -max_total_time=10
done
# ---- end of reliability ----------------------------------------------------------------

step "benchmark smoke run"
# The benchmark (`benches/`, crate rsvp-bench) must keep running every contender and design
# model on every executor, and rsvp must allocate nothing per round trip beyond what the
# executor itself allocates for the hand-written floor. A debug build and few calls: the times it prints
# mean nothing here, the checks do (it exits non-zero on a lost wake-up, a wrong reply or
# an allocation). The real run is `cargo run --profile perf -p rsvp-bench` (see benches/README.md).
timeout 300 cargo run -p rsvp-bench -- --smoke --models

step "nats: nats-server and nats-py for rsvp-nats' tests (run with the host tests below)"
# rsvp-nats' tests start their own nats-server (Debian's package) on loopback ports the
# server picks, one per test binary, killed when the test ends; a nats-py client (PyPI,
# pinned) calls an rsvp responder. Installed only when missing.
NATS_PY_VERSION=2.16.0
if ! command -v nats-server >/dev/null && [ ! -x /usr/sbin/nats-server ]; then
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO=sudo
    $SUDO apt-get update
    $SUDO apt-get install -y --no-install-recommends nats-server
fi
NATS_SERVER=$(command -v nats-server || echo /usr/sbin/nats-server)
export NATS_SERVER
"$NATS_SERVER" --version
[ -x "$TOOLS/bin/pip" ] || python3 -m venv "$TOOLS"
if ! "$TOOLS/bin/pip" show nats-py 2>/dev/null | grep -x "Version: $NATS_PY_VERSION" >/dev/null; then
    "$TOOLS/bin/pip" install --quiet --disable-pip-version-check "nats-py==$NATS_PY_VERSION"
fi
export RSVP_NATS_PYTHON="$TOOLS/bin/python"

step "host tests (last: CI reads the runner's closing lines)"
# nextest fails when it finds no tests, so host tests cannot be skipped silently.
cargo nextest run --workspace --all-features --profile ci "$@"
