//! The budget arithmetic: one grace period, cut into phases before anything runs.
//!
//! Kubernetes sends SIGKILL when `terminationGracePeriodSeconds` runs out, no
//! matter what the process was doing. So the split is decided up front, and a
//! configuration that cannot fit is refused at start-up rather than discovered
//! at the worst possible moment.

use std::fmt;
use std::time::Duration;

/// The shutdown settings, as the services read them from `SHUTDOWN_*`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShutdownConfig {
    /// `SHUTDOWN_GRACE_PERIOD`: the whole time from signal to SIGKILL.
    /// Keep it equal to the pod's `terminationGracePeriodSeconds` minus its
    /// preStop sleep, because preStop counts against the grace period.
    pub grace_period: Duration,
    /// `SHUTDOWN_DRAIN_DELAY`: keep serving normally while load balancers
    /// notice that the endpoint is gone. Zero when a preStop sleep does it.
    pub drain_delay: Duration,
    /// `SHUTDOWN_FLUSH_TIMEOUT`: reserved for telemetry, so a stuck drain
    /// cannot eat the time needed to report on it.
    pub flush_timeout: Duration,
    /// `SHUTDOWN_CLOSE_TIMEOUT`: reserved for closing pools.
    pub close_timeout: Duration,
    /// `SHUTDOWN_MARGIN`: left unused before the deadline, for the runtime to
    /// wind down and for clock skew between the kubelet and us.
    pub margin: Duration,
    /// `SHUTDOWN_CANCEL_TIMEOUT`: how long cancelled work gets to hand its
    /// work back (release a job, finish a response). Taken out of the drain
    /// budget.
    pub cancel_timeout: Duration,
}

impl Default for ShutdownConfig {
    fn default() -> Self {
        Self {
            grace_period: Duration::from_secs(30),
            drain_delay: Duration::from_secs(5),
            flush_timeout: Duration::from_secs(3),
            close_timeout: Duration::from_secs(2),
            margin: Duration::from_secs(2),
            cancel_timeout: Duration::from_secs(1),
        }
    }
}

/// How the grace period is spent, phase by phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub drain_delay: Duration,
    /// Whatever remains of the grace period: stop-intake and drain share it.
    pub drain: Duration,
    pub cancel: Duration,
    pub flush: Duration,
    pub close: Duration,
    /// `grace_period - margin`: the whole shutdown ends before this.
    pub total: Duration,
}

/// The configuration cannot fit inside its grace period.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct BudgetError {
    config: ShutdownConfig,
}

impl fmt::Display for BudgetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.config;
        let reserved =
            c.drain_delay + c.cancel_timeout + c.flush_timeout + c.close_timeout + c.margin;
        write!(
            f,
            "shutdown budget does not fit: SHUTDOWN_DRAIN_DELAY ({}) + SHUTDOWN_CANCEL_TIMEOUT ({}) + \
             SHUTDOWN_FLUSH_TIMEOUT ({}) + SHUTDOWN_CLOSE_TIMEOUT ({}) + SHUTDOWN_MARGIN ({}) = {} \
             exceeds SHUTDOWN_GRACE_PERIOD ({}), leaving no drain budget",
            human(c.drain_delay),
            human(c.cancel_timeout),
            human(c.flush_timeout),
            human(c.close_timeout),
            human(c.margin),
            human(reserved),
            human(c.grace_period),
        )
    }
}

fn human(d: Duration) -> humantime::FormattedDuration {
    humantime::format_duration(d)
}

impl ShutdownConfig {
    /// Splits the grace period into phase budgets, or explains why it can't.
    ///
    /// A drain budget of zero is refused: a service that cannot finish even
    /// one in-flight request would turn every restart into failed requests.
    pub fn budget(&self) -> Result<Budget, BudgetError> {
        let reserved = self.drain_delay
            + self.cancel_timeout
            + self.flush_timeout
            + self.close_timeout
            + self.margin;
        match self.grace_period.checked_sub(reserved) {
            Some(drain) if !drain.is_zero() => Ok(Budget {
                drain_delay: self.drain_delay,
                drain,
                cancel: self.cancel_timeout,
                flush: self.flush_timeout,
                close: self.close_timeout,
                total: self.grace_period - self.margin,
            }),
            _ => Err(BudgetError { config: *self }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn defaults_leave_seventeen_seconds_to_drain() {
        let budget = ShutdownConfig::default().budget().unwrap();
        assert_eq!(budget.drain, secs(17));
        assert_eq!(budget.total, secs(28));
        assert_eq!(
            budget.drain_delay + budget.drain + budget.cancel + budget.flush + budget.close,
            budget.total
        );
    }

    #[test]
    fn a_config_that_cannot_fit_names_every_setting_and_the_sum() {
        let config = ShutdownConfig {
            grace_period: secs(10),
            ..ShutdownConfig::default()
        };
        let message = config.budget().unwrap_err().to_string();
        for setting in [
            "SHUTDOWN_GRACE_PERIOD (10s)",
            "SHUTDOWN_DRAIN_DELAY (5s)",
            "SHUTDOWN_CANCEL_TIMEOUT (1s)",
            "SHUTDOWN_FLUSH_TIMEOUT (3s)",
            "SHUTDOWN_CLOSE_TIMEOUT (2s)",
            "SHUTDOWN_MARGIN (2s)",
            "= 13s",
        ] {
            assert!(
                message.contains(setting),
                "{setting} missing from: {message}"
            );
        }
        assert!(!message.contains('\n'), "must be one line: {message}");
    }

    #[test]
    fn an_exact_fit_with_no_drain_budget_is_refused() {
        let config = ShutdownConfig {
            grace_period: secs(13),
            ..ShutdownConfig::default()
        };
        assert!(config.budget().is_err());
    }

    #[test]
    fn sub_second_settings_are_shown_in_milliseconds() {
        let config = ShutdownConfig {
            grace_period: Duration::from_millis(1500),
            drain_delay: Duration::from_millis(250),
            ..ShutdownConfig::default()
        };
        let message = config.budget().unwrap_err().to_string();
        assert!(message.contains("(250ms)"), "{message}");
        assert!(message.contains("(1s 500ms)"), "{message}");
    }
}
