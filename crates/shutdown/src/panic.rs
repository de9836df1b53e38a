//! Turning a caught panic into words, for the report and for the services'
//! own panic catching (a request, a job): one rule everywhere.

use std::any::Any;

/// The panic's message: `panic!` payloads are a `&'static str` or a
/// `String`; anything else is named as such.
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<&str>()
        .map(|message| (*message).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "non-string panic payload".to_owned())
}

#[cfg(test)]
mod tests {
    use super::panic_message;

    #[test]
    fn reads_both_kinds_of_panic_payload() {
        let literal = std::panic::catch_unwind(|| panic!("literal")).unwrap_err();
        let formatted = std::panic::catch_unwind(|| panic!("formatted {}", 7)).unwrap_err();
        let other = std::panic::catch_unwind(|| std::panic::panic_any(7_u8)).unwrap_err();
        assert_eq!(panic_message(literal.as_ref()), "literal");
        assert_eq!(panic_message(formatted.as_ref()), "formatted 7");
        assert_eq!(panic_message(other.as_ref()), "non-string panic payload");
    }
}
