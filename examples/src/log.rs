//! Where the programs write their output.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// A program's output: every line is kept, and also printed to stdout as it is written if
/// the log was made with [`Log::printing`].
///
/// Clones share the same lines, so a server task can write to the log of the program that
/// spawned it, and the lines stay in the order they were written.
#[derive(Clone, Debug, Default)]
pub struct Log {
    lines: Arc<Mutex<Vec<String>>>,
    print: bool,
}

impl Log {
    /// A log that prints each line as it is written: the example binaries use it.
    pub fn printing() -> Self {
        Self {
            lines: Arc::default(),
            print: true,
        }
    }

    /// A log that only keeps its lines: the tests use it.
    pub fn quiet() -> Self {
        Self::default()
    }

    /// Writes one line.
    pub fn line(&self, line: impl fmt::Display) {
        let line = line.to_string();
        // Printed under the lock, so that stdout shows the lines in the order they are kept.
        let mut lines = self.locked();
        if self.print {
            println!("{line}");
        }
        lines.push(line);
    }

    /// The lines written so far.
    pub fn lines(&self) -> Vec<String> {
        self.locked().clone()
    }

    fn locked(&self) -> MutexGuard<'_, Vec<String>> {
        // A task that panicked while writing leaves whole lines behind: keep using them.
        self.lines.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
