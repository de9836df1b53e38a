//! Keeping the secrets a service is given out of what it prints.
//!
//! Where a secret can surface is not all in our code: clap echoes a value
//! it cannot parse (a `/` or `#` in a password makes the URL parser read
//! part of it as the port), and a library's error may quote what it was
//! given. So every line the services print before their logs exist (a bad
//! setting, a database that refused), and every panic message, goes through
//! [`redact`], which knows the secret values themselves and replaces them
//! wherever they appear. So do the logs (the services' log writer), the
//! `last_error` a worker stores, and the shutdown report.
//!
//! The values come from the settings below, from PostgreSQL's own
//! `PGPASSWORD`, and from the password file libpq and sqlx read
//! (`PGPASSFILE`, else `~/.pgpass`).

use std::borrow::Cow;
use std::sync::OnceLock;

/// Settings whose values are secret, whole or in part.
pub const SECRET_SETTINGS: [&str; 6] = [
    "DATABASE_URL",
    "PGPASSWORD",
    "OTEL_EXPORTER_OTLP_HEADERS",
    "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
    "OTEL_EXPORTER_OTLP_METRICS_HEADERS",
    "OTEL_EXPORTER_OTLP_LOGS_HEADERS",
];

/// What a redacted secret reads as.
pub const REDACTED: &str = "<redacted>";

/// Shorter values are not replaced: a one- or two-letter "secret" would
/// blank out ordinary words, and protects nothing anyway.
const SHORTEST_SECRET: usize = 3;

/// `text` with every secret this process was given replaced by
/// [`REDACTED`].
pub fn redact(text: &str) -> Cow<'_, str> {
    let mut text = Cow::Borrowed(text);
    for secret in secrets() {
        if text.contains(secret.as_str()) {
            text = Cow::Owned(text.replace(secret.as_str(), REDACTED));
        }
    }
    text
}

/// Makes panic messages go through [`redact`]: a panic that formats a
/// value holding a secret must not print it. Installed before the
/// arguments are parsed.
pub fn redact_panics() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let message = shutdown::panic_message(info.payload());
        let location = info
            .location()
            .map(|at| format!(" at {}:{}", at.file(), at.line()))
            .unwrap_or_default();
        let redacted = redact(&message);
        if redacted == message {
            default(info);
        } else {
            eprintln!("thread panicked{location}: {redacted}");
        }
    }));
}

/// The secret values, longest first so that a whole URL is replaced before
/// the password inside it. Read once: the environment and the arguments
/// do not change.
fn secrets() -> &'static [String] {
    static SECRETS: OnceLock<Vec<String>> = OnceLock::new();
    SECRETS.get_or_init(|| {
        let args: Vec<String> = std::env::args().collect();
        let mut secrets = Vec::new();
        for setting in SECRET_SETTINGS {
            let flag = format!("--{}", setting.to_lowercase().replace('_', "-"));
            let values = std::env::var(setting)
                .ok()
                .into_iter()
                .chain(given_as_argument(&args, &flag));
            for value in values {
                match setting {
                    "DATABASE_URL" => secrets.extend(url_password(&value)),
                    "PGPASSWORD" => {}
                    _ => secrets.extend(header_values(&value)),
                }
                secrets.push(value);
            }
        }
        secrets.extend(
            password_file()
                .as_deref()
                .map(passwords)
                .unwrap_or_default(),
        );
        // As a JSON log line writes them: a `"` or `\` in a secret is escaped.
        let escaped: Vec<String> = secrets
            .iter()
            .filter_map(|secret| {
                let json = serde_json::to_string(secret).ok()?;
                let inner = &json[1..json.len() - 1];
                (inner != secret).then(|| inner.to_owned())
            })
            .collect();
        secrets.extend(escaped);
        secrets.retain(|secret| secret.len() >= SHORTEST_SECRET);
        secrets.sort_by_key(|secret| std::cmp::Reverse(secret.len()));
        secrets.dedup();
        secrets
    })
}

/// The password file's text: `PGPASSFILE`, else `~/.pgpass`, as libpq and
/// sqlx look for it.
fn password_file() -> Option<String> {
    let path = std::env::var_os("PGPASSFILE")
        .map(std::path::PathBuf::from)
        .or_else(|| Some(std::path::Path::new(&std::env::var_os("HOME")?).join(".pgpass")))?;
    std::fs::read_to_string(path).ok()
}

/// The passwords of a password file's `host:port:database:user:password`
/// lines, `\:` and `\\` unescaped as libpq does.
fn passwords(file: &str) -> Vec<String> {
    file.lines()
        .filter(|line| !line.trim_start().starts_with('#'))
        .filter_map(|line| {
            let mut fields = 0;
            let mut escaped = false;
            for (at, c) in line.char_indices() {
                match c {
                    _ if escaped => escaped = false,
                    '\\' => escaped = true,
                    ':' => {
                        fields += 1;
                        if fields == 4 {
                            let raw = &line[at + 1..];
                            return Some(raw.replace("\\:", ":").replace("\\\\", "\\"));
                        }
                    }
                    _ => {}
                }
            }
            None
        })
        .collect()
}

/// The values of `--flag VALUE` and `--flag=VALUE` on the command line.
fn given_as_argument(args: &[String], flag: &str) -> Vec<String> {
    let prefix = format!("{flag}=");
    args.iter()
        .enumerate()
        .filter_map(|(at, arg)| {
            if arg == flag {
                args.get(at + 1).cloned()
            } else {
                arg.strip_prefix(&prefix).map(str::to_owned)
            }
        })
        .collect()
}

/// The password of `scheme://user:password@host…`, as written and
/// percent-decoded. Found by position, not by a URL parser: the URLs that
/// leak are the ones a parser rejects (a raw `/`, `#`, `?` or `@` in the
/// password), so the password runs from the first `:` after the scheme to
/// the last `@`.
fn url_password(url: &str) -> Vec<String> {
    let Some((_, rest)) = url.split_once("://") else {
        return Vec::new();
    };
    let Some((userinfo, _)) = rest.rsplit_once('@') else {
        return Vec::new();
    };
    let Some((_, password)) = userinfo.split_once(':') else {
        return Vec::new();
    };
    let decoded = percent_decode(password);
    vec![password.to_owned(), decoded]
}

/// The values of `key=value,key=value` (the OTLP headers' format), as
/// written and percent-decoded.
fn header_values(headers: &str) -> Vec<String> {
    headers
        .split(',')
        .filter_map(|pair| pair.split_once('='))
        .flat_map(|(_, value)| [value.trim().to_owned(), percent_decode(value.trim())])
        .collect()
}

fn percent_decode(text: &str) -> String {
    percent_encoding::percent_decode_str(text)
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_is_found_whatever_it_contains() {
        for password in ["pa/ss", "pa#ss", "pa?ss", "p@ss", "p:ss"] {
            let url = format!("postgres://app:{password}@db.internal:5432/app");
            assert!(
                url_password(&url).contains(&password.to_owned()),
                "{url}: {:?}",
                url_password(&url)
            );
        }
        assert_eq!(
            url_password("postgres://app:p%40ss%2Fw@db/app"),
            ["p%40ss%2Fw", "p@ss/w"]
        );
        assert!(url_password("postgres://app@db/app").is_empty());
    }

    #[test]
    fn header_values_are_secrets_and_their_names_are_not() {
        assert_eq!(
            header_values("authorization=Bearer%20abc123,x-tenant=t1"),
            ["Bearer%20abc123", "Bearer abc123", "t1", "t1"]
        );
    }

    #[test]
    fn a_password_file_gives_its_passwords() {
        let file = "# comment\ndb:5432:app:app:s3cret\n*:*:*:other:pa\\:ss\nbroken line\n";
        assert_eq!(passwords(file), ["s3cret", "pa:ss"]);
    }

    #[test]
    fn a_flag_value_is_found_in_both_spellings() {
        let args: Vec<String> = ["api", "--database-url", "a", "--database-url=b"]
            .map(str::to_owned)
            .to_vec();
        assert_eq!(given_as_argument(&args, "--database-url"), ["a", "b"]);
    }
}
