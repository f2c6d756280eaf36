//! rsvp's scenario suite (`rsvp-scenarios`) on rsvp-embassy, on the host: both embassy lock
//! flavours with [`EmbassyTimer`], driven by `futures_executor` over embassy-time's std
//! driver and generic timer queue. One test per scenario and flavour. The same scenarios
//! run on embassy's own executor, on the host and under QEMU, in `cross/`.

use embassy_sync::blocking_mutex::raw::{CriticalSectionRawMutex, NoopRawMutex};
use rsvp_embassy::{EmbassyMutex, EmbassyTimer};
use rsvp_scenarios::Harness;

/// Interrupt-safe endpoints (`CriticalSectionRawMutex`, the aliases' default).
struct CriticalSection;

impl Harness for CriticalSection {
    const NAME: &'static str = "embassy-time std driver, CriticalSectionRawMutex";
    type Mutex = EmbassyMutex<CriticalSectionRawMutex>;
    type Clock = EmbassyTimer;
    fn clock(&self) -> EmbassyTimer {
        EmbassyTimer
    }
}

/// Single-executor endpoints (`NoopRawMutex`).
struct Noop;

impl Harness for Noop {
    const NAME: &'static str = "embassy-time std driver, NoopRawMutex";
    type Mutex = EmbassyMutex<NoopRawMutex>;
    type Clock = EmbassyTimer;
    fn clock(&self) -> EmbassyTimer {
        EmbassyTimer
    }
}

mod critical_section_lock {
    rsvp_scenarios::scenario_tests!(futures_executor::block_on, super::CriticalSection);
}

mod noop_lock {
    rsvp_scenarios::scenario_tests!(futures_executor::block_on, super::Noop);
}
