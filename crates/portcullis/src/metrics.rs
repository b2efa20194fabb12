//! Prometheus metrics in the text exposition format.
//!
//! Each request thread counts in a shard of its own ([`Shards`]): a request writes no cache
//! line that another core's requests write too (a shared map behind a mutex and shared atomic
//! counters did, each write a cache-line move between the cores). Rendering sums the shards.
//!
//! Label values come only from fixed sets (service and operation names the router knows,
//! HTTP statuses, failure reasons), never from raw client input, so cardinality stays bounded.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::Duration;

use portcullis_core::shard::Shards;

/// Upper bounds of the latency histogram buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// The server's counters.
#[derive(Default)]
pub struct Metrics {
    counts: Shards<Counts>,
    auth_failures: Mutex<BTreeMap<&'static str, u64>>,
}

/// What one shard of [`Metrics`] counts.
#[derive(Default)]
struct Counts {
    requests: HashMap<(&'static str, &'static str, u16), u64>,
    /// Requests by the first latency bucket they fit (none past the last bound).
    buckets: [u64; BUCKETS.len()],
    latency_count: u64,
    latency_sum_micros: u64,
}

impl Counts {
    fn add(&mut self, other: &Self) {
        for (labels, n) in &other.requests {
            let total = self.requests.entry(*labels).or_insert(0);
            *total = total.wrapping_add(*n);
        }
        for (total, n) in self.buckets.iter_mut().zip(&other.buckets) {
            *total = total.wrapping_add(*n);
        }
        self.latency_count = self.latency_count.wrapping_add(other.latency_count);
        self.latency_sum_micros = self
            .latency_sum_micros
            .wrapping_add(other.latency_sum_micros);
    }
}

impl Metrics {
    /// Counts one finished request.
    pub fn record(
        &self,
        service: &'static str,
        operation: &'static str,
        status: u16,
        elapsed: Duration,
    ) {
        // One count in the first bucket the request fits; the cumulative counts Prometheus
        // expects are summed when rendered.
        let secs = elapsed.as_secs_f64();
        let bucket = BUCKETS.iter().position(|bound| secs <= *bound);
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.counts.with(|counts| {
            let n = counts
                .requests
                .entry((service, operation, status))
                .or_insert(0);
            *n = n.wrapping_add(1);
            if let Some(n) = bucket.and_then(|b| counts.buckets.get_mut(b)) {
                *n = n.wrapping_add(1);
            }
            counts.latency_count = counts.latency_count.wrapping_add(1);
            counts.latency_sum_micros = counts.latency_sum_micros.wrapping_add(micros);
        });
    }

    /// Counts one failed authentication.
    pub fn auth_failure(&self, reason: &'static str) {
        if let Ok(mut failures) = self.auth_failures.lock() {
            *failures.entry(reason).or_insert(0) += 1;
        }
    }

    /// The exposition text.
    pub fn render(&self) -> String {
        let mut counts = Counts::default();
        self.counts.each(|shard| counts.add(shard));
        let mut out = String::new();
        out.push_str("# HELP portcullis_requests_total API requests by service, operation and HTTP status.\n");
        out.push_str("# TYPE portcullis_requests_total counter\n");
        let sorted: BTreeMap<_, _> = counts.requests.iter().collect();
        for ((service, operation, status), n) in sorted {
            let _ = writeln!(
                out,
                "portcullis_requests_total{{service=\"{service}\",operation=\"{}\",status=\"{status}\"}} {n}",
                escape(operation)
            );
        }
        out.push_str("# HELP portcullis_request_duration_seconds Time from request received to response ready.\n");
        out.push_str("# TYPE portcullis_request_duration_seconds histogram\n");
        let mut cumulative = 0u64;
        for (bound, bucket) in BUCKETS.iter().zip(&counts.buckets) {
            cumulative = cumulative.saturating_add(*bucket);
            let _ = writeln!(
                out,
                "portcullis_request_duration_seconds_bucket{{le=\"{bound}\"}} {cumulative}"
            );
        }
        let count = counts.latency_count;
        let _ = writeln!(
            out,
            "portcullis_request_duration_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let sum = counts.latency_sum_micros as f64 / 1e6;
        let _ = writeln!(out, "portcullis_request_duration_seconds_sum {sum}");
        let _ = writeln!(out, "portcullis_request_duration_seconds_count {count}");
        out.push_str("# HELP portcullis_authentication_failures_total Requests refused by authentication, by reason.\n");
        out.push_str("# TYPE portcullis_authentication_failures_total counter\n");
        if let Ok(failures) = self.auth_failures.lock() {
            for (reason, n) in failures.iter() {
                let _ = writeln!(
                    out,
                    "portcullis_authentication_failures_total{{reason=\"{reason}\"}} {n}"
                );
            }
        }
        out
    }
}

fn escape(label: &str) -> String {
    label
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_and_histogram() {
        let m = Metrics::default();
        m.record("sts", "GetCallerIdentity", 200, Duration::from_micros(300));
        m.record("sts", "GetCallerIdentity", 200, Duration::from_millis(30));
        m.record("sts", "GetCallerIdentity", 200, Duration::from_secs(5));
        m.auth_failure("signature");
        let text = m.render();
        assert!(text.contains("portcullis_requests_total{service=\"sts\",operation=\"GetCallerIdentity\",status=\"200\"} 3"));
        assert!(text.contains("portcullis_request_duration_seconds_bucket{le=\"0.0005\"} 1"));
        assert!(text.contains("portcullis_request_duration_seconds_bucket{le=\"0.025\"} 1"));
        assert!(text.contains("portcullis_request_duration_seconds_bucket{le=\"0.05\"} 2"));
        assert!(text.contains("portcullis_request_duration_seconds_bucket{le=\"2.5\"} 2"));
        assert!(text.contains("portcullis_request_duration_seconds_bucket{le=\"+Inf\"} 3"));
        assert!(text.contains("portcullis_request_duration_seconds_count 3"));
        assert!(text.contains("portcullis_authentication_failures_total{reason=\"signature\"} 1"));
    }

    #[test]
    fn counts_from_every_thread_are_summed() {
        let m = Metrics::default();
        std::thread::scope(|scope| {
            for _ in 0..20 {
                scope.spawn(|| {
                    for _ in 0..50 {
                        m.record("sts", "GetCallerIdentity", 200, Duration::from_micros(300));
                    }
                });
            }
        });
        m.record("iam", "GetUser", 403, Duration::from_millis(3));
        let text = m.render();
        assert!(text.contains("portcullis_requests_total{service=\"sts\",operation=\"GetCallerIdentity\",status=\"200\"} 1000"));
        assert!(text.contains(
            "portcullis_requests_total{service=\"iam\",operation=\"GetUser\",status=\"403\"} 1"
        ));
        assert!(text.contains("portcullis_request_duration_seconds_bucket{le=\"0.0005\"} 1000"));
        assert!(text.contains("portcullis_request_duration_seconds_bucket{le=\"0.005\"} 1001"));
        assert!(text.contains("portcullis_request_duration_seconds_count 1001"));
        assert!(text.contains("portcullis_request_duration_seconds_sum 0.303"));
        // Rendering reads the counts; it does not take them.
        assert_eq!(m.render(), text);
    }
}
