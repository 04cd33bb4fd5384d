//! The example binaries' command lines, run as a user runs them: bad flags
//! and unwritable outputs exit non-zero before any work, and a diverging
//! run exits non-zero without writing its model.
//!
//! The binaries are the ones `cargo test` builds next to this test
//! (`target/<profile>/examples/`); build them first when running this file
//! alone (`cargo build --release --examples`).

use std::path::PathBuf;
use std::process::{Command, Output};

/// Runs example `name` with `args`.
fn run(name: &str, args: &[&str]) -> Output {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(|deps| deps.parent()).unwrap();
    let bin: PathBuf = dir.join("examples").join(name);
    assert!(
        bin.exists(),
        "{} not built: run `cargo build --release --examples` (cargo test builds it)",
        bin.display()
    );
    Command::new(&bin).args(args).output().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn help_lists_flags_with_defaults() {
    let out = run("train_digits", &["--help"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("--epochs") && text.contains("[default: 30]"),
        "{text}"
    );
}

#[test]
fn bad_flags_are_refused_with_a_non_zero_exit() {
    let cases: [(&str, &[&str]); 6] = [
        ("train_digits", &["--epoch", "1"]),
        ("train_digits", &["--lr"]),
        ("train_digits", &["--lr", "inf"]),
        ("cnn_digits", &["--lr", "-1"]),
        ("init_study", &["--depths", ""]),
        ("rnn_memory", &["--lengths", "x"]),
    ];
    for (name, args) in cases {
        let out = run(name, args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{name} {args:?}: {}",
            stderr(&out)
        );
        assert!(stderr(&out).contains("error"), "{name} {args:?}");
    }
}

#[test]
fn an_unwritable_out_is_refused_before_training() {
    for (name, out) in [
        ("train_digits", "/proc/x/y/model.safetensors"),
        ("init_study", "/proc/x/y"),
        ("rnn_memory", "/proc/x/y"),
    ] {
        let res = run(name, &["--out", out]);
        assert_eq!(res.status.code(), Some(1), "{name}");
        let err = stderr(&res);
        assert!(err.contains("/proc/x/y"), "{name}: {err}");
        assert!(
            res.stdout.is_empty(),
            "{name} started work: {:?}",
            res.stdout
        );
    }
}

#[test]
fn a_diverging_run_exits_non_zero_without_writing_the_model() {
    let dir = std::env::temp_dir().join(format!("tapegrad-cli-{}", std::process::id()));
    let model = dir.join("model.safetensors");
    let res = run(
        "train_digits",
        &[
            "--lr",
            "1e30",
            "--epochs",
            "2",
            "--out",
            model.to_str().unwrap(),
        ],
    );
    let err = stderr(&res);
    let saved = model.exists();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(res.status.code(), Some(1), "{err}");
    assert!(err.contains("training diverged"), "{err}");
    assert!(!saved, "the diverged model was written");
}
