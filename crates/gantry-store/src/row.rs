//! Decoding `AnyRow` columns into the typed rows of `model.rs`, and a small builder for queries
//! whose filters vary (`$N` placeholders, which both SQLite and PostgreSQL accept).

use crate::error::Result;
use sqlx::any::{AnyArguments, AnyRow};
use sqlx::query::Query;
use sqlx::{Any, Row};

pub(crate) fn col<T>(row: &AnyRow, name: &str) -> Result<T>
where
    T: for<'r> sqlx::Decode<'r, Any> + sqlx::Type<Any>,
{
    Ok(row.try_get::<T, _>(name)?)
}

/// An argument of a built query.
#[derive(Clone, Debug)]
pub(crate) enum Arg {
    Int(i64),
    Text(String),
}

/// SQL text with numbered placeholders and the arguments they stand for.
#[derive(Default)]
pub(crate) struct Sql {
    pub text: String,
    args: Vec<Arg>,
}

impl Sql {
    pub fn new(text: &str) -> Sql {
        Sql {
            text: text.to_owned(),
            args: Vec::new(),
        }
    }

    pub fn push(&mut self, text: &str) -> &mut Sql {
        self.text.push_str(text);
        self
    }

    /// Appends the placeholder of a new argument.
    pub fn arg(&mut self, arg: Arg) -> &mut Sql {
        self.args.push(arg);
        self.text.push('$');
        self.text.push_str(&self.args.len().to_string());
        self
    }

    pub fn args(&self) -> &[Arg] {
        &self.args
    }

    pub fn query<'q>(text: &'q str, args: &[Arg]) -> Query<'q, Any, AnyArguments<'q>> {
        let mut query = sqlx::query::<Any>(text);
        for arg in args {
            query = match arg {
                Arg::Int(value) => query.bind(*value),
                Arg::Text(value) => query.bind(value.clone()),
            };
        }
        query
    }
}
