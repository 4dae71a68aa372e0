//! The scheduled run's metrics, as one CloudWatch Embedded Metric Format (EMF) line on
//! stdout: CloudWatch turns it into metrics that `template.yaml` alarms on (pending events
//! growing old, events given up on), with no API call and no extra permission.

use serde_json::{Value, json};

use super::RunSummary;

/// The metrics' namespace (the template's alarms name it too).
pub const NAMESPACE: &str = "TapdDocLinks";
/// Events still pending after the run.
pub const PENDING_EVENTS: &str = "PendingEvents";
/// Age of the oldest of them, in seconds (0 when none).
pub const OLDEST_PENDING_AGE: &str = "OldestPendingEventAgeSeconds";
/// Events the run gave up on (attempt limit reached): they need a person.
pub const GIVEN_UP_EVENTS: &str = "GivenUpEvents";
/// The one dimension: the Lambda function's name.
pub const DIMENSION: &str = "FunctionName";

/// The EMF object of one scheduled run.
pub fn scheduled_run(
    function: &str,
    now_ms: u64,
    pending: u32,
    oldest_created_ms: Option<u64>,
    run: &RunSummary,
) -> Value {
    let age_secs = oldest_created_ms.map_or(0, |c| now_ms.saturating_sub(c) / 1000);
    json!({
        "_aws": {
            "Timestamp": now_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [[DIMENSION]],
                "Metrics": [
                    { "Name": PENDING_EVENTS, "Unit": "Count" },
                    { "Name": OLDEST_PENDING_AGE, "Unit": "Seconds" },
                    { "Name": GIVEN_UP_EVENTS, "Unit": "Count" },
                ],
            }],
        },
        DIMENSION: function,
        PENDING_EVENTS: pending,
        OLDEST_PENDING_AGE: age_secs,
        GIVEN_UP_EVENTS: run.given_up,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_declares_every_value_it_carries() {
        let run = RunSummary { given_up: 2, ..Default::default() };
        let v = scheduled_run("fn", 10_000_000, 3, Some(4_000_000), &run);
        let declared = &v["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(declared["Namespace"], NAMESPACE);
        for m in declared["Metrics"].as_array().unwrap() {
            assert!(v[m["Name"].as_str().unwrap()].is_number(), "{m}");
        }
        assert_eq!(v[OLDEST_PENDING_AGE], 6000);
        assert_eq!(v[DIMENSION], "fn");
        assert_eq!(scheduled_run("fn", 5, 0, None, &RunSummary::default())[OLDEST_PENDING_AGE], 0);
    }
}
