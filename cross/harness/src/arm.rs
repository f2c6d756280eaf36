//! Cortex-M: the entry point's executor, a SysTick time driver, and the fault handlers.
//!
//! The time driver ticks at 1 kHz and keeps embassy-time's default 1 MHz tick rate, so no
//! `tick-hz-*` feature is forced on anyone: `now()` advances 1000 ticks per interrupt.
//! Tests assert on `embassy_time::Instant`, never on wall-clock time (QEMU's micro:bit
//! delivers ticks late).

use core::cell::{Cell, RefCell};
use core::task::Waker;

use cortex_m::peripheral::syst::SystClkSource;
use cortex_m_rt::exception;
use critical_section::Mutex;
use embassy_executor::{Executor, Spawner};
use embassy_time_driver::{Driver, TICK_HZ};
use embassy_time_queue_utils::Queue;

/// The SysTick input clock of the QEMU machine the target runs on: the micro:bit's
/// (thumbv6m).
#[cfg(rsvp_cross_microbit)]
const CORE_HZ: u32 = 16_000_000;
/// mps2-an386 (thumbv7em).
#[cfg(not(rsvp_cross_microbit))]
const CORE_HZ: u32 = 25_000_000;
const INTERRUPT_HZ: u32 = 1_000;
const TICKS_PER_INTERRUPT: u64 = TICK_HZ / INTERRUPT_HZ as u64;

struct SysTickDriver {
    now: Mutex<Cell<u64>>,
    /// The earliest deadline in `queue`; `u64::MAX` when it is empty.
    next: Mutex<Cell<u64>>,
    queue: Mutex<RefCell<Queue>>,
}

embassy_time_driver::time_driver_impl!(static DRIVER: SysTickDriver = SysTickDriver {
    now: Mutex::new(Cell::new(0)),
    next: Mutex::new(Cell::new(u64::MAX)),
    queue: Mutex::new(RefCell::new(Queue::new())),
});

impl Driver for SysTickDriver {
    fn now(&self) -> u64 {
        critical_section::with(|cs| self.now.borrow(cs).get())
    }

    fn schedule_wake(&self, at: u64, waker: &Waker) {
        critical_section::with(|cs| {
            let mut queue = self.queue.borrow_ref_mut(cs);
            if queue.schedule_wake(at, waker) {
                let now = self.now.borrow(cs).get();
                self.next.borrow(cs).set(queue.next_expiration(now));
            }
        });
    }
}

#[exception]
fn SysTick() {
    critical_section::with(|cs| {
        let now = DRIVER.now.borrow(cs).get() + TICKS_PER_INTERRUPT;
        DRIVER.now.borrow(cs).set(now);
        if now >= DRIVER.next.borrow(cs).get() {
            // Wakes the expired timers' tasks and finds the next deadline.
            let next = DRIVER.queue.borrow_ref_mut(cs).next_expiration(now);
            DRIVER.next.borrow(cs).set(next);
        }
    });
}

#[cfg(feature = "heap")]
#[global_allocator]
static HEAP: embedded_alloc::LlffHeap = embedded_alloc::LlffHeap::empty();

/// The micro:bit has 16 KiB of RAM in all.
#[cfg(all(feature = "heap", rsvp_cross_microbit))]
const HEAP_SIZE: usize = 4 * 1024;
#[cfg(all(feature = "heap", not(rsvp_cross_microbit)))]
const HEAP_SIZE: usize = 32 * 1024;

/// Starts SysTick and runs an executor whose first task `init` spawns. Never returns: the
/// suite ends the program through semihosting.
pub fn start(init: impl FnOnce(Spawner)) -> ! {
    paint_stack();
    #[cfg(feature = "heap")]
    // SAFETY: `start` runs once (the `take` below would panic on a second call, but only
    // after this line, so the heap is also guarded by `init`'s own check), before anything
    // allocates, and the macro's buffer is a fresh static that nothing else can name.
    unsafe {
        embedded_alloc::init!(HEAP, HEAP_SIZE);
    }
    let mut core = cortex_m::Peripherals::take().expect("start is called once");
    core.SYST.set_clock_source(SystClkSource::Core);
    core.SYST.set_reload(CORE_HZ / INTERRUPT_HZ - 1);
    core.SYST.clear_current();
    core.SYST.enable_counter();
    core.SYST.enable_interrupt();
    let executor =
        cortex_m::singleton!(: Executor = Executor::new()).expect("start is called once");
    executor.run(init)
}

/// What the unused stack is filled with, so that the end of the run can tell how deep the
/// stack ever grew: nothing guards it from growing into the statics below it (the
/// micro:bit has 16 KiB of RAM in all), and an overflow shows up as a corrupted task much
/// later, only when an interrupt lands at the deepest point.
const STACK_PAINT: u32 = 0x5AC5_5AC5;

extern "C" {
    /// The lowest address of the stack (cortex-m-rt's linker script), just above the
    /// statics.
    static mut _stack_end: u32;
}

fn stack_bottom() -> *mut u32 {
    // Only the symbol's address is taken; no reference to it is made.
    &raw mut _stack_end
}

/// Fills the stack between its bottom and a little below the current frame.
fn paint_stack() {
    // Room for this function's own frame, below the stack pointer read here.
    const MARGIN: usize = 64;
    let below_frame = cortex_m::register::msp::read() as usize - MARGIN;
    let mut word = stack_bottom();
    while (word as usize) < below_frame {
        // SAFETY: the words between the stack's bottom and below the current frame belong
        // to the stack and hold nothing yet (nothing has run deeper than `start`'s caller).
        unsafe {
            word.write_volatile(STACK_PAINT);
            word = word.add(1);
        }
    }
}

/// How many bytes at the bottom of the stack were never written since `start`.
pub(crate) fn stack_headroom() -> usize {
    let mut word = stack_bottom();
    let top = cortex_m::register::msp::read() as usize;
    // SAFETY: every word read lies between the stack's bottom and the current stack
    // pointer, inside RAM; volatile, since the compiler cannot know the stack grew there.
    while (word as usize) < top && unsafe { word.read_volatile() } == STACK_PAINT {
        // SAFETY: as above, `word` stays below the stack pointer.
        word = unsafe { word.add(1) };
    }
    word as usize - stack_bottom() as usize
}

#[cfg(feature = "report")]
#[exception]
unsafe fn HardFault(frame: &cortex_m_rt::ExceptionFrame) -> ! {
    crate::fail_current(format_args!("hard fault at pc {:#010x}", frame.pc()))
}
