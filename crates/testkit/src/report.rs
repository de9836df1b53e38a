//! Reading a `shutdown report` event (see [`crate::Service::report`]), so
//! every test looks phases and hooks up the same way and fails with the
//! report in its message.

use serde_json::Value;

/// A `shutdown report` log event with its `phases` field, which the log
/// carries as JSON text, decoded in place.
pub fn decode(mut event: Value) -> Value {
    let phases: Value = serde_json::from_str(
        event["phases"]
            .as_str()
            .unwrap_or_else(|| panic!("phases is not JSON text in {event}")),
    )
    .unwrap_or_else(|error| panic!("phases does not parse ({error}) in {event}"));
    event["phases"] = phases;
    event
}

/// The phase `name` of a report.
pub fn phase<'r>(report: &'r Value, name: &str) -> &'r Value {
    report["phases"]
        .as_array()
        .unwrap_or_else(|| panic!("no phases in {report}"))
        .iter()
        .find(|phase| phase["phase"] == name)
        .unwrap_or_else(|| panic!("no {name} phase in {report}"))
}

/// The hook `name` in `phase`: its outcome, counts, error.
pub fn hook<'r>(report: &'r Value, phase_name: &str, name: &str) -> &'r Value {
    hooks(report, phase_name)
        .iter()
        .find(|hook| hook["name"] == name)
        .unwrap_or_else(|| panic!("no {name} hook in {}", phase(report, phase_name)))
}

/// Every hook of `phase`, in the order they were registered.
pub fn hooks<'r>(report: &'r Value, phase_name: &str) -> &'r [Value] {
    phase(report, phase_name)["hooks"]
        .as_array()
        .map_or(&[], Vec::as_slice)
}

/// Asserts that each phase has exactly these hooks, in this order, and that
/// every one of them is `done`: what a binary registered was awaited, and
/// stopped.
pub fn assert_hooks_done(report: &Value, expected: &[(&str, &[&str])]) {
    for (phase_name, names) in expected {
        assert_eq!(hook_names(report, phase_name), *names, "{report}");
        for hook in hooks(report, phase_name) {
            assert_eq!(hook["outcome"], "done", "{phase_name}: {hook}");
        }
    }
}

/// The names of `phase`'s hooks, in the order they were registered.
pub fn hook_names(report: &Value, phase_name: &str) -> Vec<String> {
    hooks(report, phase_name)
        .iter()
        .filter_map(|hook| hook["name"].as_str().map(str::to_owned))
        .collect()
}
