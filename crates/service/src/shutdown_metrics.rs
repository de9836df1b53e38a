//! The shutdown, as metrics: each phase's duration and outcome, and the
//! counts its hooks report (requests drained, jobs released, connections
//! forced…). Recorded as each phase ends, so that everything before the
//! flush phase is in the final export.

use opentelemetry::KeyValue;
use shutdown::{Outcome, Shutdown};

/// Seconds, from a phase with nothing to do to a grace period's worth. The
/// SDK's default bounds (0 to 10 000) are meant for milliseconds.
const PHASE_DURATION_BOUNDS: [f64; 14] = [
    0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0,
];

pub fn record(shutdown: &mut Shutdown) {
    let meter = telemetry::meter("shutdown");
    let duration = meter
        .f64_histogram("shutdown.phase.duration")
        .with_unit("s")
        .with_description("Time spent in each shutdown phase")
        .with_boundaries(PHASE_DURATION_BOUNDS.to_vec())
        .build();
    let overruns = meter
        .u64_counter("shutdown.phase.overruns")
        .with_description("Phases whose hooks were abandoned at their budget")
        .build();
    let work = meter
        .u64_counter("shutdown.work")
        .with_description(
            "What shutdown hooks counted: in flight at the signal, drained, released, forced",
        )
        .build();
    shutdown.on_phase_end(move |phase| {
        let name = KeyValue::new("phase", phase.phase.as_str());
        let outcome = KeyValue::new("outcome", phase.outcome.as_str());
        duration.record(phase.elapsed_ms as f64 / 1000.0, &[name.clone(), outcome]);
        if phase.outcome == Outcome::TimedOut {
            overruns.add(1, std::slice::from_ref(&name));
        }
        for hook in &phase.hooks {
            for (kind, count) in &hook.counts {
                work.add(
                    *count,
                    &[
                        name.clone(),
                        KeyValue::new("hook", hook.name.clone()),
                        KeyValue::new("kind", kind.clone()),
                    ],
                );
            }
        }
    });
}
