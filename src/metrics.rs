//! Prometheus metrics: one process-wide recorder (`metrics` facade +
//! `metrics-exporter-prometheus`), installed once by [`install`] and
//! rendered at `GET /metrics`.
//!
//! The metric names of API.md are constants in [`names`]; the small
//! `record_*` functions keep label names consistent across the daemon.
//! Because a `metrics` recorder is global per process, [`install`] is
//! idempotent: every app built in one test process shares one handle.

use std::sync::OnceLock;
use std::time::Duration;

use metrics::{
    Unit, counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram,
};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// The Prometheus recorder could not be installed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("cannot install the Prometheus metrics recorder: {0}")]
pub struct MetricsError(String);

/// Metric names exported at `/metrics` (API.md, Operations).
pub mod names {
    /// Counter, label `source` (`api`, `sdk`, `produced`, …): events accepted by ingest.
    pub const EVENTS_INGESTED_TOTAL: &str = "triggerd_events_ingested_total";
    /// Counter, label `outcome` (SPEC outcome code): decisions and final outcomes.
    pub const OUTCOMES_TOTAL: &str = "triggerd_outcomes_total";
    /// Counter: sends planned.
    pub const SENDS_SCHEDULED_TOTAL: &str = "triggerd_sends_scheduled_total";
    /// Gauge: sends planned and not yet finished.
    pub const PENDING_SENDS: &str = "triggerd_pending_sends";
    /// Histogram (seconds): dispatch start minus due instant.
    pub const FIRE_LATENESS_SECONDS: &str = "triggerd_fire_lateness_seconds";
    /// Histogram (seconds), label `channel`: time spent handing a message to its provider.
    pub const DISPATCH_SECONDS: &str = "triggerd_dispatch_seconds";
    /// Counter, labels `route` (route template) and `status`: HTTP answers.
    pub const HTTP_REQUESTS_TOTAL: &str = "triggerd_http_requests_total";
    /// Histogram (seconds): how long a write waited for the group-committed
    /// flush that made it durable (the floor of every acknowledgement, R-K1).
    pub const COMMIT_WAIT_SECONDS: &str = "triggerd_commit_wait_seconds";
}

/// Buckets of `triggerd_fire_lateness_seconds`: from a millisecond (a timer
/// firing on time) to an hour (recovery after a long outage).
pub const FIRE_LATENESS_BUCKETS: [f64; 14] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0, 60.0, 300.0, 3600.0,
];

/// Buckets of `triggerd_commit_wait_seconds`: from a fast fsync to a
/// storage stall.
pub const COMMIT_WAIT_BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

/// Buckets of `triggerd_dispatch_seconds`: provider round trips.
pub const DISPATCH_BUCKETS: [f64; 12] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

static HANDLE: OnceLock<Result<PrometheusHandle, MetricsError>> = OnceLock::new();

/// Installs the global Prometheus recorder on first call (later calls return
/// the same handle), describes every metric and registers the unlabeled
/// ones at zero so `/metrics` lists them from the start.
pub fn install() -> Result<PrometheusHandle, MetricsError> {
    HANDLE.get_or_init(build_and_install).clone()
}

fn build_and_install() -> Result<PrometheusHandle, MetricsError> {
    let handle = PrometheusBuilder::new()
        .set_buckets_for_metric(
            Matcher::Full(names::FIRE_LATENESS_SECONDS.to_string()),
            &FIRE_LATENESS_BUCKETS,
        )
        .and_then(|b| {
            b.set_buckets_for_metric(
                Matcher::Full(names::DISPATCH_SECONDS.to_string()),
                &DISPATCH_BUCKETS,
            )
        })
        .and_then(|b| {
            b.set_buckets_for_metric(
                Matcher::Full(names::COMMIT_WAIT_SECONDS.to_string()),
                &COMMIT_WAIT_BUCKETS,
            )
        })
        .map_err(|e| MetricsError(e.to_string()))?
        .install_recorder()
        .map_err(|e| MetricsError(e.to_string()))?;
    describe();
    counter!(names::SENDS_SCHEDULED_TOTAL).increment(0);
    gauge!(names::PENDING_SENDS).set(0.0);
    Ok(handle)
}

fn describe() {
    describe_counter!(
        names::EVENTS_INGESTED_TOTAL,
        "Events accepted by ingest, by source"
    );
    describe_counter!(
        names::OUTCOMES_TOTAL,
        "Trigger decisions and final send outcomes, by outcome code"
    );
    describe_counter!(names::SENDS_SCHEDULED_TOTAL, "Sends planned");
    describe_gauge!(names::PENDING_SENDS, "Sends planned and not yet finished");
    describe_histogram!(
        names::FIRE_LATENESS_SECONDS,
        Unit::Seconds,
        "Dispatch start minus due instant"
    );
    describe_histogram!(
        names::DISPATCH_SECONDS,
        Unit::Seconds,
        "Time to hand a message to its provider, by channel"
    );
    describe_counter!(
        names::HTTP_REQUESTS_TOTAL,
        "HTTP answers, by route template and status"
    );
    describe_histogram!(
        names::COMMIT_WAIT_SECONDS,
        Unit::Seconds,
        "Time a write waited for the flush that made it durable"
    );
}

/// Records how long a write waited for its flush.
pub fn record_commit_wait(seconds: f64) {
    histogram!(names::COMMIT_WAIT_SECONDS).record(seconds);
}

/// Renders the Prometheus text format.
pub fn render(handle: &PrometheusHandle) -> String {
    handle.render()
}

/// Spawns a task that drains histogram samples every `every`, so memory
/// stays bounded between scrapes. Needs a Tokio runtime.
pub fn spawn_upkeep(handle: PrometheusHandle, every: Duration) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            handle.run_upkeep();
        }
    })
}

/// Counts one ingested event from `source`.
pub fn record_event_ingested(source: &str) {
    counter!(names::EVENTS_INGESTED_TOTAL, "source" => source.to_string()).increment(1);
}

/// Counts one outcome (a SPEC outcome code such as `sent`).
pub fn record_outcome(outcome: &str) {
    counter!(names::OUTCOMES_TOTAL, "outcome" => outcome.to_string()).increment(1);
}

/// Counts `n` planned sends.
pub fn record_sends_scheduled(n: u64) {
    counter!(names::SENDS_SCHEDULED_TOTAL).increment(n);
}

/// Sets the number of pending sends.
pub fn set_pending_sends(n: u64) {
    // A gauge is an f64; counts up to 2^53 are exact.
    gauge!(names::PENDING_SENDS).set(n as f64);
}

/// Records how late a send started dispatching (negative values count as 0).
pub fn record_fire_lateness(late: chrono::Duration) {
    let seconds = late.num_milliseconds().max(0) as f64 / 1000.0;
    histogram!(names::FIRE_LATENESS_SECONDS).record(seconds);
}

/// Records how long a dispatch on `channel` took.
pub fn record_dispatch(channel: &str, took: Duration) {
    histogram!(names::DISPATCH_SECONDS, "channel" => channel.to_string())
        .record(took.as_secs_f64());
}

/// Counts one HTTP answer for a route template (`/campaigns/{id}`).
pub fn record_http_request(route: &str, status: u16) {
    counter!(
        names::HTTP_REQUESTS_TOTAL,
        "route" => route.to_string(),
        "status" => status.to_string()
    )
    .increment(1);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn install_is_idempotent_and_lists_every_metric_of_api_md() {
        let first = install().expect("installs");
        let second = install().expect("second call returns the same handle");
        record_event_ingested("api");
        record_outcome("sent");
        record_fire_lateness(chrono::Duration::milliseconds(30));
        record_dispatch("email", Duration::from_millis(12));
        record_http_request("/campaigns/{id}", 200);
        set_pending_sends(3);
        let text = render(&second);
        let sorted = |text: &str| {
            let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
            lines.sort();
            lines
        };
        assert_eq!(
            sorted(&text),
            sorted(&render(&first)),
            "one shared recorder"
        );
        for line in [
            "triggerd_events_ingested_total{source=\"api\"}",
            "triggerd_outcomes_total{outcome=\"sent\"}",
            "triggerd_sends_scheduled_total",
            "triggerd_pending_sends 3",
            "triggerd_fire_lateness_seconds_bucket{le=\"0.05\"}",
            "triggerd_dispatch_seconds_bucket{channel=\"email\",le=\"0.025\"}",
            "triggerd_http_requests_total{route=\"/campaigns/{id}\",status=\"200\"}",
            "# HELP triggerd_pending_sends",
        ] {
            assert!(text.contains(line), "missing {line:?} in\n{text}");
        }
    }
}
