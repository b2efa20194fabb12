//! Prometheus metrics in the text exposition format, kept with atomics and one small map.
//!
//! Label values come only from fixed sets (service and operation names the router knows,
//! HTTP statuses, failure reasons), never from raw client input, so cardinality stays bounded.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the latency histogram buckets, in seconds.
const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// The server's counters.
#[derive(Default)]
pub struct Metrics {
    requests: Mutex<HashMap<(&'static str, &'static str, u16), u64>>,
    buckets: [AtomicU64; BUCKETS.len()],
    latency_count: AtomicU64,
    latency_sum_micros: AtomicU64,
    auth_failures: Mutex<BTreeMap<&'static str, u64>>,
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
        if let Ok(mut requests) = self.requests.lock() {
            *requests.entry((service, operation, status)).or_insert(0) += 1;
        }
        // One count in the first bucket the request fits (none past the last bound); the
        // cumulative counts Prometheus expects are summed when rendered, so a request touches
        // one shared counter rather than every bucket above its latency.
        let secs = elapsed.as_secs_f64();
        if let Some((_, bucket)) = BUCKETS
            .iter()
            .zip(&self.buckets)
            .find(|(bound, _)| secs <= **bound)
        {
            bucket.fetch_add(1, Ordering::Relaxed);
        }
        self.latency_count.fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.latency_sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// Counts one failed authentication.
    pub fn auth_failure(&self, reason: &'static str) {
        if let Ok(mut failures) = self.auth_failures.lock() {
            *failures.entry(reason).or_insert(0) += 1;
        }
    }

    /// The exposition text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("# HELP portcullis_requests_total API requests by service, operation and HTTP status.\n");
        out.push_str("# TYPE portcullis_requests_total counter\n");
        if let Ok(requests) = self.requests.lock() {
            let sorted: BTreeMap<_, _> = requests.iter().collect();
            for ((service, operation, status), n) in sorted {
                let _ = writeln!(
                    out,
                    "portcullis_requests_total{{service=\"{service}\",operation=\"{}\",status=\"{status}\"}} {n}",
                    escape(operation)
                );
            }
        }
        out.push_str("# HELP portcullis_request_duration_seconds Time from request received to response ready.\n");
        out.push_str("# TYPE portcullis_request_duration_seconds histogram\n");
        let mut cumulative = 0u64;
        for (bound, bucket) in BUCKETS.iter().zip(&self.buckets) {
            cumulative = cumulative.saturating_add(bucket.load(Ordering::Relaxed));
            let _ = writeln!(
                out,
                "portcullis_request_duration_seconds_bucket{{le=\"{bound}\"}} {cumulative}"
            );
        }
        let count = self.latency_count.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "portcullis_request_duration_seconds_bucket{{le=\"+Inf\"}} {count}"
        );
        let sum = self.latency_sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
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
}
