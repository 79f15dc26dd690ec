//! GitHub's matrix expansion: `strategy.matrix` (already evaluated to JSON) -> the list of
//! combinations, each a JSON object, in GitHub's order; plus the display name of a matrix job.
//!
//! The algorithm ("Expanding or adding matrix configurations" in GitHub's docs):
//! 1. the cartesian product of the axes, in the order they are written (last axis varies fastest);
//! 2. `exclude` removes every combination that matches all the keys an entry gives (a partial
//!    match is enough);
//! 3. each `include` entry is merged into every original combination whose original axis values it
//!    does not overwrite (values added by earlier includes may be overwritten); an entry that fits
//!    no original combination becomes a combination of its own. With no axes at all, every include
//!    entry is a combination.
//!
//! Invariant: user input never panics; more than [`MAX_COMBINATIONS`] combinations is an error
//! (checked before building the product, so a huge product does not allocate).
//! Tests: `tests/matrix.rs` (the examples from GitHub's docs plus edge cases).

use serde_json::{Map, Value};

/// GitHub's limit on the jobs one matrix may generate.
pub const MAX_COMBINATIONS: usize = 256;

/// One matrix combination: axis (and include) keys to values, in display order.
pub type Combination = Map<String, Value>;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MatrixError {
    #[error("the matrix must be a mapping, found {0}")]
    NotAMapping(&'static str),
    #[error("matrix vector '{0}' must be a sequence, found {1}")]
    AxisNotASequence(String, &'static str),
    #[error("matrix vector '{0}' does not contain any values")]
    EmptyAxis(String),
    #[error("matrix '{0}' must be a sequence of mappings")]
    BadFilterList(&'static str),
    #[error("matrix exclude key '{0}' does not match any key within the matrix")]
    UnknownExcludeKey(String),
    #[error("the matrix has {0} combinations, more than the limit of {MAX_COMBINATIONS}")]
    TooManyCombinations(usize),
    #[error("the matrix does not produce any combination")]
    Empty,
}

fn kind_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a sequence",
        Value::Object(_) => "a mapping",
    }
}

/// Structural equality, with numbers compared by value (`1` equals `1.0`).
pub fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| json_eq(p, q))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)))
        }
        _ => a == b,
    }
}

fn filter_list(
    matrix: &Map<String, Value>,
    key: &'static str,
) -> Result<Vec<Combination>, MatrixError> {
    match matrix.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                Value::Object(map) => Ok(map.clone()),
                _ => Err(MatrixError::BadFilterList(key)),
            })
            .collect(),
        Some(_) => Err(MatrixError::BadFilterList(key)),
    }
}

/// Expands an evaluated `strategy.matrix` value into its combinations.
pub fn expand_matrix(matrix: &Value) -> Result<Vec<Combination>, MatrixError> {
    let matrix = match matrix {
        Value::Object(map) => map,
        other => return Err(MatrixError::NotAMapping(kind_name(other))),
    };
    let mut axes: Vec<(&str, &Vec<Value>)> = Vec::new();
    for (key, value) in matrix {
        if key == "include" || key == "exclude" {
            continue;
        }
        match value {
            Value::Array(values) if values.is_empty() => {
                return Err(MatrixError::EmptyAxis(key.clone()))
            }
            Value::Array(values) => axes.push((key, values)),
            other => return Err(MatrixError::AxisNotASequence(key.clone(), kind_name(other))),
        }
    }
    let includes = filter_list(matrix, "include")?;
    let excludes = filter_list(matrix, "exclude")?;
    for exclude in &excludes {
        for key in exclude.keys() {
            if !axes.iter().any(|(axis, _)| axis == key) {
                return Err(MatrixError::UnknownExcludeKey(key.clone()));
            }
        }
    }

    let product_size = axes
        .iter()
        .try_fold(1usize, |acc, (_, values)| acc.checked_mul(values.len()));
    // Excludes can shrink the product, so allow some head room before refusing to build it.
    let product_size = match product_size {
        Some(n) if n <= MAX_COMBINATIONS * 64 => n,
        Some(n) => return Err(MatrixError::TooManyCombinations(n)),
        None => return Err(MatrixError::TooManyCombinations(usize::MAX)),
    };

    let mut combinations: Vec<Combination> = Vec::with_capacity(product_size);
    if !axes.is_empty() {
        combinations.push(Combination::new());
        for (key, values) in &axes {
            let mut next = Vec::with_capacity(combinations.len() * values.len());
            for combination in &combinations {
                for value in values.iter() {
                    let mut extended = combination.clone();
                    extended.insert((*key).to_owned(), value.clone());
                    next.push(extended);
                }
            }
            combinations = next;
        }
    }

    combinations.retain(|combination| {
        !excludes.iter().any(|exclude| {
            exclude
                .iter()
                .all(|(k, v)| combination.get(k).is_some_and(|c| json_eq(c, v)))
        })
    });

    let original_count = combinations.len();
    let mut extra: Vec<Combination> = Vec::new();
    for include in includes {
        let mut merged_any = false;
        for combination in combinations.iter_mut().take(original_count) {
            let fits = include.iter().all(|(k, v)| {
                if axes.iter().any(|(axis, _)| axis == k) {
                    combination.get(k).is_some_and(|c| json_eq(c, v))
                } else {
                    true
                }
            });
            if fits {
                merged_any = true;
                for (k, v) in &include {
                    combination.insert(k.clone(), v.clone());
                }
            }
        }
        if !merged_any {
            extra.push(include);
        }
    }
    combinations.extend(extra);

    if combinations.len() > MAX_COMBINATIONS {
        return Err(MatrixError::TooManyCombinations(combinations.len()));
    }
    if combinations.is_empty() {
        return Err(MatrixError::Empty);
    }
    Ok(combinations)
}

fn push_leaf_texts(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Null => {}
        Value::Bool(b) => out.push(b.to_string()),
        // A leg's name shows its values as `${{ }}` would print them.
        Value::Number(n) => out.push(gantry_expr::number::expression_text(
            n.as_f64().unwrap_or(f64::NAN),
        )),
        Value::String(s) if s.is_empty() => {}
        Value::String(s) => out.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|item| push_leaf_texts(item, out)),
        Value::Object(map) => map.values().for_each(|item| push_leaf_texts(item, out)),
    }
}

/// The `a, b` inside `job (a, b)`: the combination's values in order, nested mappings and
/// sequences flattened, empty and null values left out.
pub fn combination_suffix(combination: &Combination) -> String {
    let mut texts = Vec::new();
    for value in combination.values() {
        push_leaf_texts(value, &mut texts);
    }
    texts.join(", ")
}

/// `name (a, b)`; just `name` when the combination has nothing to show.
pub fn display_name(name: &str, combination: &Combination) -> String {
    let suffix = combination_suffix(combination);
    if suffix.is_empty() {
        name.to_owned()
    } else {
        format!("{name} ({suffix})")
    }
}
