//! Structure-aware inputs for the TOML parsers: edits of a known-good
//! document (a key set to another value, removed, or added), so that the
//! fuzzer reaches the checks behind the syntax. The raw-text path covers
//! the syntax itself.

use arbitrary::{Arbitrary, Unstructured};
use std::sync::OnceLock;
use toml::{Table, Value};

/// A value to put at a key.
#[derive(Arbitrary, Debug)]
pub enum NewValue {
    Remove,
    Int(i64),
    /// A multiple of the 4 KiB page.
    Pages(u32),
    /// A power of two.
    Pow2(u8),
    Str(String),
    Bool(bool),
    Float(f64),
    /// `{ start, size }`, the shape of a region.
    Region {
        start: u64,
        size: u64,
    },
    Array(Vec<i32>),
    EmptyTable,
}

impl NewValue {
    fn value(&self) -> Option<Value> {
        // TOML integers are i64: larger u64s wrap into negatives, which the
        // parser must refuse as well.
        let int = |v: u64| Value::Integer(v as i64);
        Some(match self {
            NewValue::Remove => return None,
            NewValue::Int(v) => Value::Integer(*v),
            NewValue::Pages(p) => int(u64::from(*p) << 12),
            NewValue::Pow2(n) => int(1u64 << (n % 64)),
            NewValue::Str(s) => Value::String(s.clone()),
            NewValue::Bool(b) => Value::Boolean(*b),
            NewValue::Float(f) => Value::Float(*f),
            NewValue::Region { start, size } => {
                let mut t = Table::new();
                t.insert("start".into(), int(*start));
                t.insert("size".into(), int(*size));
                Value::Table(t)
            }
            NewValue::Array(a) => {
                Value::Array(a.iter().map(|v| Value::Integer(i64::from(*v))).collect())
            }
            NewValue::EmptyTable => Value::Table(Table::new()),
        })
    }
}

/// One edit: which key (an index into the document's keys; past them, a
/// new key of the given name in the table of the key it lands on).
#[derive(Arbitrary, Debug)]
pub struct Edit {
    pub key: u16,
    pub new_key: Option<String>,
    pub value: NewValue,
}

/// Every key path of `t`, tables and arrays of tables walked.
fn walk_table(t: &Table, prefix: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
    for (k, v) in t {
        prefix.push(Step::Key(k.clone()));
        out.push(prefix.clone());
        walk(v, prefix, out);
        prefix.pop();
    }
}

fn walk(v: &Value, prefix: &mut Vec<Step>, out: &mut Vec<Vec<Step>>) {
    match v {
        Value::Table(t) => walk_table(t, prefix, out),
        Value::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                prefix.push(Step::Index(i));
                out.push(prefix.clone());
                walk(v, prefix, out);
                prefix.pop();
            }
        }
        _ => {}
    }
}

#[derive(Clone, Debug)]
pub enum Step {
    Key(String),
    Index(usize),
}

/// Applies `edits` to `doc` in turn. `keys` are the document's key paths
/// before the edits: a key an earlier edit removed is skipped, one it
/// added is not a target.
fn apply(doc: &mut Table, keys: &[Vec<Step>], edits: &[Edit]) {
    let mut root = Value::Table(std::mem::take(doc));
    for e in edits {
        let Some(path) = keys.get(usize::from(e.key) % keys.len().max(1)) else {
            break;
        };
        let (last, parent) = path.split_last().expect("paths are non-empty");
        let Some(container) = lookup(&mut root, parent) else {
            continue;
        };
        match (container, last, &e.new_key, e.value.value()) {
            (Value::Table(t), _, Some(name), Some(v)) => {
                t.insert(name.clone(), v);
            }
            (Value::Table(t), Step::Key(k), None, v) => match v {
                Some(v) => {
                    t.insert(k.clone(), v);
                }
                None => {
                    t.remove(k);
                }
            },
            (Value::Array(a), Step::Index(i), _, v) if *i < a.len() => match v {
                Some(v) => a[*i] = v,
                None => {
                    a.remove(*i);
                }
            },
            _ => {}
        }
    }
    if let Value::Table(t) = root {
        *doc = t;
    }
}

/// The value at `path` below `root`.
fn lookup<'a>(root: &'a mut Value, path: &[Step]) -> Option<&'a mut Value> {
    let mut v = root;
    for s in path {
        v = match (v, s) {
            (Value::Table(t), Step::Key(k)) => t.get_mut(k)?,
            (Value::Array(a), Step::Index(i)) => a.get_mut(*i)?,
            _ => return None,
        };
    }
    Some(v)
}

/// What an input describes: raw text (first byte even) or edits of a
/// known-good document (odd).
pub enum Document {
    Text(String),
    Table(Table),
}

/// The known-good document the edits start from, parsed once.
pub struct Base {
    text: &'static str,
    parsed: OnceLock<(Table, Vec<Vec<Step>>)>,
}

impl Base {
    pub const fn new(text: &'static str) -> Base {
        Base {
            text,
            parsed: OnceLock::new(),
        }
    }

    /// The document `data` describes; `None` if the text is not UTF-8.
    pub fn document(&self, data: &[u8]) -> Option<Document> {
        let (mode, rest) = data.split_first()?;
        if mode % 2 == 0 {
            return std::str::from_utf8(rest)
                .ok()
                .map(|t| Document::Text(t.to_owned()));
        }
        let (table, keys) = self.parsed.get_or_init(|| {
            let table: Table = self.text.parse().expect("the base document parses");
            let mut keys = Vec::new();
            walk_table(&table, &mut Vec::new(), &mut keys);
            (table, keys)
        });
        let edits = Vec::<Edit>::arbitrary_take_rest(Unstructured::new(rest)).ok()?;
        let mut doc = table.clone();
        apply(&mut doc, keys, &edits);
        Some(Document::Table(doc))
    }
}
