//! What the benches time with: wall-clock time (criterion's usual), or the
//! CPU time of the measuring thread, for runs on a shared machine where other
//! processes take the CPU away. Chosen by `ACKTRACK_BENCH_CLOCK`: `wall`
//! (default) or `thread-cpu`.
//!
//! Thread CPU time leaves out the time the thread waited for a core, not the
//! cache and memory-bandwidth interference of its neighbours: numbers taken
//! on a busy machine are still only indicative.

#![allow(unsafe_code)]

use std::time::{Duration, Instant};

/// A clock the benches can time with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Clock {
    /// `std::time::Instant`.
    Wall,
    /// `clock_gettime(CLOCK_THREAD_CPUTIME_ID)` (unix only; wall elsewhere).
    ThreadCpu,
}

impl Clock {
    /// The clock named by `ACKTRACK_BENCH_CLOCK` (`wall` or `thread-cpu`).
    pub fn from_env() -> Clock {
        match std::env::var("ACKTRACK_BENCH_CLOCK").as_deref() {
            Err(_) | Ok("" | "wall") => Clock::Wall,
            Ok("thread-cpu") => Clock::ThreadCpu,
            Ok(other) => panic!("ACKTRACK_BENCH_CLOCK={other}: expected `wall` or `thread-cpu`"),
        }
    }

    /// Starts timing.
    #[inline]
    pub fn start(self) -> Stopwatch {
        match self {
            Clock::Wall => Stopwatch::Wall(Instant::now()),
            Clock::ThreadCpu => Stopwatch::ThreadCpu(thread_cpu_time()),
        }
    }
}

/// A started measurement.
#[derive(Clone, Copy, Debug)]
pub enum Stopwatch {
    /// Started at this instant.
    Wall(Instant),
    /// Started at this much thread CPU time.
    ThreadCpu(Duration),
}

impl Stopwatch {
    /// Time since [`Clock::start`].
    #[inline]
    pub fn elapsed(&self) -> Duration {
        match self {
            Stopwatch::Wall(start) => start.elapsed(),
            Stopwatch::ThreadCpu(start) => thread_cpu_time().saturating_sub(*start),
        }
    }
}

#[cfg(unix)]
fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid, writable timespec that outlives the call;
    // clock_gettime only writes it.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

#[cfg(not(unix))]
fn thread_cpu_time() -> Duration {
    // No portable thread clock: fall back to wall time since first use.
    static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    EPOCH.get_or_init(Instant::now).elapsed()
}
