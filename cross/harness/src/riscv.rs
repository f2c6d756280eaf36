//! riscv32 on QEMU's `virt` machine: the entry point's executor and a time driver on the
//! CLINT's machine timer (`mtime`, 10 MHz).
//!
//! embassy-time keeps its default 1 MHz tick rate: one tick is 10 `mtime` counts. The
//! driver programs `mtimecmp` for the earliest deadline in its queue; the machine-timer
//! interrupt wakes the expired timers and programs the next one.

use core::cell::RefCell;
use core::task::Waker;

use critical_section::Mutex;
use embassy_executor::{Executor, Spawner};
use embassy_time_driver::{Driver, TICK_HZ};
use embassy_time_queue_utils::Queue;
use riscv::interrupt::Interrupt;
use static_cell::StaticCell;

/// The CLINT of QEMU's `virt` machine (hart 0).
const MTIME: usize = 0x0200_BFF8;
const MTIMECMP: usize = 0x0200_4000;
const MTIME_HZ: u64 = 10_000_000;
const MTIME_PER_TICK: u64 = MTIME_HZ / TICK_HZ;

fn read(addr: usize) -> u32 {
    // SAFETY: `addr` is one of the CLINT's 32-bit registers on the `virt` machine, always
    // mapped and readable.
    unsafe { core::ptr::read_volatile(addr as *const u32) }
}

fn write(addr: usize, value: u32) {
    // SAFETY: as in `read`; only this module writes `mtimecmp`, inside critical sections.
    unsafe { core::ptr::write_volatile(addr as *mut u32, value) }
}

fn mtime() -> u64 {
    // The two halves are read separately: retry if the high half moved in between.
    loop {
        let hi = read(MTIME + 4);
        let lo = read(MTIME);
        if read(MTIME + 4) == hi {
            return (u64::from(hi) << 32) | u64::from(lo);
        }
    }
}

/// Raises the timer interrupt once `mtime` reaches `ticks` (never, for `u64::MAX`).
fn arm(ticks: u64) {
    let at = ticks.saturating_mul(MTIME_PER_TICK);
    // High half to the maximum first, so no intermediate value fires early.
    write(MTIMECMP + 4, u32::MAX);
    write(MTIMECMP, at as u32);
    write(MTIMECMP + 4, (at >> 32) as u32);
}

struct ClintDriver {
    queue: Mutex<RefCell<Queue>>,
}

embassy_time_driver::time_driver_impl!(static DRIVER: ClintDriver = ClintDriver {
    queue: Mutex::new(RefCell::new(Queue::new())),
});

impl Driver for ClintDriver {
    fn now(&self) -> u64 {
        mtime() / MTIME_PER_TICK
    }

    fn schedule_wake(&self, at: u64, waker: &Waker) {
        critical_section::with(|cs| {
            let mut queue = self.queue.borrow_ref_mut(cs);
            if queue.schedule_wake(at, waker) {
                arm(queue.next_expiration(self.now()));
            }
        });
    }
}

#[riscv_rt::core_interrupt(Interrupt::MachineTimer)]
fn machine_timer() {
    critical_section::with(|cs| {
        // Wakes the expired timers' tasks and finds the next deadline.
        let next = DRIVER
            .queue
            .borrow_ref_mut(cs)
            .next_expiration(DRIVER.now());
        arm(next);
    });
}

/// Starts the machine timer and runs an executor whose first task `init` spawns. Never
/// returns: the suite ends the program through semihosting.
pub fn start(init: impl FnOnce(Spawner)) -> ! {
    static EXECUTOR: StaticCell<Executor> = StaticCell::new();
    #[cfg(feature = "heap")]
    // SAFETY: `start` runs once (the `StaticCell` below panics on a second call), before
    // anything allocates, and the macro's buffer is a fresh static nothing else names.
    unsafe {
        embedded_alloc::init!(HEAP, 32 * 1024);
    }
    arm(u64::MAX);
    // SAFETY: the handler above is the only code that runs on the machine-timer interrupt
    // and it takes the same critical section as everything it touches.
    unsafe {
        riscv::register::mie::enable(Interrupt::MachineTimer);
        riscv::interrupt::enable();
    }
    EXECUTOR.init(Executor::new()).run(init)
}

#[cfg(feature = "heap")]
#[global_allocator]
static HEAP: embedded_alloc::LlffHeap = embedded_alloc::LlffHeap::empty();
