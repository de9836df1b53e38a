//! How the job kinds are declared: `declare_jobs!` in `lib.rs` is the one
//! list.
//!
//! The worker registers its handlers with an exhaustive `match` over
//! [`JobKind`], as mini-redis applies its `Command` enum: a kind declared
//! without a handler does not compile. A handler names its payload type,
//! which must be [`DeclaredJob`], and only the list implements it: a handler
//! for a kind not on the list does not compile either.

use queue::Job;

use crate::JobKind;

/// A job type on the list: its kind is one of [`JobKind`]. Sealed:
/// implemented only by `declare_jobs!`, so being on the list is the only way
/// to have it.
pub trait DeclaredJob: Job + sealed::OnTheList {
    const DECLARED: JobKind;
}

pub(crate) mod sealed {
    pub trait OnTheList {}
}

/// Declares the kinds: the enum, its list, each kind's name (the type's
/// [`Job::KIND`]), and [`DeclaredJob`] for each type.
macro_rules! declare_jobs {
    ($($kind:ident),+ $(,)?) => {
        /// Every job kind this service runs, by its payload type's name.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum JobKind {
            $($kind),+
        }

        impl JobKind {
            pub const ALL: &'static [JobKind] = &[$(JobKind::$kind),+];

            /// The value of `jobs.kind`.
            pub const fn name(self) -> &'static str {
                match self {
                    $(JobKind::$kind => <$kind as queue::Job>::KIND),+
                }
            }
        }

        $(impl $crate::kinds::sealed::OnTheList for $kind {}
        impl $crate::kinds::DeclaredJob for $kind {
            const DECLARED: JobKind = JobKind::$kind;
        })+
    };
}
pub(crate) use declare_jobs;

impl std::fmt::Display for JobKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    /// Two types with one kind string would share a handler and mix their
    /// payloads.
    #[test]
    fn every_declared_kind_has_a_name_of_its_own() {
        let names: BTreeSet<&str> = JobKind::ALL.iter().map(|kind| kind.name()).collect();
        assert_eq!(names.len(), JobKind::ALL.len(), "{names:?}");
    }
}
