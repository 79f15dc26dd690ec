//! Secret values: [`Secret`] holds one and redacts itself in `Debug`, `Display` and
//! serialisation; only [`Secret::expose`] gives the value, so every place that reads a secret's
//! text is visible in the code (masking, the `secrets` context, a step's environment).
//!
//! Invariant: a value printed, logged or serialised by accident shows `***`. The run's wire form
//! (a `JobSpec` sent to an agent) carries the values on purpose, through the [`exposed`] serde
//! adapter named on the field. Tests at the bottom.

use std::fmt;

use indexmap::IndexMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// What a redacted secret shows, as GitHub masks it in logs.
pub const REDACTED: &str = "***";

/// One secret value.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

/// Secrets by name, in the order they were given.
pub type Secrets = IndexMap<String, Secret>;

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value itself, for the few places that must have it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Secret {
        Secret(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Secret {
        Secret(value.to_owned())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(REDACTED)
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Secret, D::Error> {
        String::deserialize(deserializer).map(Secret)
    }
}

/// `#[serde(with = "gantry_plan::secret::exposed")]` on a [`Secrets`] field: the values travel
/// as they are, for the wire form a remote executor needs.
pub mod exposed {
    use super::{Secret, Secrets};
    use indexmap::IndexMap;
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(secrets: &Secrets, serializer: S) -> Result<S::Ok, S::Error> {
        let plain: IndexMap<&str, &str> = secrets
            .iter()
            .map(|(name, value)| (name.as_str(), value.expose()))
            .collect();
        plain.serialize(serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Secrets, D::Error> {
        let plain = IndexMap::<String, String>::deserialize(deserializer)?;
        Ok(plain
            .into_iter()
            .map(|(name, value)| (name, Secret(value)))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_shows_only_stars_unless_exposed() {
        let secret = Secret::new("hunter2");
        assert_eq!(format!("{secret:?} {secret}"), "*** ***");
        assert_eq!(serde_json::to_string(&secret).unwrap(), "\"***\"");
        assert_eq!(secret.expose(), "hunter2");
        let secrets = Secrets::from([("TOKEN".to_owned(), secret)]);
        assert!(!format!("{secrets:?}").contains("hunter2"));
    }

    #[test]
    fn the_exposed_adapter_round_trips_the_values() {
        #[derive(Serialize, Deserialize)]
        struct Wire {
            #[serde(with = "exposed")]
            secrets: Secrets,
        }
        let wire = Wire {
            secrets: Secrets::from([("TOKEN".to_owned(), Secret::new("hunter2"))]),
        };
        let text = serde_json::to_string(&wire).unwrap();
        assert_eq!(text, r#"{"secrets":{"TOKEN":"hunter2"}}"#);
        let back: Wire = serde_json::from_str(&text).unwrap();
        assert_eq!(back.secrets, wire.secrets);
    }
}
