//! Stdout for the log layer, each event's text passed through the
//! service's redactor before it is written.
//!
//! A secret can reach a log line by routes no call site controls: a panic
//! message, a library's error quoting what it was given, the shutdown
//! report's hook errors. Redacting the finished line covers them all. This
//! crate does not know the secrets; the service hands in its redactor.

use std::borrow::Cow;
use std::io::Write;

use tracing_subscriber::fmt::MakeWriter;

/// Replaces every secret in a text; `Cow::Borrowed` when there is none.
pub type Redact = fn(&str) -> Cow<'_, str>;

#[derive(Debug, Clone, Copy)]
pub(crate) struct RedactedStdout(pub(crate) Redact);

impl<'a> MakeWriter<'a> for RedactedStdout {
    type Writer = RedactedLine;

    fn make_writer(&'a self) -> Self::Writer {
        RedactedLine {
            redact: self.0,
            text: Vec::new(),
        }
    }
}

/// One event's text, collected and written, redacted, when dropped: the
/// fmt layer makes a writer per event, so a secret split across two
/// `write` calls is still found.
pub(crate) struct RedactedLine {
    redact: Redact,
    text: Vec<u8>,
}

impl Write for RedactedLine {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.text.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for RedactedLine {
    fn drop(&mut self) {
        let text = String::from_utf8_lossy(&self.text);
        let _ = std::io::stdout()
            .lock()
            .write_all((self.redact)(&text).as_bytes());
    }
}
