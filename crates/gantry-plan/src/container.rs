//! The typed `container:` and `services.<id>:` of a job, as the executor receives them.
//!
//! Every text field holds template text (GitHub allows `${{ }}` in all of them); the executor
//! evaluates it when the job starts, with the job's contexts. The types serialise, since remote
//! agents receive them inside a [`crate::JobSpec`].
//!
//! Invariant: a password never shows in `Debug` output, whether it is a literal or a template.
//! Tests: `tests/lower.rs` (lowering), the executor's `container` tests (evaluation).

use std::fmt;

use serde::{Deserialize, Serialize};

/// A job container or a service container. `container: IMAGE` (the short form) is an image
/// with everything else empty.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerSpec {
    /// The image; a `docker://` prefix is kept as written.
    pub image: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<CredentialsSpec>,
    /// `env:` in order, name -> template.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub env: Vec<(String, String)>,
    /// `ports:` (`5432`, `8080:80`, `127.0.0.1:5432:5432/tcp`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<String>,
    /// `volumes:` (`name:/path`, `/host:/path`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<String>,
    /// `options:`, `docker create` flags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub options: Option<String>,
    /// Service containers only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<String>,
    /// Service containers only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
}

/// `credentials:` for the image pull.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredentialsSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<String>,
}

impl fmt::Debug for CredentialsSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CredentialsSpec")
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

/// A job's `services:`, in the order written; the key is the service's network alias.
pub type ServicesSpec = Vec<(String, ContainerSpec)>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_password() {
        let credentials = CredentialsSpec {
            username: Some("octo".into()),
            password: Some("hunter2".into()),
        };
        let spec = ContainerSpec {
            image: "registry.example/app:1".into(),
            credentials: Some(credentials),
            ..ContainerSpec::default()
        };
        let debug = format!("{spec:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(
            debug.contains("<redacted>") && debug.contains("octo"),
            "{debug}"
        );
    }

    #[test]
    fn serialises_without_empty_fields_and_back() {
        let spec = ContainerSpec {
            image: "postgres:${{ matrix.pg }}".into(),
            env: vec![("POSTGRES_PASSWORD".into(), "${{ secrets.PG }}".into())],
            ports: vec!["5432".into()],
            options: Some("--health-cmd pg_isready".into()),
            ..ContainerSpec::default()
        };
        let json = serde_json::to_value(&spec).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "image": "postgres:${{ matrix.pg }}",
                "env": [["POSTGRES_PASSWORD", "${{ secrets.PG }}"]],
                "ports": ["5432"],
                "options": "--health-cmd pg_isready",
            })
        );
        let back: ContainerSpec = serde_json::from_value(json).unwrap();
        assert_eq!(back, spec);
    }
}
