//! Database URLs: which backend a URL names, the URL sqlx is given, and the redacted form that
//! is the only one errors and logs may show (password and `password=` parameters hidden).
//! Tests: the unit tests below and `tests/store.rs` (`unreachable_postgres_hides_password`).

use std::fmt;

/// The two databases the store runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// A database URL with its secrets hidden; `Display` and `Debug` show the same redacted text.
#[derive(Clone, PartialEq, Eq)]
pub struct Redacted(String);

impl Redacted {
    pub fn new(url: &str) -> Redacted {
        Redacted(redact(url))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

/// Which backend `url` names and the URL to connect with: `postgres://…`/`postgresql://…`,
/// `sqlite://PATH` (created when missing) or a bare path, which means SQLite.
pub(crate) fn resolve(url: &str) -> Option<(Backend, String)> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Some((Backend::Postgres, url.to_owned()));
    }
    let sqlite = if url.starts_with("sqlite:") {
        url.to_owned()
    } else if url.contains("://") || url.is_empty() {
        return None;
    } else {
        format!("sqlite://{url}")
    };
    // A server's first start creates its database file.
    let with_mode = if sqlite.contains("mode=") {
        sqlite
    } else if sqlite.contains('?') {
        format!("{sqlite}&mode=rwc")
    } else {
        format!("{sqlite}?mode=rwc")
    };
    Some((Backend::Sqlite, with_mode))
}

/// `scheme://user:secret@host/db?password=secret` → `scheme://user:***@host/db?password=***`.
fn redact(url: &str) -> String {
    let (scheme, rest) = match url.find("://") {
        Some(at) => (&url[..at + 3], &url[at + 3..]),
        None => ("", url),
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rfind('@') {
        Some(at) => {
            let (userinfo, host) = authority.split_at(at);
            match userinfo.find(':') {
                Some(colon) => format!("{}:***{host}", &userinfo[..colon]),
                None => authority.to_owned(),
            }
        }
        None => authority.to_owned(),
    };
    let tail = match tail.find('?') {
        Some(q) => {
            let (path, query) = tail.split_at(q + 1);
            let params: Vec<String> = query
                .split('&')
                .map(|param| match param.split_once('=') {
                    Some((key, _)) if key.eq_ignore_ascii_case("password") => {
                        format!("{key}=***")
                    }
                    _ => param.to_owned(),
                })
                .collect();
            format!("{path}{}", params.join("&"))
        }
        None => tail.to_owned(),
    };
    format!("{scheme}{authority}{tail}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords() {
        let cases = [
            (
                "postgres://gantry:s3cret@db:5432/gantry",
                "postgres://gantry:***@db:5432/gantry",
            ),
            (
                "postgres://gantry:p@ss@db/gantry",
                "postgres://gantry:***@db/gantry",
            ),
            (
                "postgres://db/gantry?user=u&password=s3cret&sslmode=require",
                "postgres://db/gantry?user=u&password=***&sslmode=require",
            ),
            ("postgres://gantry@db/gantry", "postgres://gantry@db/gantry"),
            ("/var/lib/gantry/db.sqlite", "/var/lib/gantry/db.sqlite"),
        ];
        for (url, expected) in cases {
            assert_eq!(Redacted::new(url).as_str(), expected, "{url}");
            assert_eq!(format!("{:?}", Redacted::new(url)), format!("{expected:?}"));
        }
    }

    #[test]
    fn resolves_backends() {
        let cases = [
            (
                "postgres://h/db",
                Some((Backend::Postgres, "postgres://h/db")),
            ),
            (
                "postgresql://h/db",
                Some((Backend::Postgres, "postgresql://h/db")),
            ),
            (
                "sqlite:///tmp/a.db",
                Some((Backend::Sqlite, "sqlite:///tmp/a.db?mode=rwc")),
            ),
            (
                "/tmp/a.db",
                Some((Backend::Sqlite, "sqlite:///tmp/a.db?mode=rwc")),
            ),
            (
                "data/a.db",
                Some((Backend::Sqlite, "sqlite://data/a.db?mode=rwc")),
            ),
            (
                "sqlite://a.db?mode=ro",
                Some((Backend::Sqlite, "sqlite://a.db?mode=ro")),
            ),
            ("mysql://h/db", None),
            ("", None),
        ];
        for (url, expected) in cases {
            let got = resolve(url);
            let expected = expected.map(|(backend, url)| (backend, url.to_owned()));
            assert_eq!(got, expected, "{url}");
        }
    }
}
