//! The report as a person reads it at a terminal: one line per phase, then
//! one line for the whole. The JSON event stays what log pipelines parse;
//! this is for `LOG_FORMAT=pretty`, where a 1 500-character line of JSON
//! tells nobody at a glance where the time went.

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::report::{Outcome, Overall, Report};

impl Report {
    /// Renders the report as a small table:
    ///
    /// ```text
    ///   phase        elapsed / budget      outcome    what happened
    ///   drain          52 ms / 16 995 ms   done       jobs_finished 3, jobs_in_flight 3
    ///   …
    ///   SIGTERM: clean in 1 061 ms, deadline 28 000 ms met
    /// ```
    ///
    /// Counts that are zero are left out; a hook that did not finish cleanly
    /// is named, with its error.
    pub fn to_table(&self) -> String {
        let mut table =
            String::from("  phase        elapsed / budget        outcome    what happened\n");
        for phase in &self.phases {
            let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
            for hook in &phase.hooks {
                for (name, value) in &hook.counts {
                    *counts.entry(name).or_default() += value;
                }
            }
            let mut happened: Vec<String> = counts
                .into_iter()
                .filter(|(_, value)| *value != 0)
                .map(|(name, value)| format!("{name} {value}"))
                .collect();
            for (name, items) in phase.hooks.iter().flat_map(|hook| &hook.lists) {
                let items: Vec<String> = items.iter().map(|item| item.to_string()).collect();
                happened.push(format!("{name}: {}", items.join(" ")));
            }
            for hook in phase.hooks.iter().filter(|h| h.outcome != Outcome::Done) {
                let error = hook.error.as_deref().unwrap_or("");
                happened.push(format!("{} {}: {error}", hook.name, hook.outcome.as_str()));
            }
            let line = format!(
                "  {:<12} {:>9} / {:<12} {:<10} {}",
                phase.phase.as_str(),
                grouped_ms(phase.elapsed_ms),
                grouped_ms(phase.budget_ms),
                phase.outcome.as_str(),
                happened.join(", ")
            );
            let _ = writeln!(table, "{}", line.trim_end());
        }
        let outcome = match self.outcome {
            Overall::Clean => "clean",
            Overall::Overran => "overran",
            Overall::Failed => "failed",
        };
        let _ = write!(
            table,
            "  {}: {outcome} in {}, deadline {} {}",
            self.trigger,
            grouped_ms(self.elapsed_ms),
            grouped_ms(self.deadline_ms),
            if self.deadline_met { "met" } else { "missed" }
        );
        table
    }
}

impl Report {
    /// Emits the report as one `shutdown report` event for people: the
    /// message is the table (see [`Report::to_table`]). [`Report::emit`]
    /// is the form for machines.
    pub fn emit_table(&self) {
        let table = self.to_table();
        match self.outcome {
            Overall::Clean => tracing::info!("shutdown report\n{table}"),
            Overall::Overran | Overall::Failed => tracing::warn!("shutdown report\n{table}"),
        }
    }
}

/// `16995` as `16 995 ms`: thousands apart, so budgets in seconds read at once.
fn grouped_ms(ms: u64) -> String {
    let digits = ms.to_string();
    let mut grouped = String::new();
    for (i, digit) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            grouped.push(' ');
        }
        grouped.push(digit);
    }
    grouped + " ms"
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::report::{HookReport, PhaseReport};
    use crate::{Outcome, Phase, Report};

    fn phase(phase: Phase, elapsed_ms: u64, budget_ms: u64, hooks: Vec<HookReport>) -> PhaseReport {
        PhaseReport {
            phase,
            start_offset_ms: 0,
            elapsed_ms,
            budget_ms,
            outcome: hooks
                .iter()
                .map(|h| h.outcome)
                .find(|o| *o != Outcome::Done)
                .unwrap_or(Outcome::Done),
            hooks,
        }
    }

    fn hook(name: &str, outcome: Outcome, counts: &[(&str, u64)]) -> HookReport {
        HookReport {
            name: name.into(),
            start_offset_ms: 0,
            elapsed_ms: 0,
            outcome,
            error: (outcome != Outcome::Done).then(|| "abandoned at its 2000ms budget".into()),
            counts: counts.iter().map(|(k, v)| ((*k).to_owned(), *v)).collect(),
            lists: Default::default(),
        }
    }

    #[test]
    fn one_line_per_phase_with_the_counts_that_are_not_zero_then_a_summary() {
        let report = Report::new(
            "SIGTERM".into(),
            vec![
                phase(Phase::Delay, 5000, 5000, vec![]),
                phase(
                    Phase::Drain,
                    52,
                    16995,
                    vec![HookReport {
                        lists: [(
                            "interrupted".to_owned(),
                            vec![serde_json::json!({"job_id": 7, "steps_done": 2})],
                        )]
                        .into(),
                        ..hook(
                            "jobs",
                            Outcome::Done,
                            &[("jobs_finished", 3), ("jobs_released", 0)],
                        )
                    }],
                ),
                phase(
                    Phase::Close,
                    2000,
                    2000,
                    vec![hook("database pool", Outcome::TimedOut, &[])],
                ),
            ],
            Duration::from_millis(7052),
            Duration::from_millis(28000),
        );
        let table = report.to_table();
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 5, "{table}");
        assert!(
            lines[1].contains("delay") && lines[1].contains("5 000 ms / 5 000 ms"),
            "{table}"
        );
        assert!(
            lines[2].contains("52 ms / 16 995 ms") && lines[2].contains("jobs_finished 3"),
            "{table}"
        );
        assert!(
            lines[2].ends_with(r#"interrupted: {"job_id":7,"steps_done":2}"#),
            "each listed item is named: {table}"
        );
        assert!(
            !table.contains("jobs_released"),
            "zero counts are left out: {table}"
        );
        assert!(
            lines[3].contains("timed_out")
                && lines[3].contains("database pool timed_out: abandoned"),
            "{table}"
        );
        assert_eq!(
            lines[4],
            "  SIGTERM: overran in 7 052 ms, deadline 28 000 ms met"
        );
    }
}
