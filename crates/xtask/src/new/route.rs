//! `cargo xtask new route METHOD PATH`: a handler file with its OpenAPI
//! annotation, its `routes!` line, and an in-process test that fails until
//! the handler is written.

use super::edit::{after_run, before_closing};
use super::{Changes, check_snake_case, workspace_root};

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

pub fn route(method: &str, path: &str) -> anyhow::Result<u8> {
    let method = method.to_ascii_lowercase();
    anyhow::ensure!(
        METHODS.contains(&method.as_str()),
        "method `{method}` must be one of {}",
        METHODS.join(", ")
    );
    let params = path_params(path)?;
    let module = path
        .split('/')
        .rfind(|segment| !segment.is_empty() && !segment.starts_with('{'))
        .map(|segment| segment.replace('-', "_"))
        .ok_or_else(|| anyhow::anyhow!("`{path}` needs a segment that is not a parameter"))?;
    check_snake_case("the path's last segment", &module)?;
    let function = format!("{method}_{module}");
    let mut changes = Changes::at(workspace_root()?);

    changes.write(
        &format!("crates/api/src/routes/{module}.rs"),
        &handler_file(&method, path, &params, &function),
    )?;
    changes.write(
        &format!("crates/api/tests/{module}.rs"),
        &test_file(&method, path, &params, &function),
    )?;
    changes.edit("crates/api/src/routes/mod.rs", |text| {
        let lines = vec![
            format!("pub mod {module};"),
            format!("        .routes(routes!({module}::{function}))"),
        ];
        let text = after_run(text, "pub mod ", &lines[0])?;
        let text = before_closing(&text, "pub fn documented()", "}", &lines[1])?;
        Ok((text, lines))
    })?;
    changes.format()?;
    changes.print(&format!(
        "write `{function}`, its responses in `#[utoipa::path]`, and its test \
         (docs/extending.md)"
    ));
    Ok(0)
}

/// The `{name}` segments of `path`, each a snake_case name.
fn path_params(path: &str) -> anyhow::Result<Vec<String>> {
    anyhow::ensure!(path.starts_with('/'), "path `{path}` must start with `/`");
    let mut params = Vec::new();
    for segment in path.split('/').skip(1) {
        if let Some(name) = segment.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            check_snake_case("path parameter", name)?;
            params.push(name.to_owned());
        } else {
            let valid = !segment.is_empty()
                && segment
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
            anyhow::ensure!(
                valid,
                "path segment `{segment}` must be lowercase letters, digits, `-` or `_`, or a `{{parameter}}`"
            );
        }
    }
    Ok(params)
}

fn handler_file(method: &str, path: &str, params: &[String], function: &str) -> String {
    let upper = method.to_ascii_uppercase();
    let (extractor, params_doc) = match params {
        [] => (String::new(), String::new()),
        [one] => (
            format!("Path({one}): Path<String>"),
            format!("    params((\"{one}\" = String, Path)),\n"),
        ),
        many => (
            format!(
                "Path(({})): Path<({})>",
                many.join(", "),
                vec!["String"; many.len()].join(", ")
            ),
            format!(
                "    params({}),\n",
                many.iter()
                    .map(|name| format!("(\"{name}\" = String, Path)"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ),
    };
    let path_import = if params.is_empty() {
        ""
    } else {
        "use axum::extract::Path;\n"
    };
    let unused = match params {
        [] => String::new(),
        [one] => format!("    let _ = {one};\n"),
        many => format!("    let _ = ({});\n", many.join(", ")),
    };
    format!(
        r#"//! `{upper} {path}`.

{path_import}use axum::http::StatusCode;

use crate::error::{{ApiError, ErrorBody}};

/// (Say what it answers.) Every status it can answer is in `responses`.
#[utoipa::path(
    {method},
    path = "{path}",
{params_doc}    responses(
        (status = 501, description = "Not written yet", body = ErrorBody),
    )
)]
pub async fn {function}({extractor}) -> Result<(), ApiError> {{
{unused}    Err(ApiError::new(
        StatusCode::NOT_IMPLEMENTED,
        "not_implemented",
        "{upper} {path} is not written yet",
    ))
}}
"#
    )
}

fn test_file(method: &str, path: &str, params: &[String], function: &str) -> String {
    let upper = method.to_ascii_uppercase();
    let mut uri = path.to_owned();
    for param in params {
        uri = uri.replace(
            &format!("{{{param}}}"),
            "00000000-0000-0000-0000-000000000000",
        );
    }
    format!(
        r#"//! `{upper} {path}` through the whole app, in-process (tests/in_process).

mod in_process;

use axum::body::Body;
use axum::http::{{Request, StatusCode}};

#[tokio::test]
async fn {function}_answers() {{
    let app = in_process::app().await;
    let request = Request::{method}("{uri}").body(Body::empty()).unwrap();
    let answer = app.call(request).await;
    assert_eq!(answer.status, StatusCode::OK, "{{answer:?}}");
}}
"#
    )
}
