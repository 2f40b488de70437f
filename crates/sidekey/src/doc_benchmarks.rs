//! Every benchmark figure the docs give comes with a command that still runs (issue 19, item 8).
//!
//! `docs/benchmarks.md` is the one home of the figures: each `## ` section that gives a figure
//! (a number with a unit: `2.5 ms`, `8.4 MB`, `13,614,376 bytes`, `715,390 Ir`, `5.0×`…) says
//! what was measured, the command, the figure, the date, the machine and its load, as
//! `**What:**`, `**Command:**`, `**Figure:**`, `**Date:**`, `**Machine:**` and `**Load:**`, and
//! its command line names a benchmark. Everywhere in the README and `docs/`, a benchmark command
//! must name one that exists: `cargo bench … --bench NAME` a bench target of the crate (declared
//! in its `Cargo.toml` or found in its `benches/`), `cargo bench|build -p CRATE` a workspace
//! crate, `.ci/bench-NAME` an executable script. A paragraph (or table row) that names a
//! benchmark command outside `docs/benchmarks.md` gives no figure of its own: it points to the
//! page instead.

use std::path::{Path, PathBuf};

/// The fields of a figure's section in `docs/benchmarks.md`.
const FIELDS: &[&str] = &["What", "Command", "Figure", "Date", "Machine", "Load"];

/// Units that make a number a measured figure.
const UNITS: &[&str] = &[
    "ms",
    "s",
    "µs",
    "MB",
    "MiB",
    "KB",
    "kB",
    "KiB",
    "GB",
    "bytes",
    "Ir",
    "req/s",
    "requests/s",
    "×",
    "x",
];

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A benchmark command named in a text.
#[derive(Debug, PartialEq, Eq)]
enum Cmd {
    /// `cargo bench|build [-p CRATE] [--bench NAME]`.
    Cargo {
        sub: String,
        package: Option<String>,
        bench: Option<String>,
    },
    /// `.ci/bench-NAME`.
    Script(String),
}

fn is_name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

/// The benchmark commands in `text`, with their byte offsets: `cargo bench` and `cargo build`
/// up to the end of the line or a closing backtick, and `.ci/bench-NAME`.
fn commands(text: &str) -> Vec<(usize, Cmd)> {
    let mut out = Vec::new();
    for sub in ["bench", "build"] {
        let head = format!("cargo {sub}");
        let mut from = 0;
        while let Some(i) = text[from..].find(&head) {
            let at = from + i;
            from = at + head.len();
            let rest = &text[from..];
            if rest.starts_with(is_name_char) {
                continue; // `cargo benchmark…`, `cargo builds`
            }
            let end = rest.find(['\n', '`']).unwrap_or(rest.len());
            let words: Vec<&str> = rest[..end].split_whitespace().collect();
            let value = |w: &str| -> Option<String> {
                let v: String = w.chars().take_while(|&c| is_name_char(c)).collect();
                (!v.is_empty()).then_some(v)
            };
            let mut package = None;
            let mut bench = None;
            for (k, w) in words.iter().enumerate() {
                let next = words.get(k + 1).copied().unwrap_or("");
                match *w {
                    "-p" | "--package" => package = value(next),
                    "--bench" => bench = value(next),
                    _ => {
                        if let Some(v) = w.strip_prefix("--package=") {
                            package = value(v);
                        } else if let Some(v) = w.strip_prefix("--bench=") {
                            bench = value(v);
                        } else if let Some(v) = w.strip_prefix("-p").filter(|v| !v.is_empty()) {
                            package = value(v);
                        }
                    }
                }
            }
            out.push((
                at,
                Cmd::Cargo {
                    sub: sub.to_string(),
                    package,
                    bench,
                },
            ));
        }
    }
    let mut from = 0;
    while let Some(i) = text[from..].find(".ci/bench-") {
        let at = from + i;
        from = at + ".ci/".len();
        let name: String = text[from..]
            .chars()
            .take_while(|&c| is_name_char(c))
            .collect();
        let name = name.trim_end_matches('-').to_string();
        from += name.len();
        if name == "bench" {
            continue; // `.ci/bench-*`: the scripts in general, not one of them
        }
        out.push((at, Cmd::Script(name)));
    }
    out.sort_by_key(|(at, _)| *at);
    out
}

/// A workspace crate: its package name, folder and `Cargo.toml`.
struct Crate {
    name: String,
    dir: PathBuf,
    manifest: toml::Table,
}

fn crates(root: &Path) -> Vec<Crate> {
    let mut out = Vec::new();
    let dirs = std::fs::read_dir(root.join("crates")).expect("crates/");
    for e in dirs.flatten() {
        let dir = e.path();
        let Ok(text) = std::fs::read_to_string(dir.join("Cargo.toml")) else {
            continue;
        };
        let manifest: toml::Table =
            toml::from_str(&text).unwrap_or_else(|err| panic!("{}: {err}", dir.display()));
        let Some(name) = manifest
            .get("package")
            .and_then(|p| p.get("name"))
            .and_then(|n| n.as_str())
        else {
            continue;
        };
        out.push(Crate {
            name: name.to_string(),
            dir,
            manifest,
        });
    }
    out
}

/// Whether the crate has a bench target `name`: a `[[bench]]` of that name whose file exists,
/// or `benches/NAME.rs` found by cargo's discovery.
fn has_bench(c: &Crate, name: &str) -> bool {
    let declared = c
        .manifest
        .get("bench")
        .and_then(|b| b.as_array())
        .into_iter()
        .flatten()
        .find(|b| b.get("name").and_then(|n| n.as_str()) == Some(name));
    if let Some(b) = declared {
        let path = b
            .get("path")
            .and_then(|p| p.as_str())
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(format!("benches/{name}.rs")));
        return c.dir.join(path).is_file();
    }
    let discovery = c
        .manifest
        .get("package")
        .and_then(|p| p.get("autobenches"))
        .and_then(|a| a.as_bool())
        .unwrap_or(true);
    discovery && c.dir.join(format!("benches/{name}.rs")).is_file()
}

/// What is wrong with a command: `None` when it names something that exists.
fn missing(cmd: &Cmd, root: &Path, crates: &[Crate]) -> Option<String> {
    match cmd {
        Cmd::Script(name) => {
            use std::os::unix::fs::PermissionsExt;
            let path = root.join(".ci").join(name);
            let runnable = std::fs::metadata(&path)
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0);
            (!runnable).then(|| format!(".ci/{name} is not an executable script in the repository"))
        }
        Cmd::Cargo {
            sub,
            package,
            bench,
        } => {
            let scope: Vec<&Crate> = match package {
                Some(p) => {
                    let found: Vec<&Crate> = crates.iter().filter(|c| &c.name == p).collect();
                    if found.is_empty() {
                        return Some(format!(
                            "cargo {sub} -p {p}: no workspace crate is named {p}"
                        ));
                    }
                    found
                }
                None => crates.iter().collect(),
            };
            let bench = bench.as_ref()?;
            (!scope.iter().any(|c| has_bench(c, bench))).then(|| {
                format!(
                    "cargo {sub} --bench {bench}: {} has no bench target {bench} (benches/{bench}.rs, [[bench]] in Cargo.toml)",
                    package.as_deref().unwrap_or("no workspace crate")
                )
            })
        }
    }
}

/// Whether `text` gives a measured figure: a number followed by a unit (`2.5 ms`, `5.0×`,
/// `13,614,376 bytes`).
fn has_figure(text: &str) -> bool {
    let words: Vec<&str> = text.split_whitespace().collect();
    for (k, w) in words.iter().enumerate() {
        let w = w.trim_start_matches(['(', '*', '|', '~', '≤', '<', '>', '+', '−', '-']);
        let num_len = w
            .char_indices()
            .take_while(|&(_, c)| c.is_ascii_digit() || c == '.' || c == ',')
            .map(|(i, c)| i + c.len_utf8())
            .last()
            .unwrap_or(0);
        if num_len == 0 || !w.starts_with(|c: char| c.is_ascii_digit()) {
            continue;
        }
        let unit_of = |s: &str| {
            let s = s.trim_end_matches([')', ',', ';', '.', '*', ':', '|']);
            UNITS.contains(&s)
        };
        let glued = &w[num_len..];
        if !glued.is_empty() && unit_of(glued) {
            return true;
        }
        if glued.is_empty() && words.get(k + 1).is_some_and(|n| unit_of(n)) {
            return true;
        }
    }
    false
}

/// The paragraph around byte `at`: the lines between blank lines; a table row is a paragraph
/// of its own.
fn paragraph_at(text: &str, at: usize) -> &str {
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[at..].find('\n').map_or(text.len(), |i| at + i);
    if text[line_start..].starts_with('|') {
        return &text[line_start..line_end];
    }
    let start = text[..line_start].rfind("\n\n").map_or(0, |i| i + 2);
    let end = text[line_end..]
        .find("\n\n")
        .map_or(text.len(), |i| line_end + i);
    &text[start..end]
}

fn line_of(text: &str, at: usize) -> usize {
    text[..at].matches('\n').count() + 1
}

/// The problems of a benchmarks page: a section with a figure lacks a field, or its command
/// field names no benchmark; figures before the first section.
fn page_problems(page: &str, shown: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let mut starts: Vec<usize> = vec![0];
    let mut offset = 0;
    for line in page.split_inclusive('\n') {
        if line.starts_with("## ") {
            starts.push(offset);
        }
        offset += line.len();
    }
    starts.push(page.len());
    for pair in starts.windows(2) {
        let section = &page[pair[0]..pair[1]];
        if !has_figure(section) {
            continue;
        }
        let line = line_of(page, pair[0]);
        let Some(title) = section.strip_prefix("## ") else {
            problems.push(format!(
                "{shown}:{line}: a figure before the first section; give it a section with its command"
            ));
            continue;
        };
        let title = title.lines().next().unwrap_or("").trim();
        let field = |name: &str| {
            section.lines().find_map(|l| {
                let l = l.trim_start().trim_start_matches(['-', '*', ' ']);
                l.strip_prefix(&format!("{name}:**"))
            })
        };
        for name in FIELDS {
            if field(name).is_none() {
                problems.push(format!(
                    "{shown}:{line}: \"{title}\" gives a figure but no **{name}:**"
                ));
            }
        }
        if let Some(cmd) = field("Command")
            && commands(cmd).is_empty()
        {
            problems.push(format!(
                "{shown}:{line}: \"{title}\": its **Command:** names no benchmark (`cargo bench … --bench NAME`, `.ci/bench-NAME`, `cargo build -p CRATE`)"
            ));
        }
    }
    problems
}

/// The problems of every benchmark command in `text`, and figures given beside a command
/// outside the benchmarks page.
fn command_problems(
    text: &str,
    shown: &str,
    root: &Path,
    crates: &[Crate],
    figures_here: bool,
) -> Vec<String> {
    let mut problems = Vec::new();
    for (at, cmd) in commands(text) {
        let line = line_of(text, at);
        if let Some(why) = missing(&cmd, root, crates) {
            problems.push(format!("{shown}:{line}: {why}"));
        }
        if !figures_here && has_figure(paragraph_at(text, at)) {
            problems.push(format!(
                "{shown}:{line}: a benchmark's figure outside docs/benchmarks.md; move it there and point to it"
            ));
        }
    }
    problems
}

/// The README and every page of `docs/`.
fn doc_files(root: &Path) -> Vec<PathBuf> {
    let mut files = vec![root.join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .expect("docs/")
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    files
}

#[test]
fn every_documented_benchmark_exists_and_every_figure_has_its_command() {
    let root = repo_root();
    let crates = crates(&root);
    let mut problems = Vec::new();
    let mut found = 0;
    for file in doc_files(&root) {
        let text = std::fs::read_to_string(&file).expect("a doc page");
        let shown = file
            .strip_prefix(&root)
            .unwrap_or(&file)
            .display()
            .to_string();
        let is_page = shown == "docs/benchmarks.md";
        found += commands(&text).len();
        problems.extend(command_problems(&text, &shown, &root, &crates, is_page));
        if is_page {
            problems.extend(page_problems(&text, &shown));
        }
    }
    // The page documents every bench of the workspace: a search that found nothing would pass.
    assert!(
        crates.len() >= 5 && found >= 8,
        "{} crates, {found} commands",
        crates.len()
    );
    assert!(
        problems.is_empty(),
        "{} problem(s) with the documented benchmarks:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn every_bench_target_has_its_section_in_the_benchmarks_page() {
    let root = repo_root();
    let page = std::fs::read_to_string(root.join("docs/benchmarks.md")).expect("the page");
    let documented = commands(&page);
    let mut undocumented = Vec::new();
    for c in crates(&root) {
        let Ok(entries) = std::fs::read_dir(c.dir.join("benches")) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            let Some(name) = path.file_stem().and_then(|s| s.to_str()) else {
                continue;
            };
            let listed = documented.iter().any(|(_, cmd)| {
                matches!(cmd, Cmd::Cargo { package: Some(p), bench: Some(b), .. } if *p == c.name && b == name)
            });
            if !listed {
                undocumented.push(format!("cargo bench -p {} --bench {name}", c.name));
            }
        }
    }
    assert!(
        undocumented.is_empty(),
        "benchmarks without a section in docs/benchmarks.md: {undocumented:?}"
    );
}

#[test]
fn commands_are_read_as_cargo_reads_them() {
    let text = "run `cargo bench -p sidekey --bench token` and `DASHBOARD_RUNS=3 cargo bench \
                --package=sidekey-services --bench=dashboard`,\n.ci/bench-token-size ../base, \
                `cargo build --release -psidekey`; cargo benchmarks and .ci/bench-* are not commands";
    let got: Vec<Cmd> = commands(text).into_iter().map(|(_, c)| c).collect();
    let cargo = |sub: &str, p: &str, b: Option<&str>| Cmd::Cargo {
        sub: sub.into(),
        package: Some(p.into()),
        bench: b.map(str::to_string),
    };
    assert_eq!(
        got,
        vec![
            cargo("bench", "sidekey", Some("token")),
            cargo("bench", "sidekey-services", Some("dashboard")),
            Cmd::Script("bench-token-size".into()),
            cargo("build", "sidekey", None),
        ]
    );
}

#[test]
fn a_bench_or_script_that_does_not_exist_is_reported() {
    let root = repo_root();
    let crates = crates(&root);
    let ok = "`cargo bench -p sidekey --bench token`, `.ci/bench-token-size`, \
              `cargo bench -p sidekey-services --bench dashboard`, `cargo build -p sidekey`";
    assert_eq!(
        command_problems(ok, "x.md", &root, &crates, true),
        Vec::<String>::new()
    );
    let bad = "`cargo bench -p sidekey --bench nosuch`\n`cargo bench -p sidekey --bench dashboard`\n\
               `.ci/bench-nosuch`\n`cargo build -p nosuch`\n`.ci/run`";
    let problems = command_problems(bad, "x.md", &root, &crates, true);
    assert_eq!(problems.len(), 4, "{problems:#?}");
    assert!(
        problems[0].contains("x.md:1: cargo bench --bench nosuch: sidekey has no bench target")
    );
    assert!(problems[1].contains("x.md:2: cargo bench --bench dashboard"));
    assert!(problems[2].contains("x.md:3: .ci/bench-nosuch is not an executable script"));
    assert!(problems[3].contains("x.md:4: cargo build -p nosuch: no workspace crate"));
}

#[test]
fn a_figure_without_its_command_is_reported() {
    let full = "- **What:** w\n- **Command:** `cargo bench -p sidekey --bench token`\n\
                - **Figure:** median 2.5 ms\n- **Date:** d\n- **Machine:** m\n- **Load:** l\n";
    let page = format!("# B\n\nintro\n\n## Token\n\n{full}\n## Notes\n\nno figures here\n");
    assert_eq!(page_problems(&page, "b.md"), Vec::<String>::new());

    let no_command = page.replace(
        "- **Command:** `cargo bench -p sidekey --bench token`\n",
        "",
    );
    let problems = page_problems(&no_command, "b.md");
    assert_eq!(
        problems,
        vec!["b.md:5: \"Token\" gives a figure but no **Command:**".to_string()]
    );

    let not_a_bench = page.replace("`cargo bench -p sidekey --bench token`", "run it by hand");
    let problems = page_problems(&not_a_bench, "b.md");
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].contains("its **Command:** names no benchmark"));

    let figure_in_intro = page.replace("intro", "it takes 2.5 ms");
    let problems = page_problems(&figure_in_intro, "b.md");
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].starts_with("b.md:1: a figure before the first section"));

    // Outside the page, a figure beside a benchmark command is reported.
    let root = repo_root();
    let readme = "intro\n\n`cargo bench -p sidekey --bench token` runs it 500 times:\nmedian \
                  2.52 ms.\n\nA limit of 5 MB.\n\n| `.ci/bench-token-size` | sizes |\n| x | 8 MB |\n";
    let problems = command_problems(readme, "README.md", &root, &crates(&root), false);
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(
        problems[0].starts_with("README.md:3: a benchmark's figure outside docs/benchmarks.md"),
        "{problems:?}"
    );
}

#[test]
fn figures_are_numbers_with_units() {
    for yes in [
        "median 2.52 ms",
        "8.4 MB",
        "13,614,376 bytes",
        "(5.0×)",
        "715,390 Ir",
        "8,621 req/s",
        "1.3 s,",
    ] {
        assert!(has_figure(yes), "{yes}");
    }
    for no in [
        "issue 18",
        "at most 6 in flight",
        "2026-12-07",
        "commit 84854a9",
        "4 concurrent requests",
        "ms and MB",
    ] {
        assert!(!has_figure(no), "{no}");
    }
}
