//! `requests.csv`: every request the drill sent, one line each.
//!
//! The report's percentiles say how long the tail is; finding what made it
//! needs the slow requests themselves, lined up against the pods' logs and
//! the database's. A spreadsheet or a one-line script reads this file.

use std::io::{BufWriter, Write as _};
use std::path::Path;

use crate::load::record::Record;

/// The header, in the order [`write`] puts the fields.
pub const HEADER: &str = "at_ms,op,outcome,latency_ms,lag_ms,retries";

/// Writes `records` to `path`, in the order they are due.
pub fn write(path: &Path, records: &[Record]) -> std::io::Result<()> {
    let mut sorted: Vec<&Record> = records.iter().collect();
    sorted.sort_by(|a, b| a.at_ms.total_cmp(&b.at_ms));
    let mut file = BufWriter::new(std::fs::File::create(path)?);
    writeln!(file, "{HEADER}")?;
    for record in sorted {
        writeln!(file, "{}", line(record))?;
    }
    file.flush()
}

/// One record's line; the op and outcome by their names in `report.json`.
pub fn line(record: &Record) -> String {
    format!(
        "{:.3},{},{},{:.3},{:.3},{}",
        record.at_ms,
        name(&record.op),
        name(&record.outcome),
        record.latency_us as f64 / 1000.0,
        record.lag_us as f64 / 1000.0,
        record.retries
    )
}

fn name(value: &impl serde::Serialize) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|value| value.as_str().map(str::to_owned))
        .unwrap_or_default()
}
