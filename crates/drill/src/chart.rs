//! The timeline chart: requests/s and errors/s on the left axis, p99 latency
//! on the right, rollout windows shaded, and a tick per pod event.

use std::path::Path;

use hdrhistogram::Histogram;
use plotters::prelude::*;
use serde::Serialize;

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
}

/// Buckets the records by the second they were due in.
pub fn per_second(records: &[Record]) -> Vec<Second> {
    if records.is_empty() {
        return Vec::new();
    }
    let last = records.iter().map(|r| r.at_ms).fold(0.0, f64::max);
    let len = (last / 1000.0) as usize + 1;
    let mut seconds: Vec<(Second, Histogram<u64>)> = (0..len)
        .map(|s| {
            let second = Second {
                second: u32::try_from(s).unwrap_or(u32::MAX),
                ..Second::default()
            };
            (second, latency_histogram())
        })
        .collect();
    for record in records {
        let (second, histogram) = &mut seconds[(record.at_ms / 1000.0) as usize];
        if record.outcome != Outcome::Ok {
            second.errors += 1;
        }
        if record.op != Op::Watch {
            second.requests += 1;
            record_micros(histogram, record.latency_us);
        }
    }
    seconds
        .into_iter()
        .map(|(mut second, histogram)| {
            if !histogram.is_empty() {
                second.p99_ms = histogram.value_at_quantile(0.99) as f64 / 1000.0;
            }
            second
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

pub fn draw(
    path: &Path,
    title: &str,
    seconds: &[Second],
    events: &[PodEvent],
    windows: &[Window],
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
    let top_p99 = seconds.iter().map(|s| s.p99_ms).fold(1.0, f64::max) * 1.25;

    let root = SVGBackend::new(path, (1200, 600)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
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

    let shade = RGBColor(255, 215, 0).mix(0.15).filled();
    chart
        .draw_series(windows.iter().map(|w| {
            Rectangle::new(
                [(w.from_ms / 1000.0, 0.0), (w.to_ms / 1000.0, top_rate)],
                shade,
            )
        }))?
        .label("rollout")
        .legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 20, y + 5)], shade));

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
    chart
        .draw_secondary_series(LineSeries::new(
            seconds.iter().map(|s| (mid(s), s.p99_ms)),
            line(MAGENTA),
        ))?
        .label("p99 ms (right axis)")
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], line(MAGENTA)));

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

    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()?;
    root.present()?;
    Ok(())
}
