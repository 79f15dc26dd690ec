//! The server's own counters for `/metrics`: jobs running now, runs finished and their
//! durations (a Prometheus histogram). Kept in memory since the process started, as Prometheus
//! expects of counters; the queue depth is read from the store when scraped.

use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

/// Upper bounds (seconds) of the run duration buckets.
const BUCKETS: [u64; 9] = [1, 5, 10, 30, 60, 300, 600, 1800, 3600];

#[derive(Default)]
pub struct Metrics {
    jobs_running: AtomicI64,
    runs_finished: AtomicU64,
    duration_ms_sum: AtomicU64,
    /// Cumulative counts per bucket of `BUCKETS`.
    buckets: [AtomicU64; 9],
}

impl Metrics {
    pub fn job_started(&self) {
        self.jobs_running.fetch_add(1, Ordering::Relaxed);
    }

    pub fn job_finished(&self) {
        self.jobs_running.fetch_sub(1, Ordering::Relaxed);
    }

    pub fn run_finished(&self, duration_ms: u64) {
        self.runs_finished.fetch_add(1, Ordering::Relaxed);
        self.duration_ms_sum
            .fetch_add(duration_ms, Ordering::Relaxed);
        for (bound, count) in BUCKETS.iter().zip(&self.buckets) {
            if duration_ms <= bound * 1000 {
                count.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// The Prometheus text exposition of the counters and `queue_depth`.
    pub fn render(&self, queue_depth: i64) -> String {
        let mut text = String::new();
        let _ = writeln!(
            text,
            "# HELP gantry_queue_depth Triggers waiting in the outbox."
        );
        let _ = writeln!(text, "# TYPE gantry_queue_depth gauge");
        let _ = writeln!(text, "gantry_queue_depth {queue_depth}");
        let _ = writeln!(text, "# HELP gantry_jobs_running Jobs running now.");
        let _ = writeln!(text, "# TYPE gantry_jobs_running gauge");
        let _ = writeln!(
            text,
            "gantry_jobs_running {}",
            self.jobs_running.load(Ordering::Relaxed).max(0)
        );
        let _ = writeln!(text, "# HELP gantry_run_duration_seconds How long finished runs took, from start to conclusion.");
        let _ = writeln!(text, "# TYPE gantry_run_duration_seconds histogram");
        for (bound, count) in BUCKETS.iter().zip(&self.buckets) {
            let _ = writeln!(
                text,
                "gantry_run_duration_seconds_bucket{{le=\"{bound}\"}} {}",
                count.load(Ordering::Relaxed)
            );
        }
        let finished = self.runs_finished.load(Ordering::Relaxed);
        let _ = writeln!(
            text,
            "gantry_run_duration_seconds_bucket{{le=\"+Inf\"}} {finished}"
        );
        let sum = self.duration_ms_sum.load(Ordering::Relaxed) as f64 / 1000.0;
        let _ = writeln!(text, "gantry_run_duration_seconds_sum {sum}");
        let _ = writeln!(text, "gantry_run_duration_seconds_count {finished}");
        text
    }
}

#[cfg(test)]
mod tests {
    use super::Metrics;

    #[test]
    fn histogram_is_cumulative() {
        let metrics = Metrics::default();
        metrics.run_finished(500);
        metrics.run_finished(7_000);
        metrics.job_started();
        let text = metrics.render(3);
        assert!(text.contains("gantry_queue_depth 3\n"), "{text}");
        assert!(text.contains("gantry_jobs_running 1\n"), "{text}");
        assert!(
            text.contains("gantry_run_duration_seconds_bucket{le=\"1\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("gantry_run_duration_seconds_bucket{le=\"5\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("gantry_run_duration_seconds_bucket{le=\"10\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("gantry_run_duration_seconds_bucket{le=\"+Inf\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("gantry_run_duration_seconds_sum 7.5\n"),
            "{text}"
        );
        assert!(
            text.contains("gantry_run_duration_seconds_count 2\n"),
            "{text}"
        );
    }
}
