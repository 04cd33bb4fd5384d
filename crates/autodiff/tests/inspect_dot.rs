//! `Tape::to_dot`: structure (every node once, one edge per input),
//! styles, escaping, gradient norms, and, where Graphviz is installed, that
//! `dot` accepts the output.

use std::collections::HashMap;
use std::io::Write;
use std::process::{Command, Stdio};
use tapegrad_autodiff::Tape;
use tapegrad_tensor::Tensor;

/// A parsed DOT statement: a node `n<id>` with its attributes, or an edge.
#[derive(Debug)]
enum Stmt {
    Node(usize, HashMap<String, String>),
    Edge(usize, usize, HashMap<String, String>),
}

/// Reads one double-quoted DOT string starting at `s[0] == '"'`; returns the
/// unescaped text (DOT's `\n` as a line break) and the rest after the quote.
fn quoted(s: &str) -> (String, &str) {
    let mut out = String::new();
    let mut chars = s[1..].char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return (out, &s[i + 2..]),
            '\\' => match chars.next().expect("dangling backslash").1 {
                'n' => out.push('\n'),
                e => out.push(e),
            },
            '\n' => panic!("raw line break inside a string: {s:?}"),
            c => out.push(c),
        }
    }
    panic!("unterminated string: {s:?}")
}

/// Parses `[k=v, k="v", ...]`.
fn attrs(mut s: &str) -> HashMap<String, String> {
    let mut map = HashMap::new();
    s = s.strip_prefix('[').expect("attribute list");
    loop {
        s = s.trim_start_matches([' ', ',']);
        if let Some(rest) = s.strip_prefix("];") {
            assert!(rest.is_empty(), "trailing text {rest:?}");
            return map;
        }
        let eq = s.find('=').expect("key=value");
        let key = s[..eq].to_string();
        s = &s[eq + 1..];
        let value = if s.starts_with('"') {
            let (v, rest) = quoted(s);
            s = rest;
            v
        } else {
            let end = s.find([',', ']']).expect("end of a bare value");
            let v = s[..end].to_string();
            s = &s[end..];
            v
        };
        map.insert(key, value);
    }
}

/// The node and edge statements of a tape's DOT output.
fn parse(dot: &str) -> Vec<Stmt> {
    let body = dot
        .strip_prefix("digraph tape {\n")
        .and_then(|b| b.strip_suffix("}\n"))
        .expect("digraph");
    let mut stmts = Vec::new();
    for line in body.lines().map(str::trim) {
        if line.starts_with("node [") || line.starts_with("edge [") {
            continue;
        }
        let id = |t: &str| {
            t.strip_prefix('n')
                .and_then(|n| n.parse::<usize>().ok())
                .expect("n<id>")
        };
        let (head, rest) = line.split_at(line.find(" [").expect("statement with attributes"));
        let a = attrs(rest.trim_start());
        stmts.push(match head.split_once(" -> ") {
            Some((from, to)) => Stmt::Edge(id(from), id(to), a),
            None => Stmt::Node(id(head), a),
        });
    }
    stmts
}

/// Runs `dot -Tsvg` on `text` if Graphviz is installed; `None` if it is not.
fn graphviz_svg(text: &str) -> Option<String> {
    let mut child = Command::new("dot")
        .arg("-Tsvg")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .ok()?;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "dot rejected the graph: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8(out.stdout).unwrap())
}

/// A small two-layer net with labels that need escaping.
fn build(tape: &Tape<f64>) -> Vec<tapegrad_autodiff::Var<'_, f64>> {
    let w1 = tape
        .var(Tensor::from_vec(
            (0..6).map(|i| 0.1 * i as f64 - 0.2).collect(),
            &[3, 2],
        ))
        .label("w1");
    let b1 = tape.var(Tensor::zeros(&[2])).label("b1");
    let x = tape.constant(Tensor::ones(&[4, 3])).label("input");
    let h = (x.matmul(w1) + b1)
        .tanh()
        .label("say \"hi\" \\ back\nslash {[<x>]}");
    let w2 = tape.var(Tensor::ones(&[2, 1])).label("w2");
    let loss = (h.matmul(w2) * h.matmul(w2)).mean_all().label("loss");
    vec![w1, b1, x, h, w2, loss]
}

#[test]
fn every_node_once_and_one_edge_per_input() {
    let tape = Tape::<f64>::new();
    build(&tape);
    let stmts = parse(&tape.to_dot());
    let nodes: Vec<usize> = stmts
        .iter()
        .filter_map(|s| {
            if let Stmt::Node(id, _) = s {
                Some(*id)
            } else {
                None
            }
        })
        .collect();
    assert_eq!(nodes, (0..tape.len()).collect::<Vec<_>>());
    let mut edges: Vec<(usize, usize)> = stmts
        .iter()
        .filter_map(|s| {
            if let Stmt::Edge(a, b, _) = s {
                Some((*a, *b))
            } else {
                None
            }
        })
        .collect();
    let summary = tape.summary();
    let mut want: Vec<(usize, usize)> = summary
        .rows
        .iter()
        .flat_map(|r| r.parents.iter().map(move |&p| (p, r.id)))
        .collect();
    assert_eq!(
        edges.len(),
        summary.rows.iter().map(|r| r.parents.len()).sum::<usize>()
    );
    edges.sort();
    want.sort();
    assert_eq!(edges, want);
}

#[test]
fn nodes_are_styled_and_edges_carry_shapes() {
    let tape = Tape::<f64>::new();
    let v = build(&tape);
    let (w1, x, h, loss) = (v[0], v[2], v[3], v[5]);
    let stmts = parse(&tape.to_dot());
    let node = |id: usize| {
        stmts
            .iter()
            .find_map(|s| {
                if let Stmt::Node(n, a) = s {
                    (*n == id).then_some(a)
                } else {
                    None
                }
            })
            .unwrap()
    };
    let a = node(w1.id());
    assert_eq!(
        (a["shape"].as_str(), a["fillcolor"].as_str()),
        ("ellipse", "lightblue")
    );
    assert_eq!(a["label"], format!("#{} var\nw1\n[3, 2]", w1.id()));
    assert_eq!(node(x.id())["fillcolor"], "lightgrey");
    let a = node(loss.id());
    assert_eq!(
        (a["shape"].as_str(), a["label"].as_str()),
        (
            "box",
            format!("#{} mul_scalar\nloss\n[]", loss.id()).as_str()
        )
    );
    assert!(a["tooltip"].starts_with(&format!("{}:", file!())));
    // The edge out of h carries h's shape.
    let out_of_h: Vec<&HashMap<String, String>> = stmts
        .iter()
        .filter_map(|s| {
            if let Stmt::Edge(p, _, a) = s {
                (*p == h.id()).then_some(a)
            } else {
                None
            }
        })
        .collect();
    assert_eq!(out_of_h.len(), 2);
    assert!(out_of_h.iter().all(|a| a["label"] == "[4, 2]"));
}

#[test]
fn labels_are_escaped_and_read_back_intact() {
    let tape = Tape::<f64>::new();
    let h = build(&tape)[3];
    let dot = tape.to_dot();
    assert!(
        dot.contains(r#"say \"hi\" \\ back\nslash {[<x>]}"#),
        "{dot}"
    );
    let label = parse(&dot)
        .into_iter()
        .find_map(|s| {
            if let Stmt::Node(n, a) = s {
                (n == h.id()).then(|| a["label"].clone())
            } else {
                None
            }
        })
        .unwrap();
    assert_eq!(
        label,
        format!(
            "#{} tanh\nsay \"hi\" \\ back\nslash {{[<x>]}}\n[4, 2]",
            h.id()
        )
    );
}

#[test]
fn gradient_norms_on_nodes_and_bad_gradients_in_red() {
    let tape = Tape::<f64>::new();
    let v = build(&tape);
    let (w1, x, loss) = (v[0], v[2], v[5]);
    let grads = loss.backward_retain_all();
    let stmts = parse(&tape.to_dot_with(&grads));
    let label = |id: usize| {
        stmts
            .iter()
            .find_map(|s| {
                if let Stmt::Node(n, a) = s {
                    (*n == id).then(|| a["label"].clone())
                } else {
                    None
                }
            })
            .unwrap()
    };
    let norm = grads[w1]
        .to_f64_vec()
        .iter()
        .map(|g| g * g)
        .sum::<f64>()
        .sqrt();
    assert!(label(w1.id()).ends_with(&format!("\n|g| = {norm:.3e}")));
    assert!(label(loss.id()).ends_with("\n|g| = 1.000e0"));
    assert!(!label(x.id()).contains("|g|"));

    let tape = Tape::<f64>::new();
    let p = tape.var(Tensor::from_vec(vec![0.0, 1.0], &[2]));
    let loss = p.sqrt().sum_all(); // d sqrt / dp = inf at 0
    let dot = tape.to_dot_with(&loss.backward_retain_all());
    let line = dot
        .lines()
        .find(|l| l.trim_start().starts_with(&format!("n{} [", p.id())))
        .unwrap();
    assert!(
        line.contains("|g| = inf") && line.contains("color=red"),
        "{line}"
    );
}

#[test]
fn graphviz_accepts_the_output() {
    let tape = Tape::<f64>::new();
    let loss = *build(&tape).last().unwrap();
    let dot = tape.to_dot_with(&loss.backward_retain_all());
    match graphviz_svg(&dot) {
        Some(svg) => {
            assert!(svg.contains("<svg"));
            assert!(
                svg.contains("say &quot;hi&quot;"),
                "the escaped label should reach the SVG"
            );
        }
        None => {
            eprintln!("graphviz_accepts_the_output: `dot` not installed, checked structure only")
        }
    }
}
