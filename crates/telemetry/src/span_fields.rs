//! How the JSON log layer keeps each span's fields.
//!
//! Written here rather than taken from tracing-subscriber because its
//! `JsonFields` collects every new span's fields into a map of
//! `serde_json::Value`s before writing them, and on every `Span::record`
//! parses the span's JSON back into a map, adds the field and writes it all
//! out again (its own comment calls this "far from efficient"). The api
//! makes a span per request, and that work was more than a quarter of the
//! instructions a trivial request cost (docs/benchmarks.md). This one
//! writes each field straight into the span's JSON object, and a record
//! appends to it.
//!
//! The JSON event formatter reads the object back only when an event is
//! logged inside the span, and takes the last value of a key recorded
//! twice, as a record should.

use std::fmt::{self, Write};

use tracing::field::{Field, Visit};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::FormatFields;
use tracing_subscriber::fmt::FormattedFields;
use tracing_subscriber::fmt::format::Writer;

/// A span's fields as one JSON object, e.g. `{"http.route":"/","status":200}`.
#[derive(Debug, Default, Clone, Copy)]
pub struct SpanFieldsJson;

impl<'writer> FormatFields<'writer> for SpanFieldsJson {
    fn format_fields<R: RecordFields>(
        &self,
        mut writer: Writer<'writer>,
        fields: R,
    ) -> fmt::Result {
        // Written whole into `writer` (an empty String for a new span), so
        // that it allocates once rather than growing field by field.
        let mut object = String::with_capacity(256);
        object.push('{');
        let mut visitor = JsonObjectVisitor::new(&mut object, true);
        fields.record(&mut visitor);
        visitor.result?;
        object.push('}');
        writer.write_str(&object)
    }

    fn add_fields(
        &self,
        current: &'writer mut FormattedFields<Self>,
        fields: &tracing::span::Record<'_>,
    ) -> fmt::Result {
        if current.fields.pop() != Some('}') {
            // Not an object this formatter wrote: start one.
            current.fields.clear();
            current.fields.push('{');
        }
        let empty = current.fields == "{";
        let mut visitor = JsonObjectVisitor::new(&mut current.fields, empty);
        fields.record(&mut visitor);
        let result = visitor.result;
        current.fields.push('}');
        result
    }
}

/// Writes `"name":value` members, comma-separated, into an open object.
struct JsonObjectVisitor<'w> {
    out: &'w mut String,
    first: bool,
    result: fmt::Result,
}

impl<'w> JsonObjectVisitor<'w> {
    fn new(out: &'w mut String, first: bool) -> Self {
        Self {
            out,
            first,
            result: Ok(()),
        }
    }

    fn member(&mut self, field: &Field, value: impl FnOnce(&mut String) -> fmt::Result) {
        let name = field.name();
        // `r#type` is the field `type`; tracing-log's `log.*` fields repeat
        // the event's metadata. Both as tracing-subscriber's JSON does.
        let name = name.strip_prefix("r#").unwrap_or(name);
        if self.result.is_err() || name.starts_with("log.") {
            return;
        }
        let member_start = self.out.len();
        let first = self.first;
        self.result = (|| {
            if !first {
                self.out.write_char(',')?;
            }
            write_json_str(self.out, name)?;
            self.out.write_char(':')?;
            value(self.out)
        })();
        if self.result.is_err() {
            // A `Debug` impl that failed half-way: drop the cut-off member
            // so the object stays valid JSON.
            self.out.truncate(member_start);
        } else {
            self.first = false;
        }
    }
}

impl Visit for JsonObjectVisitor<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        // JSON has no NaN or infinity; serde_json writes those as null too.
        self.member(field, |out| {
            if value.is_finite() {
                // `1.0`, not `1`: stays a float for log stores that type
                // fields by their first value, as serde_json writes it.
                write!(out, "{value}")?;
                if value.fract() == 0.0 {
                    out.push_str(".0");
                }
                Ok(())
            } else {
                out.write_str("null")
            }
        });
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.member(field, |out| write!(out, "{value}"));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.member(field, |out| write!(out, "{value}"));
    }

    fn record_i128(&mut self, field: &Field, value: i128) {
        self.member(field, |out| write!(out, "{value}"));
    }

    fn record_u128(&mut self, field: &Field, value: u128) {
        self.member(field, |out| write!(out, "{value}"));
    }

    /// An array of numbers, as serde writes a byte slice.
    fn record_bytes(&mut self, field: &Field, value: &[u8]) {
        self.member(field, |out| {
            out.write_char('[')?;
            for (index, byte) in value.iter().enumerate() {
                if index > 0 {
                    out.write_char(',')?;
                }
                write!(out, "{byte}")?;
            }
            out.write_char(']')
        });
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.member(field, |out| write!(out, "{value}"));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.member(field, |out| write_json_str(out, value));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.member(field, |out| {
            out.write_char('"')?;
            write!(Escaping(&mut *out), "{value:?}")?;
            out.write_char('"')
        });
    }
}

fn write_json_str(out: &mut impl Write, value: &str) -> fmt::Result {
    out.write_char('"')?;
    Escaping(&mut *out).write_str(value)?;
    out.write_char('"')
}

fn needs_escape(byte: u8) -> bool {
    byte < 0x20 || byte == b'"' || byte == b'\\'
}

/// Escapes what JSON strings may not hold as they are.
struct Escaping<'w, W: Write>(&'w mut W);

impl<W: Write> Write for Escaping<'_, W> {
    fn write_str(&mut self, text: &str) -> fmt::Result {
        // Routes, methods and ids need no escaping: one pass to see that.
        if !text.bytes().any(needs_escape) {
            return self.0.write_str(text);
        }
        let mut plain_from = 0;
        for (index, byte) in text.bytes().enumerate() {
            let escaped = match byte {
                b'"' => "\\\"",
                b'\\' => "\\\\",
                b'\n' => "\\n",
                b'\r' => "\\r",
                b'\t' => "\\t",
                0..=0x1f => "",
                _ => continue,
            };
            self.0.write_str(&text[plain_from..index])?;
            if escaped.is_empty() {
                write!(self.0, "\\u{byte:04x}")?;
            } else {
                self.0.write_str(escaped)?;
            }
            plain_from = index + 1;
        }
        self.0.write_str(&text[plain_from..])
    }
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::sync::{Arc, Mutex};

    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// Logs one event inside a span, through the JSON layer the services
    /// install, and returns the event's `span` object.
    fn span_of_event(inside: impl FnOnce()) -> serde_json::Value {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::registry().with(
            tracing_subscriber::fmt::layer()
                .json()
                .with_current_span(true)
                .fmt_fields(SpanFieldsJson)
                .with_writer(move || writer.clone()),
        );
        tracing::subscriber::with_default(subscriber, inside);
        let output = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        let line: serde_json::Value = serde_json::from_str(output.trim()).unwrap();
        line["span"].clone()
    }

    #[test]
    fn span_fields_reach_events_as_json_values_with_later_records() {
        let span = span_of_event(|| {
            let span = tracing::info_span!(
                "request",
                http.route = "/v1/\"orders\"\n\u{1}",
                attempt = 3_u64,
                offset = -2_i64,
                wide = -5_i128,
                huge = u128::from(u64::MAX),
                digest = &b"\x00\xff"[..],
                ratio = 0.5,
                whole = 2.0_f64,
                not_a_number = f64::NAN,
                cached = true,
                peer = ?("debug", 1),
                r#type = "typed",
                http.response.status_code = tracing::field::Empty,
            );
            span.record("http.response.status_code", 201_i64);
            span.record("attempt", 4_u64);
            span.in_scope(|| tracing::info!("inside"));
        });
        assert_eq!(
            span,
            serde_json::json!({
                "name": "request",
                "http.route": "/v1/\"orders\"\n\u{1}",
                "attempt": 4,
                "offset": -2,
                "wide": -5,
                "huge": u64::MAX,
                "digest": [0, 255],
                "ratio": 0.5,
                "whole": 2.0,
                "not_a_number": null,
                "cached": true,
                "peer": "(\"debug\", 1)",
                "type": "typed",
                "http.response.status_code": 201,
            })
        );
    }

    #[test]
    fn a_span_without_fields_and_a_record_into_it_stay_an_object() {
        let span = span_of_event(|| {
            let span = tracing::info_span!("quiet", late = tracing::field::Empty);
            span.in_scope(|| {});
            span.record("late", "now");
            span.in_scope(|| tracing::info!("inside"));
        });
        assert_eq!(span, serde_json::json!({"name": "quiet", "late": "now"}));
    }
}
