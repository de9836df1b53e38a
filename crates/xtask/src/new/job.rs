//! `cargo xtask new job NAME`: the payload type in `domain`, its place on
//! the list of kinds, its handler in the worker with the registration arm,
//! and a test of the handler that fails until the handler is written.

use super::edit::{after_run, before_closing};
use super::{Changes, camel_case, check_snake_case, workspace_root};

pub fn job(name: &str) -> anyhow::Result<u8> {
    check_snake_case("job", name)?;
    let kind = camel_case(name);
    let handler = format!("{kind}Handler");
    let mut changes = Changes::at(workspace_root()?);

    changes.write(
        &format!("crates/domain/src/{name}.rs"),
        &payload(name, &kind),
    )?;
    changes.write(
        &format!("crates/worker/src/handlers/{name}.rs"),
        &handler_file(name, &kind, &handler),
    )?;
    changes.edit("crates/domain/src/lib.rs", |text| {
        let lines = vec![
            format!("mod {name};"),
            format!("pub use {name}::{kind};"),
            format!("    {kind},"),
        ];
        let text = after_run(text, "mod ", &lines[0])?;
        let text = after_run(&text, "pub use ", &lines[1])?;
        let text = before_closing(&text, "declare_jobs! {", "}", &lines[2])?;
        Ok((text, lines))
    })?;
    changes.edit("crates/worker/src/handlers/mod.rs", |text| {
        let lines = vec![
            format!("mod {name};"),
            format!("pub use {name}::{handler};"),
            format!("        JobKind::{kind} => Registered::new({handler}),"),
        ];
        let text = after_run(text, "mod ", &lines[0])?;
        let text = after_run(&text, "pub use ", &lines[1])?;
        let text = before_closing(&text, "match kind {", "    }", &lines[2])?;
        Ok((text, lines))
    })?;
    changes.format()?;
    changes.print(&format!(
        "give `{kind}` its fields, enqueue it where the work becomes necessary, \
         write `{handler}::run` and its test (docs/extending.md)"
    ));
    Ok(0)
}

fn payload(name: &str, kind: &str) -> String {
    format!(
        r#"//! `{name}` jobs: (say why this work runs in the background).

use queue::Job;
use serde::{{Deserialize, Serialize}};

/// The payload. It is stored as JSON and read by whichever release's worker
/// claims it: change it as you change a table (docs/migrations.md). A
/// worker that meets a field it does not know hands the job back for a
/// release that does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct {kind} {{}}

impl Job for {kind} {{
    const KIND: &'static str = "{name}";
}}
"#
    )
}

fn handler_file(name: &str, kind: &str, handler: &str) -> String {
    format!(
        r#"//! Runs `{name}` jobs.

use domain::{kind};

use crate::{{Done, JobContext, JobError, JobHandler}};

/// Owns what the work needs (a client, a setting), built once in
/// `main.rs` from `Dependencies`.
#[derive(Debug, Clone)]
pub struct {handler};

impl JobHandler for {handler} {{
    type Job = {kind};

    async fn run(&self, job: {kind}, ctx: JobContext) -> Result<Done, JobError> {{
        if ctx.cancel.is_cancelled() {{
            return Err(JobError::Cancelled);
        }}
        // Write the effect in a transaction and end with
        // `ctx.complete(tx).await`, so it commits with the completion.
        let _ = job;
        Err(JobError::failed("`{name}` is not written yet"))
    }}
}}

#[cfg(test)]
mod tests {{
    use testkit::TestDb;

    use super::*;
    use crate::tally::Ending;
    use crate::testing::work;

    #[tokio::test]
    async fn {name}_completes_with_its_effect_once() {{
        let db = TestDb::new().await;
        let worked = work(&db.pool, {handler}, &{kind} {{}}).await;
        assert_eq!(worked.ending, Ending::Finished, "{{worked:?}}");
        // Then assert the effect, once, in SQL.
    }}
}}
"#
    )
}
