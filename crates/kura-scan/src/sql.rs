//! SQL dumps: maps the values of `INSERT INTO t [(cols)] VALUES (...), (...);` to their
//! columns (from the column list or an earlier `CREATE TABLE t (...)`), so that name,
//! address and password columns are judged like CSV columns.
//!
//! This is a tolerant scanner for dumps (mysqldump, pg_dump --inserts, sqlite3 .dump), not a
//! SQL parser: it understands quoting ('...' with '' or \' escapes, and "`[ quoted names),
//! nesting of parentheses, and nothing else. Values of other columns are left to the regex
//! pass that reads the dump as text.

use std::collections::HashMap;

use memchr::memmem;

use crate::context::{Field, classify_key, person_table};
use crate::detect::{Engine, Hit};

/// What each column of each table holds, by table name (lowercase, schema dropped).
#[derive(Default)]
pub(crate) struct Tables(HashMap<String, Vec<Field>>);

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i].is_ascii_whitespace() {
        i += 1;
    }
    i
}

/// Reads a (possibly quoted, possibly schema-qualified) name at `i`; returns the last part,
/// lowercased, and the index after it.
fn name_at(b: &[u8], mut i: usize) -> (String, usize) {
    loop {
        i = skip_ws(b, i);
        let (part, next) = match b.get(i) {
            Some(&q @ (b'`' | b'"' | b'[')) => {
                let close = if q == b'[' { b']' } else { q };
                let end = memchr::memchr(close, &b[i + 1..]).map_or(b.len(), |e| i + 1 + e);
                (&b[(i + 1).min(end)..end], (end + 1).min(b.len()))
            }
            _ => {
                let s = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] >= 0x80)
                {
                    i += 1;
                }
                (&b[s..i], i)
            }
        };
        let last = String::from_utf8_lossy(part).to_lowercase();
        i = next;
        if b.get(i) == Some(&b'.') {
            i += 1;
        } else {
            return (last, i);
        }
    }
}

/// Splits the parenthesised group starting at `open` (which must be `(`) into the spans of
/// its top-level comma-separated items; returns them and the index after the closing `)`.
fn items(b: &[u8], open: usize) -> (Vec<(usize, usize)>, usize) {
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut start = open + 1;
    let mut i = open;
    while i < b.len() {
        match b[i] {
            b'\'' => {
                i += 1;
                while i < b.len() {
                    if b[i] == b'\\' {
                        i += 2;
                        continue;
                    }
                    if b[i] == b'\'' {
                        if b.get(i + 1) == Some(&b'\'') {
                            i += 2;
                            continue;
                        }
                        break;
                    }
                    i += 1;
                }
            }
            b'(' => depth += 1,
            b')' => {
                depth -= 1;
                if depth == 0 {
                    out.push((start, i));
                    return (out, i + 1);
                }
            }
            b',' if depth == 1 => {
                out.push((start, i));
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    out.push((start, b.len()));
    (out, b.len())
}

fn find_any(hay: &[u8], from: usize, needles: &[&[u8]]) -> Option<usize> {
    needles
        .iter()
        .filter_map(|n| memmem::find(&hay[from.min(hay.len())..], n).map(|i| from + i))
        .min()
}

impl Tables {
    /// Learns the columns of every `CREATE TABLE` in `b`.
    pub(crate) fn learn(&mut self, b: &[u8]) {
        let mut at = 0;
        while let Some(p) = find_any(b, at, &[b"CREATE TABLE", b"create table"]) {
            let mut i = p + 12;
            let rest = skip_ws(b, i);
            if b[rest..].len() >= 13 && b[rest..rest + 13].eq_ignore_ascii_case(b"IF NOT EXISTS") {
                i = rest + 13;
            }
            let (table, after) = name_at(b, i);
            let open = skip_ws(b, after);
            at = open;
            if b.get(open) != Some(&b'(') {
                continue;
            }
            let (defs, end) = items(b, open);
            at = end;
            let mut cols: Vec<Field> = defs
                .iter()
                .filter_map(|&(s, e)| {
                    let def = String::from_utf8_lossy(&b[s..e]);
                    let first = def
                        .split_whitespace()
                        .next()
                        .unwrap_or("")
                        .to_ascii_uppercase();
                    let constraint = [
                        "PRIMARY",
                        "KEY",
                        "UNIQUE",
                        "CONSTRAINT",
                        "INDEX",
                        "FOREIGN",
                        "CHECK",
                        "FULLTEXT",
                    ]
                    .contains(&first.as_str());
                    (!constraint).then(|| classify_key(&name_at(&b[s..e], 0).0))
                })
                .collect();
            person_table(&mut cols);
            self.0.insert(table, cols);
        }
    }

    /// Judges the values of name, address and password columns of every `INSERT` in `b`.
    pub(crate) fn judge_inserts(&self, engine: &Engine, b: &[u8], out: &mut Vec<Hit>) {
        let mut at = 0;
        while let Some(p) = find_any(b, at, &[b"INSERT INTO", b"insert into"]) {
            let (table, after) = name_at(b, p + 11);
            let mut i = skip_ws(b, after);
            at = i;
            let listed: Option<Vec<Field>> = if b.get(i) == Some(&b'(') {
                let (names, end) = items(b, i);
                i = skip_ws(b, end);
                Some(
                    names
                        .iter()
                        .map(|&(s, e)| classify_key(&name_at(&b[s..e], 0).0))
                        .collect(),
                )
            } else {
                None
            };
            let Some(cols) = listed.as_ref().or_else(|| self.0.get(&table)) else {
                continue;
            };
            if !cols.iter().any(|c| c.judged_whole() || *c == Field::Birth) {
                continue;
            }
            if b.len() < i + 6 || !b[i..i + 6].eq_ignore_ascii_case(b"VALUES") {
                continue;
            }
            i += 6;
            // Tuples until the statement ends.
            loop {
                i = skip_ws(b, i);
                if b.get(i) != Some(&b'(') {
                    break;
                }
                let (vals, end) = items(b, i);
                for (col, &(s, e)) in cols.iter().zip(&vals) {
                    if !col.judged_whole() && *col != Field::Birth {
                        continue;
                    }
                    let (s, e) = (skip_ws(b, s), e);
                    let mut e2 = e;
                    while e2 > s && b[e2 - 1].is_ascii_whitespace() {
                        e2 -= 1;
                    }
                    if e2 >= s + 2 && b[s] == b'\'' && b[e2 - 1] == b'\'' {
                        engine.judge_field(b, *col, s + 1, e2 - 1, out);
                    }
                }
                i = skip_ws(b, end);
                at = i;
                if b.get(i) == Some(&b',') {
                    i += 1;
                } else {
                    break;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kind::Kind;

    #[test]
    fn maps_insert_values_to_create_table_columns() {
        let dump = b"CREATE TABLE `shop`.`customers` (\n  `id` int NOT NULL,\n  `full_name` varchar(80),\n  `note` text,\n  PRIMARY KEY (`id`)\n);\nINSERT INTO `customers` VALUES (1,'Caleb Fairbanks','it''s, fine'),(2, 'Wiebke Lindemann', NULL);\nINSERT INTO orders (id, name) VALUES (3, 'Widget 3000');\n";
        let mut t = Tables::default();
        t.learn(dump);
        let engine = Engine::new();
        let mut out = Vec::new();
        t.judge_inserts(&engine, dump, &mut out);
        let names: Vec<&str> = out
            .iter()
            .filter(|h| h.kind == Kind::PersonName)
            .map(|h| std::str::from_utf8(&dump[h.start..h.end]).expect("utf-8"))
            .collect();
        assert_eq!(names, ["Caleb Fairbanks", "Wiebke Lindemann"]);
    }
}
