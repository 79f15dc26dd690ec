//! Runtime values and the conversions GitHub defines on them.
//!
//! Invariant: `Value` is cheap to clone (strings, arrays and objects are reference counted), and
//! arrays/objects compare by identity (`Arc::ptr_eq`) in expressions, never by content. Object keys
//! keep insertion order and are looked up case-insensitively. Tests: `tests/unit.rs` (coercions,
//! toJSON formatting), `tests/languageservices.rs`.

use std::hash::{Hash, Hasher};
use std::sync::Arc;

use indexmap::{Equivalent, IndexMap};

/// An expression value.
#[derive(Debug, Clone, Default)]
pub enum Value {
    #[default]
    Null,
    Bool(bool),
    Number(f64),
    String(Arc<str>),
    Array(Arc<Vec<Value>>),
    Object(Arc<Map>),
}

/// The kind of a value, named as GitHub names them in messages and test data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValueKind {
    Null,
    Boolean,
    Number,
    String,
    Array,
    Object,
}

impl ValueKind {
    pub fn name(self) -> &'static str {
        match self {
            ValueKind::Null => "Null",
            ValueKind::Boolean => "Boolean",
            ValueKind::Number => "Number",
            ValueKind::String => "String",
            ValueKind::Array => "Array",
            ValueKind::Object => "Object",
        }
    }
}

/// An object key: the original spelling, hashed and compared ignoring case.
#[derive(Debug, Clone)]
struct Key(Arc<str>);

/// A borrowed key for lookups without allocating.
struct KeyRef<'a>(&'a str);

fn fold_chars(s: &str) -> impl Iterator<Item = char> + '_ {
    s.chars().flat_map(char::to_lowercase)
}

fn eq_ignore_case(a: &str, b: &str) -> bool {
    if a.is_ascii() && b.is_ascii() {
        return a.eq_ignore_ascii_case(b);
    }
    fold_chars(a).eq(fold_chars(b))
}

/// Hashes the case-folded UTF-8 bytes in fixed 64-byte chunks, so that keys equal under
/// `eq_ignore_case` hash equally whichever path (ASCII or not) produced the bytes.
fn hash_ignore_case<H: Hasher>(s: &str, state: &mut H) {
    const CHUNK: usize = 64;
    let mut buf = [0u8; CHUNK];
    let mut len = 0;
    // `len < CHUNK` before every write: the buffer is flushed as soon as it is full.
    let mut push = |byte: u8, state: &mut H| {
        buf[len] = byte;
        len += 1;
        if len == CHUNK {
            state.write(&buf);
            len = 0;
        }
    };
    if s.is_ascii() {
        for b in s.bytes() {
            push(b.to_ascii_lowercase(), state);
        }
    } else {
        let mut utf8 = [0u8; 4];
        for c in fold_chars(s) {
            for b in c.encode_utf8(&mut utf8).bytes() {
                push(b, state);
            }
        }
    }
    state.write(&buf[..len]);
    state.write_u8(0xff);
}

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        hash_ignore_case(&self.0, state)
    }
}
impl PartialEq for Key {
    fn eq(&self, other: &Key) -> bool {
        eq_ignore_case(&self.0, &other.0)
    }
}
impl Eq for Key {}
impl Hash for KeyRef<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        hash_ignore_case(self.0, state)
    }
}
impl Equivalent<Key> for KeyRef<'_> {
    fn equivalent(&self, key: &Key) -> bool {
        eq_ignore_case(self.0, &key.0)
    }
}

type Hasher_ = foldhash::fast::RandomState;

/// An object: insertion-ordered, keys compared ignoring case (the first spelling inserted is kept).
#[derive(Debug, Clone, Default)]
pub struct Map {
    entries: IndexMap<Key, Value, Hasher_>,
}

/// Up to this many entries a linear scan beats hashing the key.
const LINEAR_LOOKUP_MAX: usize = 8;

impl Map {
    pub fn new() -> Map {
        Map::default()
    }

    pub fn with_capacity(n: usize) -> Map {
        Map {
            entries: IndexMap::with_capacity_and_hasher(n, Hasher_::default()),
        }
    }

    /// Inserts or replaces (keeping the first key spelling and position).
    pub fn insert(&mut self, key: impl Into<Arc<str>>, value: Value) {
        self.entries.insert(Key(key.into()), value);
    }

    /// Inserts unless a key equal ignoring case is present (then the first one wins, as in
    /// GitHub's `fromJSON`). Returns whether it inserted.
    pub fn insert_if_absent(&mut self, key: impl Into<Arc<str>>, value: Value) -> bool {
        match self.entries.entry(Key(key.into())) {
            indexmap::map::Entry::Occupied(_) => false,
            indexmap::map::Entry::Vacant(slot) => {
                slot.insert(value);
                true
            }
        }
    }

    /// Case-insensitive lookup.
    pub fn get(&self, key: &str) -> Option<&Value> {
        if self.entries.len() <= LINEAR_LOOKUP_MAX {
            return self
                .entries
                .iter()
                .find(|(k, _)| eq_ignore_case(&k.0, key))
                .map(|(_, v)| v);
        }
        self.entries.get(&KeyRef(key))
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.entries.contains_key(&KeyRef(key))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Entries in insertion order, keys as first spelled.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.entries.iter().map(|(k, v)| (&*k.0, v))
    }

    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.entries.keys().map(|k| &*k.0)
    }

    pub fn values(&self) -> impl Iterator<Item = &Value> {
        self.entries.values()
    }
}

impl<K: Into<Arc<str>>> FromIterator<(K, Value)> for Map {
    fn from_iter<I: IntoIterator<Item = (K, Value)>>(iter: I) -> Map {
        let mut map = Map::new();
        for (k, v) in iter {
            map.insert(k, v);
        }
        map
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Value {
        Value::String(Arc::from(s))
    }
}
impl From<String> for Value {
    fn from(s: String) -> Value {
        Value::String(Arc::from(s))
    }
}
impl From<bool> for Value {
    fn from(b: bool) -> Value {
        Value::Bool(b)
    }
}
impl From<f64> for Value {
    fn from(n: f64) -> Value {
        Value::Number(n)
    }
}
impl From<Map> for Value {
    fn from(m: Map) -> Value {
        Value::Object(Arc::new(m))
    }
}
impl From<Vec<Value>> for Value {
    fn from(v: Vec<Value>) -> Value {
        Value::Array(Arc::new(v))
    }
}
impl From<&serde_json::Value> for Value {
    fn from(v: &serde_json::Value) -> Value {
        Value::from_json(v)
    }
}
impl From<&Value> for serde_json::Value {
    fn from(v: &Value) -> serde_json::Value {
        v.to_json()
    }
}

impl Value {
    pub fn string(s: &str) -> Value {
        Value::String(Arc::from(s))
    }

    pub fn kind(&self) -> ValueKind {
        match self {
            Value::Null => ValueKind::Null,
            Value::Bool(_) => ValueKind::Boolean,
            Value::Number(_) => ValueKind::Number,
            Value::String(_) => ValueKind::String,
            Value::Array(_) => ValueKind::Array,
            Value::Object(_) => ValueKind::Object,
        }
    }

    /// Converts JSON into a value (deep copy; JSON `null` is `Null`).
    pub fn from_json(json: &serde_json::Value) -> Value {
        crate::json::from_json(json)
    }

    /// Converts to JSON. NaN and infinities, which JSON cannot hold, become `null`.
    pub fn to_json(&self) -> serde_json::Value {
        crate::json::to_json(self)
    }

    /// GitHub truthiness: `null`, `false`, `0`, `-0`, `NaN` and `''` are false; everything else true.
    pub fn is_truthy(&self) -> bool {
        match self {
            Value::Null => false,
            Value::Bool(b) => *b,
            Value::Number(n) => *n != 0.0 && !n.is_nan(),
            Value::String(s) => !s.is_empty(),
            Value::Array(_) | Value::Object(_) => true,
        }
    }

    /// How a value renders inside a string (`"a ${{ x }} b"`, `format`, `join`), GitHub's string
    /// coercion: null is empty, booleans `true`/`false`, numbers in their shortest form with at
    /// most 15 decimals (`Infinity`, `NaN`), arrays and objects the words `Array` and `Object`
    /// (use `toJSON` to print their content).
    pub fn to_interpolated_string(&self) -> String {
        match self {
            Value::String(s) => s.to_string(),
            other => other.coerce_str().into_owned(),
        }
    }

    /// String coercion without copying strings.
    pub(crate) fn coerce_str(&self) -> std::borrow::Cow<'_, str> {
        use std::borrow::Cow;
        match self {
            Value::Null => Cow::Borrowed(""),
            Value::Bool(true) => Cow::Borrowed("true"),
            Value::Bool(false) => Cow::Borrowed("false"),
            Value::Number(n) => Cow::Owned(crate::number::expression_text(*n)),
            Value::String(s) => Cow::Borrowed(s),
            Value::Array(_) => Cow::Borrowed("Array"),
            Value::Object(_) => Cow::Borrowed("Object"),
        }
    }

    /// Null, boolean, number or string.
    pub fn is_primitive(&self) -> bool {
        !matches!(self, Value::Array(_) | Value::Object(_))
    }

    /// `toJSON`'s form: 2-space indented, `{}` / `[]` when empty, as GitHub prints it.
    pub fn to_json_pretty(&self) -> String {
        crate::json::to_json_pretty(self)
    }

    /// The number this value coerces to (GitHub's rules): null 0, bool 0/1, string parsed
    /// (empty or whitespace is 0, unparsable is NaN), arrays and objects NaN.
    pub fn to_number(&self) -> f64 {
        match self {
            Value::Null => 0.0,
            Value::Bool(b) => f64::from(u8::from(*b)),
            Value::Number(n) => *n,
            Value::String(s) => crate::number::parse_js_number(s).unwrap_or(f64::NAN),
            Value::Array(_) | Value::Object(_) => f64::NAN,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_object(&self) -> Option<&Map> {
        match self {
            Value::Object(m) => Some(m),
            _ => None,
        }
    }

    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }

    /// Case-insensitive property lookup; `Null` when not an object or the key is missing.
    pub fn get(&self, key: &str) -> Value {
        match self {
            Value::Object(m) => m.get(key).cloned().unwrap_or(Value::Null),
            _ => Value::Null,
        }
    }
}

/// Structural equality for Rust code and tests (deep, keys ignoring case, NaN unequal). This is
/// not the expression language's `==`, which coerces and compares arrays/objects by identity.
impl PartialEq for Value {
    fn eq(&self, other: &Value) -> bool {
        match (self, other) {
            (Value::Null, Value::Null) => true,
            (Value::Bool(a), Value::Bool(b)) => a == b,
            (Value::Number(a), Value::Number(b)) => a == b,
            (Value::String(a), Value::String(b)) => a == b,
            (Value::Array(a), Value::Array(b)) => a == b,
            (Value::Object(a), Value::Object(b)) => a == b,
            _ => false,
        }
    }
}

impl PartialEq for Map {
    fn eq(&self, other: &Map) -> bool {
        self.len() == other.len() && self.iter().all(|(k, v)| other.get(k) == Some(v))
    }
}
