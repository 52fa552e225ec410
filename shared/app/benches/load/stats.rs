//! Latencies and errors per worker, merged into one report.

use std::time::Duration;

#[derive(Default)]
pub struct Worker {
    /// Microseconds of each successful request.
    latencies: Vec<u32>,
    errors: u64,
    first_error: Option<String>,
}

impl Worker {
    pub fn record(&mut self, took: Duration, outcome: Result<(), String>) {
        match outcome {
            Ok(()) => self
                .latencies
                .push(u32::try_from(took.as_micros()).unwrap_or(u32::MAX)),
            Err(e) => {
                self.errors += 1;
                self.first_error.get_or_insert(e);
            }
        }
    }
}

pub struct Report {
    latencies: Vec<u32>,
    errors: u64,
    elapsed: Duration,
    pub first_error: Option<String>,
}

impl Report {
    pub fn new(workers: Vec<Worker>, elapsed: Duration) -> Report {
        let mut latencies = Vec::new();
        let mut errors = 0;
        let mut first_error = None;
        for w in workers {
            latencies.extend(w.latencies);
            errors += w.errors;
            first_error = first_error.or(w.first_error);
        }
        latencies.sort_unstable();
        Report {
            latencies,
            errors,
            elapsed,
            first_error,
        }
    }

    fn percentile(&self, p: f64) -> f64 {
        if self.latencies.is_empty() {
            return 0.0;
        }
        let rank = ((p / 100.0) * self.latencies.len() as f64).ceil() as usize;
        f64::from(self.latencies[rank.clamp(1, self.latencies.len()) - 1]) / 1000.0
    }

    pub fn print(&self) {
        let ok = self.latencies.len();
        println!(
            "requests: {ok} ok, {} errors in {:.2} s = {:.0} ok/s",
            self.errors,
            self.elapsed.as_secs_f64(),
            ok as f64 / self.elapsed.as_secs_f64()
        );
        println!(
            "latency ms: p50 {:.2}  p90 {:.2}  p99 {:.2}  p99.9 {:.2}  max {:.2}",
            self.percentile(50.0),
            self.percentile(90.0),
            self.percentile(99.0),
            self.percentile(99.9),
            self.percentile(100.0)
        );
    }
}
