//! The cross-target harness: runs one suite of async tests on an embassy executor, on the
//! host and under QEMU, and reports like a test runner.
//!
//! A suite is a `harness = false` test file that ends with [`suite!`]. Each test is an
//! `async fn name(spawner: Spawner)`; it may spawn tasks of its own. The suite prints
//! `cross-target suite: <target>`, one `test name ... ok` line per test, and closes with
//! `N passed, M failed`; the process (QEMU through semihosting) exits non-zero if any test
//! failed.
//!
//! There is no unwinding on bare metal, so a failed assertion ends the run at once (the
//! host does the same, so both report alike). A test that does not finish within
//! [`TEST_TIMEOUT`] counts as failed and the run goes on.
#![no_std]

#[cfg(not(target_os = "none"))]
extern crate std;

use core::cell::Cell;
use core::fmt;
use core::future::Future;

use critical_section::Mutex;
pub use embassy_executor::Spawner;
use embassy_time::{with_timeout, Duration};

#[cfg(all(target_arch = "arm", target_os = "none"))]
mod arm;
#[cfg(all(target_arch = "arm", target_os = "none"))]
pub use crate::arm::start;

#[cfg(all(target_arch = "riscv32", target_os = "none"))]
mod riscv;
#[cfg(all(target_arch = "riscv32", target_os = "none"))]
pub use crate::riscv::start;

#[cfg(not(target_os = "none"))]
mod host;
#[cfg(not(target_os = "none"))]
pub use crate::host::start;

/// How long one test may take, by the target's clock, before it counts as failed.
pub const TEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The target this suite was built for.
pub const TARGET: &str = env!("RSVP_CROSS_TARGET");

/// The entry point attribute of the target's runtime (cortex-m-rt's or riscv-rt's), for
/// firmware that calls [`start`] itself.
#[cfg(all(target_arch = "arm", target_os = "none"))]
pub use cortex_m_rt::entry;
#[cfg(all(target_arch = "riscv32", target_os = "none"))]
pub use riscv_rt::entry;

#[derive(Clone, Copy)]
struct Progress {
    passed: u32,
    failed: u32,
    current: &'static str,
}

// Read by the panic handler, which has nothing else to go on.
static PROGRESS: Mutex<Cell<Progress>> = Mutex::new(Cell::new(Progress {
    passed: 0,
    failed: 0,
    current: "",
}));

fn update(f: impl FnOnce(&mut Progress)) -> Progress {
    critical_section::with(|cs| {
        let cell = PROGRESS.borrow(cs);
        let mut p = cell.get();
        f(&mut p);
        cell.set(p);
        p
    })
}

/// Prints one line: to the host's stdout, or through semihosting to QEMU's.
pub fn println(args: fmt::Arguments<'_>) {
    #[cfg(all(target_arch = "arm", target_os = "none", feature = "report"))]
    cortex_m_semihosting::hprintln!("{}", args);
    #[cfg(all(target_arch = "riscv32", target_os = "none", feature = "report"))]
    semihosting::println!("{}", args);
    #[cfg(all(target_os = "none", not(feature = "report")))]
    let _ = args;
    #[cfg(not(target_os = "none"))]
    std::println!("{args}");
}

/// Prints one line with `format!` syntax; see [`println`](fn@println).
#[macro_export]
macro_rules! println {
    ($($arg:tt)*) => { $crate::println(format_args!($($arg)*)) };
}

#[doc(hidden)]
pub fn begin() {
    println(format_args!("cross-target suite: {TARGET}"));
}

#[doc(hidden)]
pub async fn run_test(name: &'static str, test: impl Future<Output = ()>) {
    update(|p| p.current = name);
    match with_timeout(TEST_TIMEOUT, test).await {
        Ok(()) => {
            update(|p| p.passed += 1);
            println(format_args!("test {name} ... ok"));
        }
        Err(_) => {
            update(|p| p.failed += 1);
            println(format_args!(
                "test {name} ... FAILED: did not finish within {TEST_TIMEOUT}"
            ));
        }
    }
}

/// Counts and prints the outcome of one check that runs inside a test, such as one
/// scenario of a shared suite; a failure is reported and the run goes on. Returns whether
/// it passed.
pub fn report<E: fmt::Display>(name: impl fmt::Display, outcome: Result<(), E>) -> bool {
    match outcome {
        Ok(()) => {
            update(|p| p.passed += 1);
            println(format_args!("test {name} ... ok"));
            true
        }
        Err(error) => {
            update(|p| p.failed += 1);
            println(format_args!("test {name} ... FAILED: {error}"));
            false
        }
    }
}

#[doc(hidden)]
pub fn finish() -> ! {
    // An overflow would corrupt statics silently: fail unless the deepest the stack went
    // (plus an interrupt frame) left a margin.
    #[cfg(all(target_arch = "arm", target_os = "none"))]
    {
        const MIN_HEADROOM: usize = 512;
        let headroom = arm::stack_headroom();
        let outcome = if headroom >= MIN_HEADROOM {
            Ok(())
        } else {
            Err(format_args!("under {MIN_HEADROOM} bytes"))
        };
        report(
            format_args!("stack headroom: {headroom} bytes never used"),
            outcome,
        );
    }
    let p = update(|_| {});
    println(format_args!("{} passed, {} failed", p.passed, p.failed));
    exit(p.failed == 0)
}

/// Reports the running test as failed and ends the run (from the panic handler).
#[cfg_attr(
    all(target_os = "none", not(feature = "report")),
    allow(dead_code, reason = "only the reporting panic handler uses it")
)]
fn fail_current(message: fmt::Arguments<'_>) -> ! {
    let p = update(|p| p.failed += 1);
    println(format_args!("test {} ... FAILED: {message}", p.current));
    println(format_args!("{} passed, {} failed", p.passed, p.failed));
    exit(false)
}

/// Ends the program: semihosting's exit under QEMU (status 0 or 1), the process's on the
/// host.
pub fn exit(success: bool) -> ! {
    #[cfg(all(target_arch = "arm", target_os = "none"))]
    {
        use cortex_m_semihosting::debug;
        debug::exit(if success {
            debug::EXIT_SUCCESS
        } else {
            debug::EXIT_FAILURE
        });
        // QEMU ends at the semihosting call; real hardware without a debugger stops here.
        cortex_m::asm::udf()
    }
    #[cfg(all(target_arch = "riscv32", target_os = "none"))]
    {
        semihosting::process::exit(if success { 0 } else { 1 })
    }
    #[cfg(not(target_os = "none"))]
    std::process::exit(if success { 0 } else { 1 })
}

#[cfg(all(target_os = "none", feature = "report"))]
#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    fail_current(format_args!("{info}"))
}

#[cfg(all(target_os = "none", not(feature = "report")))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    exit(false)
}

/// Declares the suite: the tests to run, in order, and the program's entry point.
///
/// ```ignore
/// rsvp_cross::suite!(replies_arrive, timeouts_fire, #[cfg(feature = "x")] only_with_x);
/// ```
#[macro_export]
macro_rules! suite {
    ($($(#[$attr:meta])* $test:ident),* $(,)?) => {
        #[embassy_executor::task]
        async fn __rsvp_cross_suite(spawner: $crate::Spawner) {
            $crate::begin();
            $( $(#[$attr])* $crate::run_test(stringify!($test), $test(spawner)).await; )*
            $crate::finish()
        }

        #[cfg(target_os = "none")]
        #[$crate::entry]
        fn main() -> ! {
            $crate::start(|spawner| spawner.spawn(__rsvp_cross_suite(spawner).unwrap()))
        }

        #[cfg(not(target_os = "none"))]
        fn main() {
            $crate::start(|spawner| spawner.spawn(__rsvp_cross_suite(spawner).unwrap()))
        }
    };
}
