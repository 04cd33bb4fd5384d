//! `Tape::summary`: rows as data, gradient norms, source lines, and an
//! aligned table.

use tapegrad_autodiff::{NodeKind, SummaryRow, Tape, TapeSummary, Var};
use tapegrad_tensor::Tensor;

/// The row of `v`.
fn row<'a>(s: &'a TapeSummary, v: Var<'_, f64>) -> &'a SummaryRow {
    &s.rows[v.id()]
}

fn l2(t: &Tensor<f64>) -> f64 {
    t.to_f64_vec().iter().map(|v| v * v).sum::<f64>().sqrt()
}

#[test]
fn rows_describe_every_node() {
    let tape = Tape::<f64>::new();
    let w0 = Tensor::from_vec(vec![0.1, -0.2, 0.3, 0.4, -0.5, 0.6], &[3, 2]);
    let (w, w_line) = (tape.var(w0).label("w"), line!());
    let x = tape.constant(Tensor::ones(&[4, 3]));
    let (z, z_line) = (x.matmul(w), line!());
    let h = z.tanh().label("layer1.act");
    let wt = w.t();
    let loss = h.square().mean_all().label("loss");
    let s = tape.summary();

    assert_eq!(s.rows.len(), tape.len());
    assert!(s
        .rows
        .iter()
        .enumerate()
        .all(|(i, r)| r.id == i && r.grad_norm.is_none()));
    assert!(!s.with_grads);
    let rw = row(&s, w);
    assert_eq!(
        (rw.op, rw.kind, rw.requires_grad),
        ("var", NodeKind::Var, true)
    );
    assert_eq!(
        (rw.shape.as_slice(), rw.parents.len(), rw.label.as_deref()),
        (&[3, 2][..], 0, Some("w"))
    );
    assert_eq!((rw.location.file(), rw.location.line()), (file!(), w_line));
    assert_eq!(rw.bytes, 6 * 8);
    let rx = row(&s, x);
    assert_eq!(
        (rx.op, rx.kind, rx.requires_grad, rx.label.as_deref()),
        ("constant", NodeKind::Constant, false, None)
    );
    let rz = row(&s, z);
    assert_eq!(
        (rz.op, rz.kind, rz.parents.as_slice()),
        ("matmul", NodeKind::Op, &[x.id(), w.id()][..])
    );
    assert_eq!(
        (rz.location.file(), rz.location.line(), rz.shape.as_slice()),
        (file!(), z_line, &[4, 2][..])
    );
    let rh = row(&s, h);
    assert_eq!(
        (rh.op, rh.parents.as_slice(), rh.label.as_deref()),
        ("tanh", &[z.id()][..], Some("layer1.act"))
    );
    // A transpose is a view of w's buffer: counted once, on w's row.
    assert_eq!((row(&s, wt).view_of, row(&s, wt).bytes), (Some(w.id()), 0));
    assert_eq!(s.total_bytes(), tape.bytes());
    assert_eq!(row(&s, loss).shape, Vec::<usize>::new());
}

#[test]
fn summary_with_adds_gradient_norms() {
    let tape = Tape::<f64>::new();
    let w = tape.var(Tensor::from_vec(
        vec![0.1, -0.2, 0.3, 0.4, -0.5, 0.6],
        &[3, 2],
    ));
    let x = tape.constant(Tensor::from_vec(
        (0..12).map(|i| i as f64 / 6.0).collect(),
        &[4, 3],
    ));
    let h = x.matmul(w).tanh();
    let loss = h.square().mean_all();
    let grads = loss.backward_retain_all();
    let s = tape.summary_with(&grads);
    assert!(s.with_grads);
    assert_eq!(row(&s, loss).grad_norm, Some(1.0));
    for v in [w, h] {
        let got = row(&s, v).grad_norm.unwrap();
        assert!(
            (got - l2(&grads[v])).abs() <= 1e-12,
            "{got} vs {}",
            l2(&grads[v])
        );
    }
    assert_eq!(row(&s, x).grad_norm, None); // constants get no gradient
    assert!(s.to_string().lines().next().unwrap().contains("grad L2"));
}

/// Column spans `(start, end)` in chars, read off the table's rule line.
fn spans(rule: &str) -> Vec<(usize, usize)> {
    let chars: Vec<char> = rule.chars().collect();
    let mut spans = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let start = i;
        while i < chars.len() && chars[i] == '-' {
            i += 1;
        }
        spans.push((start, i));
        i += 2; // the two-space gap
    }
    spans
}

/// The trimmed cells of a table line, cut at the rule line's column spans.
fn cut(line: &str, spans: &[(usize, usize)]) -> Vec<String> {
    let chars: Vec<char> = line.chars().collect();
    let cell = |a: usize, b: usize| {
        chars[a.min(chars.len())..b.min(chars.len())]
            .iter()
            .collect::<String>()
    };
    for w in spans.windows(2) {
        assert!(
            cell(w[0].1, w[1].0).chars().all(|c| c == ' '),
            "no gap before column at {} in {line:?}",
            w[1].0
        );
    }
    let last = spans.last().unwrap();
    assert!(
        chars.len() <= last.1,
        "line longer than the table: {line:?}"
    );
    spans
        .iter()
        .map(|&(a, b)| cell(a, b).trim().to_string())
        .collect()
}

#[test]
fn table_lines_are_aligned_and_cells_read_back() {
    let tape = Tape::<f64>::new();
    let ones = Tensor::ones(&[12, 10]);
    let (w, w_line) = (tape.var(ones).label("α-weights"), line!());
    let x = tape.constant(Tensor::ones(&[1, 12])).label("x");
    let y = x.matmul(w).sigmoid() * 3.0;
    let (loss, loss_line) = (y.sum_all().label("a long label for the loss"), line!());
    let grads = loss.backward_retain_all();
    let text = tape.summary_with(&grads).to_string();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), tape.len() + 3, "{text}"); // header, rule, rows, total
    let spans = spans(lines[1]);
    let header = cut(lines[0], &spans);
    assert_eq!(
        header,
        [
            "id",
            "label",
            "op",
            "shape",
            "inputs",
            "bytes",
            "grad L2",
            "created at"
        ]
    );
    let cells: Vec<Vec<String>> = lines[2..2 + tape.len()]
        .iter()
        .map(|l| cut(l, &spans))
        .collect();
    let here = |line: u32| format!("{}:{line}", file!());
    assert_eq!(
        cells[w.id()][..6],
        [
            w.id().to_string(),
            "α-weights".into(),
            "var".into(),
            "[12, 10]".into(),
            "".into(),
            "960 B".into()
        ]
    );
    assert_eq!(cells[w.id()][7], here(w_line));
    let l = &cells[loss.id()];
    assert_eq!(
        (l[1].as_str(), l[2].as_str(), l[3].as_str()),
        ("a long label for the loss", "sum", "[]")
    );
    assert_eq!((l[6].as_str(), l[7].clone()), ("1.000e0", here(loss_line)));
    assert_eq!(cells[x.id()][6], "-"); // no gradient for a constant
    assert!(lines
        .last()
        .unwrap()
        .starts_with(&format!("{} nodes, ", tape.len())));
}

#[test]
fn summary_of_an_empty_tape() {
    let tape = Tape::<f32>::new();
    let text = tape.summary().to_string();
    assert!(
        text.starts_with("id  label  op  shape  inputs  bytes  created at\n"),
        "{text}"
    );
    assert!(text.ends_with("0 nodes, 0 B held"));
}

#[test]
#[should_panic(expected = "summary_with: the gradients belong to another tape")]
fn summary_with_gradients_of_another_tape_panics() {
    let (a, b) = (Tape::<f64>::new(), Tape::<f64>::new());
    let _ = b.var(Tensor::scalar(1.0));
    let grads = a.var(Tensor::scalar(1.0)).backward();
    let _ = b.summary_with(&grads);
}
