//! Time as the flow sees it. Production uses [`SystemClock`]; tests use a clock whose `sleep`
//! returns at once and moves virtual time forward, so a 15-minute expiry is tested in milliseconds.

use std::future::Future;
use std::time::{Duration, Instant};

pub trait Clock {
    fn now(&self) -> Instant;
    fn sleep(&self, d: Duration) -> impl Future<Output = ()>;
}

#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
    fn sleep(&self, d: Duration) -> impl Future<Output = ()> {
        tokio::time::sleep(d)
    }
}

/// A virtual clock: `sleep` advances `now` instantly and records each wait.
#[derive(Debug)]
pub struct ManualClock {
    start: Instant,
    state: std::sync::Mutex<(Duration, Vec<Duration>)>,
}

impl Default for ManualClock {
    fn default() -> Self {
        ManualClock {
            start: Instant::now(),
            state: std::sync::Mutex::new((Duration::ZERO, Vec::new())),
        }
    }
}

impl ManualClock {
    pub fn advance(&self, d: Duration) {
        self.state.lock().unwrap().0 += d;
    }
    /// Every wait the flow asked for, in order.
    pub fn sleeps(&self) -> Vec<Duration> {
        self.state.lock().unwrap().1.clone()
    }
    pub fn elapsed(&self) -> Duration {
        self.state.lock().unwrap().0
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        self.start + self.state.lock().unwrap().0
    }
    fn sleep(&self, d: Duration) -> impl Future<Output = ()> {
        let mut s = self.state.lock().unwrap();
        s.0 += d;
        s.1.push(d);
        std::future::ready(())
    }
}
