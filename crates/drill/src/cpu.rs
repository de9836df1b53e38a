//! How busy the machine and the drill itself were, second by second. The
//! drill shares its cores with the pods and PostgreSQL: latency that rises
//! while every core is busy is the machine's, not a rollout's, and the
//! drill's own share says how much of that it took.
//!
//! Read from `/proc/stat` and `/proc/self/stat`, both counted in the same
//! clock ticks, so their ratio needs no tick rate. Elsewhere than Linux
//! there is nothing to read and the report has no `cpu`.

use std::time::Duration;

use serde::Serialize;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::timeline::Timeline;

#[derive(Debug, Clone, Copy, Serialize)]
pub struct CpuSecond {
    pub at_ms: f64,
    /// Of all the machine's cores together, 0 to 1.
    pub machine_busy: f64,
    /// The drill's process alone, of all the cores together.
    pub drill_busy: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct Cpu {
    pub machine_busy_median: f64,
    pub drill_busy_median: f64,
    pub seconds: Vec<CpuSecond>,
}

/// Samples every second until stopped.
#[derive(Debug)]
pub struct CpuSampler {
    stop: CancellationToken,
    sampling: JoinHandle<Vec<CpuSecond>>,
}

impl CpuSampler {
    pub fn start(timeline: Timeline) -> Self {
        let stop = CancellationToken::new();
        let sampling = tokio::spawn(sample(timeline, stop.clone()));
        Self { stop, sampling }
    }

    /// `None` where nothing could be read.
    pub async fn finish(self) -> Option<Cpu> {
        self.stop.cancel();
        let seconds = self.sampling.await.ok()?;
        if seconds.is_empty() {
            return None;
        }
        let median = |value: fn(&CpuSecond) -> f64| {
            let mut values: Vec<f64> = seconds.iter().map(value).collect();
            values.sort_by(f64::total_cmp);
            values[values.len() / 2]
        };
        Some(Cpu {
            machine_busy_median: median(|s| s.machine_busy),
            drill_busy_median: median(|s| s.drill_busy),
            seconds,
        })
    }
}

async fn sample(timeline: Timeline, stop: CancellationToken) -> Vec<CpuSecond> {
    let mut seconds = Vec::new();
    let Some(mut last) = Ticks::read() else {
        return seconds;
    };
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = stop.cancelled() => return seconds,
        }
        let Some(now) = Ticks::read() else {
            return seconds;
        };
        let total = now.total.saturating_sub(last.total).max(1) as f64;
        seconds.push(CpuSecond {
            at_ms: timeline.ms(std::time::Instant::now()),
            machine_busy: now.busy.saturating_sub(last.busy) as f64 / total,
            drill_busy: now.drill.saturating_sub(last.drill) as f64 / total,
        });
        last = now;
    }
}

/// Clock ticks since boot: all cores', the busy ones among them, and the
/// drill's own.
#[derive(Debug, Clone, Copy)]
struct Ticks {
    total: u64,
    busy: u64,
    drill: u64,
}

impl Ticks {
    fn read() -> Option<Self> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        // `cpu  user nice system idle iowait irq softirq steal …`
        let fields: Vec<u64> = stat
            .lines()
            .next()?
            .split_whitespace()
            .skip(1)
            .take(8)
            .map(|field| field.parse().ok())
            .collect::<Option<_>>()?;
        let total: u64 = fields.iter().sum();
        let idle = fields.get(3)? + fields.get(4)?;
        let own = std::fs::read_to_string("/proc/self/stat").ok()?;
        // After the command's `(…)`: state is field 3, utime 14, stime 15.
        let after_name: Vec<&str> = own.rsplit_once(')')?.1.split_whitespace().collect();
        let drill =
            after_name.get(11)?.parse::<u64>().ok()? + after_name.get(12)?.parse::<u64>().ok()?;
        Some(Self {
            total,
            busy: total - idle,
            drill,
        })
    }
}
