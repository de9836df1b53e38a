//! Sorting client errors into the verdict's failure classes.

use std::error::Error;
use std::io;

use reqwest::StatusCode;

use super::record::{Failure, Outcome};

/// `Ok` for 2xx; a failure naming the status otherwise.
pub fn status(status: StatusCode) -> Result<(), Failure> {
    if status.is_success() {
        Ok(())
    } else if status.is_server_error() {
        Err(Failure::new(Outcome::ServerError, status.to_string()))
    } else {
        Err(Failure::new(Outcome::Unexpected, status.to_string()))
    }
}

/// The class, and the whole chain of causes as the detail.
pub fn error(error: &reqwest::Error) -> Failure {
    let mut detail = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        detail.push_str(": ");
        detail.push_str(&cause.to_string());
        source = cause.source();
    }
    Failure::new(class(error), detail)
}

/// Walks the error's sources: reqwest wraps hyper, which wraps the socket's
/// `io::Error`, and the class lives at whichever level saw it first.
pub fn class(error: &reqwest::Error) -> Outcome {
    if error.is_timeout() {
        return Outcome::Timeout;
    }
    let mut source: Option<&(dyn Error + 'static)> = Some(error);
    while let Some(current) = source {
        if let Some(io) = current.downcast_ref::<io::Error>() {
            match io.kind() {
                io::ErrorKind::ConnectionRefused => return Outcome::Refused,
                io::ErrorKind::ConnectionReset
                | io::ErrorKind::ConnectionAborted
                | io::ErrorKind::BrokenPipe
                | io::ErrorKind::UnexpectedEof => return Outcome::Reset,
                io::ErrorKind::TimedOut => return Outcome::Timeout,
                _ => {}
            }
        }
        if let Some(hyper) = current.downcast_ref::<hyper::Error>()
            && (hyper.is_incomplete_message() || hyper.is_closed() || hyper.is_canceled())
        {
            return Outcome::Reset;
        }
        source = current.source();
    }
    if error.is_connect() {
        Outcome::Refused
    } else {
        Outcome::Unexpected
    }
}
