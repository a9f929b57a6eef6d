//! A YAML tree that remembers where every node came from.
//!
//! `serde_yaml` (and `serde_yaml::Value`) forget positions once a value has
//! parsed, yet every job error must name its line and column, including
//! errors about values that are valid YAML but wrong for the schema. So we
//! build our own tree from `yaml-rust2`'s marked events: each node keeps its
//! 1-based line/column, whether a scalar was quoted, and mappings keep their
//! key order (needed to report duplicate keys and unknown keys in order).
//!
//! The builder resolves aliases (bounded, so an alias bomb cannot blow up
//! memory) and rejects what JOB.md §1 forbids at the YAML level: several
//! documents, merge keys (`<<`), non-scalar keys and duplicate keys.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// A 1-based position in the job file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Pos {
    /// Line, counting from 1.
    pub line: usize,
    /// Column in characters, counting from 1.
    pub column: usize,
}

impl Pos {
    /// The start of the file.
    pub const START: Pos = Pos { line: 1, column: 1 };

    fn from_marker(m: &Marker) -> Pos {
        // yaml-rust2 lines start at 1 but its columns start at 0.
        Pos {
            line: m.line().max(1),
            column: m.col() + 1,
        }
    }
}

/// How a scalar was written. Type resolution depends on it: a quoted `"3"`
/// is a string, a plain `3` is an integer (JOB.md §2 notes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// Unquoted (`plain`) scalar: subject to null/bool/int resolution.
    Plain,
    /// Single- or double-quoted, or a block scalar (`|`, `>`): always a string.
    Quoted,
}

/// One node of the tree.
#[derive(Debug, Clone)]
pub struct Node {
    /// Where the node starts.
    pub pos: Pos,
    /// What it is.
    pub kind: Kind,
}

/// The three YAML node kinds.
#[derive(Debug, Clone)]
pub enum Kind {
    /// A scalar with its text and quoting style.
    Scalar(String, Style),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, keys in file order; keys are scalars (enforced by the builder).
    Map(Vec<(Key, Node)>),
}

/// A mapping key: always a scalar.
#[derive(Debug, Clone)]
pub struct Key {
    /// The key text.
    pub name: String,
    /// Where the key starts.
    pub pos: Pos,
}

impl Node {
    /// `true` for a plain empty scalar, `~` or `null` (any case): YAML's null.
    pub fn is_null(&self) -> bool {
        matches!(&self.kind, Kind::Scalar(s, Style::Plain)
            if s.is_empty() || s == "~" || s.eq_ignore_ascii_case("null"))
    }

    /// A short name of the node kind, for "expected X, found Y" messages.
    pub fn kind_name(&self) -> &'static str {
        match &self.kind {
            Kind::Scalar(..) if self.is_null() => "null",
            Kind::Scalar(..) => "a scalar",
            Kind::Seq(_) => "a list",
            Kind::Map(_) => "a mapping",
        }
    }
}

/// A YAML-level problem (JOB.md V-1): text without the `invalid YAML: ` prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    /// The YAML path of the mapping holding a bad key, or `""` for syntax errors.
    pub path: String,
    /// What is wrong.
    pub detail: String,
    /// Where.
    pub pos: Pos,
}

/// Deepest nesting accepted: a job file needs 5 levels; the bound keeps
/// every recursive walk of the tree (and its drop) far from the stack limit.
const MAX_DEPTH: usize = 64;

/// The position of the first tab at or after character `from`.
fn first_tab_from(text: &str, from: usize) -> Option<Pos> {
    let mut pos = Pos::START;
    for (i, c) in text.chars().enumerate() {
        if i >= from && c == '\t' {
            return Some(pos);
        }
        if c == '\n' {
            pos.line += 1;
            pos.column = 1;
        } else {
            pos.column += 1;
        }
    }
    None
}

/// Upper bound on nodes produced (aliases included): far above any real job,
/// far below anything that could exhaust memory.
const MAX_NODES: usize = 100_000;

/// Parses `text` into one positioned tree. On syntax errors, returns those
/// only (the tree is incomplete); otherwise the tree (`None` for an empty
/// file) plus any structural problems (duplicate keys, merge keys, ...).
pub fn parse(text: &str) -> Result<(Option<Node>, Vec<YamlError>), Vec<YamlError>> {
    let mut b = Builder::default();
    let mut parser = Parser::new_from_str(text);
    if let Err(e) = parser.load(&mut b, true) {
        let mut pos = Pos::from_marker(e.marker());
        // yaml-rust2 marks a tab error where the token it was scanning
        // stopped (often the end of the line before): point at the tab.
        if e.info().contains("tab") {
            if let Some(tab) = first_tab_from(text, e.marker().index()) {
                pos = tab;
            }
        }
        return Err(vec![YamlError {
            path: String::new(),
            detail: e.info().to_owned(),
            pos,
        }]);
    }
    if let Some(fatal) = b.fatal {
        return Err(vec![fatal]);
    }
    let mut errors = b.errors;
    if b.docs.len() > 1 {
        let pos = b.docs.get(1).map_or(Pos::START, |d| d.pos);
        errors.push(YamlError {
            path: String::new(),
            detail: format!(
                "found {} documents, a job file holds exactly one",
                b.docs.len()
            ),
            pos,
        });
    }
    let root = b.docs.into_iter().next();
    let mut errs = errors;
    if let Some(root) = &root {
        check_maps(root, "", &mut errs);
    }
    Ok((root, errs))
}

/// Builds the tree from events. Frames are open collections.
#[derive(Default)]
struct Builder {
    stack: Vec<Frame>,
    anchors: HashMap<usize, Node>,
    docs: Vec<Node>,
    errors: Vec<YamlError>,
    /// An error after which the tree cannot be trusted (alias bomb, bad alias).
    fatal: Option<YamlError>,
    nodes: usize,
}

enum Frame {
    Seq {
        pos: Pos,
        anchor: usize,
        items: Vec<Node>,
    },
    Map {
        pos: Pos,
        anchor: usize,
        entries: Vec<(Key, Node)>,
        key: Option<Node>,
    },
}

impl Builder {
    fn open(&mut self, frame: Frame, pos: Pos) {
        if self.stack.len() >= MAX_DEPTH {
            self.fatal = Some(YamlError {
                path: String::new(),
                detail: format!("nesting deeper than {MAX_DEPTH} levels"),
                pos,
            });
            return;
        }
        if self.count(1, pos) {
            self.stack.push(frame);
        }
    }

    fn count(&mut self, n: usize, pos: Pos) -> bool {
        self.nodes = self.nodes.saturating_add(n);
        if self.nodes > MAX_NODES && self.fatal.is_none() {
            self.fatal = Some(YamlError {
                path: String::new(),
                detail: format!("more than {MAX_NODES} nodes (alias expansion?)"),
                pos,
            });
        }
        self.fatal.is_none()
    }

    /// Hands a finished node to its parent (or makes it a document root).
    fn complete(&mut self, node: Node, anchor: usize) {
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
        match self.stack.last_mut() {
            None => self.docs.push(node),
            Some(Frame::Seq { items, .. }) => items.push(node),
            Some(Frame::Map { entries, key, .. }) => match key.take() {
                None => *key = Some(node),
                Some(k) => {
                    let key = match k.kind {
                        Kind::Scalar(name, style) => {
                            if name == "<<" && style == Style::Plain {
                                self.errors.push(YamlError {
                                    path: String::new(),
                                    detail: "merge keys ('<<') are not allowed: they hide which key set a value".into(),
                                    pos: k.pos,
                                });
                            }
                            Key { name, pos: k.pos }
                        }
                        _ => {
                            self.errors.push(YamlError {
                                path: String::new(),
                                detail: format!(
                                    "mapping keys must be scalars, found {}",
                                    k.kind_name()
                                ),
                                pos: k.pos,
                            });
                            Key {
                                name: String::new(),
                                pos: k.pos,
                            }
                        }
                    };
                    entries.push((key, node));
                }
            },
        }
    }
}

fn node_size(n: &Node) -> usize {
    match &n.kind {
        Kind::Scalar(..) => 1,
        Kind::Seq(items) => 1 + items.iter().map(node_size).sum::<usize>(),
        Kind::Map(entries) => 1 + entries.iter().map(|(_, v)| 1 + node_size(v)).sum::<usize>(),
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if self.fatal.is_some() {
            return;
        }
        let pos = Pos::from_marker(&mark);
        match ev {
            Event::Scalar(value, style, anchor, _tag) => {
                if !self.count(1, pos) {
                    return;
                }
                let style = match style {
                    TScalarStyle::Plain => Style::Plain,
                    _ => Style::Quoted,
                };
                self.complete(
                    Node {
                        pos,
                        kind: Kind::Scalar(value, style),
                    },
                    anchor,
                );
            }
            Event::SequenceStart(anchor, _) => {
                let frame = Frame::Seq {
                    pos,
                    anchor,
                    items: Vec::new(),
                };
                self.open(frame, pos);
            }
            Event::MappingStart(anchor, _) => {
                let frame = Frame::Map {
                    pos,
                    anchor,
                    entries: Vec::new(),
                    key: None,
                };
                self.open(frame, pos);
            }
            Event::SequenceEnd | Event::MappingEnd => match self.stack.pop() {
                Some(Frame::Seq { pos, anchor, items }) => {
                    self.complete(
                        Node {
                            pos,
                            kind: Kind::Seq(items),
                        },
                        anchor,
                    );
                }
                Some(Frame::Map {
                    pos,
                    anchor,
                    entries,
                    ..
                }) => {
                    // yaml-rust2 marks a block mapping at its first ':'; the
                    // first key is where a reader looks for it.
                    let pos = entries.first().map_or(pos, |(k, _)| k.pos.min(pos));
                    self.complete(
                        Node {
                            pos,
                            kind: Kind::Map(entries),
                        },
                        anchor,
                    );
                }
                None => {}
            },
            Event::Alias(id) => match self.anchors.get(&id).cloned() {
                Some(mut node) => {
                    if self.count(node_size(&node), pos) {
                        // Errors about the value point at the alias use.
                        node.pos = pos;
                        self.complete(node, 0);
                    }
                }
                None => {
                    self.fatal = Some(YamlError {
                        path: String::new(),
                        detail: "alias refers to an unknown anchor".into(),
                        pos,
                    });
                }
            },
            Event::Nothing
            | Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart
            | Event::DocumentEnd => {}
        }
    }
}

/// Joins a YAML path and a key: `a.b` + `c` → `a.b.c`.
pub fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// Reports duplicate keys in every mapping of the tree.
fn check_maps(node: &Node, path: &str, errors: &mut Vec<YamlError>) {
    match &node.kind {
        Kind::Scalar(..) => {}
        Kind::Seq(items) => {
            for (i, item) in items.iter().enumerate() {
                check_maps(item, &format!("{path}[{i}]"), errors);
            }
        }
        Kind::Map(entries) => {
            for (i, (k, v)) in entries.iter().enumerate() {
                if entries[..i].iter().any(|(prev, _)| prev.name == k.name) {
                    errors.push(YamlError {
                        path: path.to_owned(),
                        detail: format!("duplicate key '{}'", k.name),
                        pos: k.pos,
                    });
                }
                check_maps(v, &join(path, &k.name), errors);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based() {
        let (root, errs) = parse("a:\n  b: 'x'\n  c: [1, 2]\n").unwrap();
        assert!(errs.is_empty());
        let Kind::Map(top) = root.unwrap().kind else {
            panic!()
        };
        assert_eq!(top[0].0.pos, Pos { line: 1, column: 1 });
        let Kind::Map(inner) = &top[0].1.kind else {
            panic!()
        };
        assert_eq!(inner[0].0.pos, Pos { line: 2, column: 3 });
        assert_eq!(inner[0].1.pos, Pos { line: 2, column: 6 });
        assert!(matches!(&inner[0].1.kind, Kind::Scalar(s, Style::Quoted) if s == "x"));
        assert_eq!(inner[1].1.pos, Pos { line: 3, column: 6 });
    }

    #[test]
    fn aliases_resolve_and_bombs_stop() {
        let (root, errs) = parse("a: &x hi\nb: *x\n").unwrap();
        assert!(errs.is_empty());
        let Kind::Map(top) = root.unwrap().kind else {
            panic!()
        };
        assert!(matches!(&top[1].1.kind, Kind::Scalar(s, _) if s == "hi"));
        assert_eq!(top[1].1.pos, Pos { line: 2, column: 4 });

        let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 0..8 {
            let prev = (b'a' + i) as char;
            let next = (b'a' + i + 1) as char;
            bomb.push_str(&format!(
                "{next}: &{next} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"
            ));
        }
        let errs = parse(&bomb).unwrap_err();
        assert!(errs[0].detail.contains("nodes"), "{errs:?}");

        // Below the parser's own recursion limit, our depth bound applies.
        let deep = format!("{}{}", "[".repeat(100), "]".repeat(100));
        let errs = parse(&deep).unwrap_err();
        assert!(errs[0].detail.contains("nesting"), "{errs:?}");
        let deeper = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
        assert!(parse(&deeper).is_err());
    }

    #[test]
    fn duplicate_and_merge_keys() {
        let (_, errs) = parse("a: 1\nb:\n  c: 1\n  c: 2\n<<: {d: 1}\n").unwrap();
        let details: Vec<_> = errs
            .iter()
            .map(|e| (e.path.as_str(), e.detail.as_str(), e.pos.line))
            .collect();
        assert!(
            details.contains(&("b", "duplicate key 'c'", 4)),
            "{details:?}"
        );
        assert!(
            details
                .iter()
                .any(|d| d.1.starts_with("merge keys") && d.2 == 5),
            "{details:?}"
        );
    }

    #[test]
    fn a_tab_error_points_at_the_tab() {
        // The tab starts line 3; yaml-rust2's marker is at the end of line 2.
        let errs = parse("keyrotate:\n  apiVersion: v1\n\tbucket: b\n").unwrap_err();
        assert!(errs[0].detail.contains("tab"), "{errs:?}");
        assert_eq!(errs[0].pos, Pos { line: 3, column: 1 }, "{errs:?}");
    }

    #[test]
    fn syntax_error_has_position() {
        let errs = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert_eq!(errs.len(), 1);
        assert!(errs[0].pos.line >= 1);
    }
}
