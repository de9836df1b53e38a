//! The shutdown, as metrics: each phase's duration and outcome, and the
//! counts its hooks report (requests drained, jobs released, connections
//! forced…). Recorded as each phase ends, so that everything before the
//! flush phase is in the final export.

use opentelemetry::KeyValue;
use shutdown::{Outcome, Shutdown};

pub fn record(shutdown: &mut Shutdown) {
    let meter = telemetry::meter("shutdown");
    let duration = meter
        .f64_histogram("shutdown.phase.duration")
        .with_unit("s")
        .with_description("Time spent in each shutdown phase")
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
