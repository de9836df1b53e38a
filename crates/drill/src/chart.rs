//! The timeline chart: requests/s and errors/s on the left axis, p99 latency
//! and the drill's own lag on the right, rollout windows shaded, and a tick
//! per pod event; below it, how busy the machine and the drill were.
//!
//! A spike in the p99 means one thing when the lag spikes with it (the
//! load generator was late, and the latency is partly its own) and another
//! when every core was busy (the machine had nothing to spare). Both are in
//! `report.json`; drawn beside the p99, they are read at a glance.

use std::path::Path;

use hdrhistogram::Histogram;
use plotters::prelude::*;
use serde::Serialize;

use crate::cpu::CpuSecond;
use crate::load::record::{Op, Outcome, Record};
use crate::timeline::{PodEvent, PodEventKind, Window};
use crate::verdict::{latency_histogram, record_micros};

/// One second of the run.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Second {
    pub second: u32,
    /// Open-loop requests due in this second (creates and reads).
    pub requests: u64,
    /// Failures of any request, watches included.
    pub errors: u64,
    pub p99_ms: f64,
    /// The drill's own lag (due time to send), p99 of this second's
    /// open-loop requests.
    pub lag_p99_ms: f64,
}

/// Buckets the records by the second they were due in.
pub fn per_second(records: &[Record]) -> Vec<Second> {
    if records.is_empty() {
        return Vec::new();
    }
    let last = records.iter().map(|r| r.at_ms).fold(0.0, f64::max);
    let len = (last / 1000.0) as usize + 1;
    let mut seconds: Vec<(Second, Histogram<u64>, Histogram<u64>)> = (0..len)
        .map(|s| {
            let second = Second {
                second: u32::try_from(s).unwrap_or(u32::MAX),
                ..Second::default()
            };
            (second, latency_histogram(), latency_histogram())
        })
        .collect();
    for record in records {
        let (second, latency, lag) = &mut seconds[(record.at_ms / 1000.0) as usize];
        if record.outcome != Outcome::Ok {
            second.errors += 1;
        }
        if record.op != Op::Watch {
            second.requests += 1;
            record_micros(latency, record.latency_us);
            record_micros(lag, record.lag_us);
        }
    }
    let p99_ms = |histogram: &Histogram<u64>| {
        if histogram.is_empty() {
            0.0
        } else {
            histogram.value_at_quantile(0.99) as f64 / 1000.0
        }
    };
    seconds
        .into_iter()
        .map(|(second, latency, lag)| Second {
            p99_ms: p99_ms(&latency),
            lag_p99_ms: p99_ms(&lag),
            ..second
        })
        .collect()
}

/// The marker colour and legend name of each kind of pod event worth a
/// tick: every step a pod takes into and out of service, so that a spike
/// can be laid against the step it follows. `terminating` is the shaded
/// window's business.
fn marker(kind: PodEventKind) -> Option<(RGBColor, &'static str)> {
    match kind {
        PodEventKind::Started => Some((RGBColor(70, 130, 180), "pod started")),
        PodEventKind::Ready => Some((RGBColor(46, 139, 87), "pod ready")),
        PodEventKind::EndpointAdded => Some((RGBColor(0, 191, 255), "endpoint added")),
        PodEventKind::EndpointRemoved => Some((RGBColor(186, 85, 211), "endpoint removed")),
        PodEventKind::Sigterm => Some((RGBColor(255, 140, 0), "SIGTERM")),
        PodEventKind::Sigkill => Some((RGBColor(128, 0, 0), "SIGKILL")),
        PodEventKind::Exited { .. } => Some((RGBColor(105, 105, 105), "pod exited")),
        _ => None,
    }
}

const ROLLOUT_SHADE: ShapeStyle = ShapeStyle {
    color: RGBAColor(255, 215, 0, 0.15),
    filled: true,
    stroke_width: 0,
};

/// Each rollout window shaded, from the axis up to `top`.
fn rollouts(windows: &[Window], top: f64) -> impl Iterator<Item = Rectangle<(f64, f64)>> + '_ {
    windows.iter().map(move |w| {
        Rectangle::new(
            [(w.from_ms / 1000.0, 0.0), (w.to_ms / 1000.0, top)],
            ROLLOUT_SHADE,
        )
    })
}

/// Draws both panels' legends alike: top right, over a pale box.
fn draw_legend<'a, 'b, DB: DrawingBackend + 'a, CT: plotters::coord::CoordTranslate>(
    mut labels: plotters::chart::SeriesLabelStyle<'a, 'b, DB, CT>,
) -> anyhow::Result<()>
where
    DB::ErrorType: 'static,
{
    labels
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    Ok(())
}

/// Draws the chart into `path`; with no `cpu` seconds (not Linux), the
/// lower panel is left out.
pub fn draw(
    path: &Path,
    title: &str,
    seconds: &[Second],
    events: &[PodEvent],
    windows: &[Window],
    cpu: &[CpuSecond],
) -> anyhow::Result<()> {
    let end_s = seconds.len().max(1) as f64;
    let end_s = events
        .iter()
        .map(|e| e.at_ms / 1000.0)
        .fold(end_s, f64::max)
        .ceil();
    let top_rate = seconds
        .iter()
        .map(|s| s.requests.max(s.errors))
        .max()
        .unwrap_or(0)
        .max(1) as f64
        * 1.25;
    let top_p99 = seconds
        .iter()
        .map(|s| s.p99_ms.max(s.lag_p99_ms))
        .fold(1.0, f64::max)
        * 1.25;

    let height = if cpu.is_empty() { 600 } else { 800 };
    let root = SVGBackend::new(path, (1200, height)).into_drawing_area();
    root.fill(&WHITE)?;
    let (upper, lower) = root.split_vertically(600);
    let mut chart = ChartBuilder::on(&upper)
        .caption(title, ("sans-serif", 20))
        .margin(15)
        .x_label_area_size(40)
        .y_label_area_size(60)
        .right_y_label_area_size(60)
        .build_cartesian_2d(0.0..end_s, 0.0..top_rate)?
        .set_secondary_coord(0.0..end_s, 0.0..top_p99);
    chart
        .configure_mesh()
        .x_desc("seconds since the drill started")
        .y_desc("requests/s, errors/s")
        .draw()?;
    chart
        .configure_secondary_axes()
        .y_desc("p99 latency, ms")
        .draw()?;

    chart
        .draw_series(rollouts(windows, top_rate))?
        .label("rollout")
        .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 20, y + 5)], ROLLOUT_SHADE));

    let mid = |s: &Second| f64::from(s.second) + 0.5;
    let line = |color: RGBColor| color.stroke_width(2);
    chart
        .draw_series(LineSeries::new(
            seconds.iter().map(|s| (mid(s), s.requests as f64)),
            line(BLUE),
        ))?
        .label("requests/s")
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], line(BLUE)));
    chart
        .draw_series(LineSeries::new(
            seconds.iter().map(|s| (mid(s), s.errors as f64)),
            line(RED),
        ))?
        .label("errors/s")
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], line(RED)));
    // A handful of errors is invisible next to hundreds of requests on the
    // same axis, and a handful is exactly what matters: ring every second
    // that had any.
    chart.draw_series(
        seconds
            .iter()
            .filter(|s| s.errors > 0)
            .map(|s| Circle::new((mid(s), s.errors as f64), 6, RED.stroke_width(2))),
    )?;
    for (name, color, milliseconds) in [
        (
            "p99 ms (right axis)",
            MAGENTA,
            (|s: &Second| s.p99_ms) as fn(&Second) -> f64,
        ),
        (
            "drill lag p99 ms (right axis)",
            RGBColor(128, 128, 128),
            |s| s.lag_p99_ms,
        ),
    ] {
        chart
            .draw_secondary_series(LineSeries::new(
                seconds.iter().map(|s| (mid(s), milliseconds(s))),
                line(color),
            ))?
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], line(color)));
    }

    // Ticks along the bottom, one row per kind so that they do not hide
    // one another.
    let row = top_rate / 40.0;
    let kinds = [
        PodEventKind::Started,
        PodEventKind::Ready,
        PodEventKind::EndpointAdded,
        PodEventKind::EndpointRemoved,
        PodEventKind::Sigterm,
        PodEventKind::Sigkill,
        PodEventKind::Exited {
            code: None,
            signal: None,
        },
    ];
    for (index, kind) in kinds.into_iter().enumerate() {
        let Some((color, name)) = marker(kind) else {
            continue;
        };
        let (low, high) = (row * index as f64, row * (index as f64 + 1.0));
        let ticks = events
            .iter()
            .filter(|e| std::mem::discriminant(&e.kind) == std::mem::discriminant(&kind))
            .map(|e| {
                PathElement::new(
                    vec![(e.at_ms / 1000.0, low), (e.at_ms / 1000.0, high)],
                    color.stroke_width(2),
                )
            });
        chart.draw_series(ticks)?.label(name).legend(move |(x, y)| {
            PathElement::new(
                vec![(x + 10, y - 6), (x + 10, y + 6)],
                color.stroke_width(2),
            )
        });
    }

    draw_legend(chart.configure_series_labels())?;
    if !cpu.is_empty() {
        draw_cpu(&lower, end_s, cpu, windows)?;
    }
    root.present()?;
    Ok(())
}

/// The lower panel: the machine's and the drill's share of all the cores,
/// on the same seconds as the chart above.
fn draw_cpu<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    end_s: f64,
    cpu: &[CpuSecond],
    windows: &[Window],
) -> anyhow::Result<()>
where
    DB::ErrorType: 'static,
{
    let mut chart = ChartBuilder::on(area)
        .margin(15)
        .x_label_area_size(30)
        .y_label_area_size(60)
        .right_y_label_area_size(60)
        .build_cartesian_2d(0.0..end_s, 0.0..100.0)?;
    chart.configure_mesh().y_desc("CPU busy, %").draw()?;
    chart.draw_series(rollouts(windows, 100.0))?;
    // Each sample covers the second that ends at its time.
    let at = |s: &CpuSecond| s.at_ms / 1000.0 - 0.5;
    for (name, color, share) in [
        (
            "machine, all cores",
            BLACK,
            (|s: &CpuSecond| s.machine_busy) as fn(&CpuSecond) -> f64,
        ),
        ("the drill alone", RGBColor(0, 128, 128), |s| s.drill_busy),
    ] {
        let style = color.stroke_width(2);
        chart
            .draw_series(LineSeries::new(
                cpu.iter().map(|s| (at(s), share(s) * 100.0)),
                style,
            ))?
            .label(name)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
    }
    draw_legend(chart.configure_series_labels())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(at_ms: f64, latency_us: u64, lag_us: u64) -> Record {
        Record {
            at_ms,
            latency_us,
            lag_us,
            op: Op::Create,
            outcome: Outcome::Ok,
            retries: 0,
        }
    }

    #[test]
    fn each_second_has_its_own_lag_p99_apart_from_its_latency() {
        let mut records: Vec<Record> = (0..100).map(|i| record(f64::from(i), 2_000, 100)).collect();
        // The second second: the generator fell 30 ms behind.
        records.extend((0..100).map(|i| record(1_000.0 + f64::from(i), 32_000, 30_000)));
        let seconds = per_second(&records);
        assert_eq!(seconds.len(), 2);
        assert!(
            (seconds[0].lag_p99_ms - 0.1).abs() < 0.01,
            "{:?}",
            seconds[0]
        );
        assert!((seconds[0].p99_ms - 2.0).abs() < 0.01, "{:?}", seconds[0]);
        assert!(
            (seconds[1].lag_p99_ms - 30.0).abs() < 0.1,
            "{:?}",
            seconds[1]
        );
    }

    #[test]
    fn the_lag_is_drawn_and_the_cpu_panel_only_when_there_is_cpu() {
        let seconds = per_second(&[record(10.0, 2_000, 500), record(1_200.0, 3_000, 900)]);
        let windows = [Window {
            deployment: "api".into(),
            from_ms: 200.0,
            to_ms: 900.0,
        }];
        let cpu = [CpuSecond {
            at_ms: 1_000.0,
            machine_busy: 0.8,
            drill_busy: 0.1,
        }];
        let dir = tempfile::tempdir().unwrap();
        let draw_to = |name: &str, cpu: &[CpuSecond]| {
            let path = dir.path().join(name);
            draw(&path, "test", &seconds, &[], &windows, cpu).unwrap();
            std::fs::read_to_string(path).unwrap()
        };
        let with_cpu = draw_to("with.svg", &cpu);
        assert!(with_cpu.contains("drill lag p99 ms"), "no lag line");
        assert!(with_cpu.contains("CPU busy, %"), "no CPU panel");
        assert!(with_cpu.contains("the drill alone"), "no drill CPU line");
        let without = draw_to("without.svg", &[]);
        assert!(without.contains("drill lag p99 ms"), "no lag line");
        assert!(
            !without.contains("CPU busy"),
            "a CPU panel with nothing in it"
        );
    }
}
