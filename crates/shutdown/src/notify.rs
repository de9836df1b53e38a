//! systemd notifications, for services run as `Type=notify` units.
//!
//! Failures are logged and ignored: a service must not refuse to start or
//! stop because a supervisor it may not even have is unreachable.

use sd_notify::NotifyState;

pub(crate) fn ready() {
    send(&[NotifyState::Ready]);
}

pub(crate) fn stopping() {
    send(&[NotifyState::Stopping]);
}

fn send(state: &[NotifyState<'_>]) {
    if std::env::var_os("NOTIFY_SOCKET").is_none() {
        return;
    }
    if let Err(error) = sd_notify::notify(false, state) {
        tracing::warn!(%error, "could not notify systemd");
    }
}
