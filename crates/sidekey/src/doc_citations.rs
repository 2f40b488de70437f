//! The entrances stay true: every `docs/….md` page that the repository's code, READMEs, notes
//! and configuration cite exists in the repository's own `docs/`; a section cited as
//! `docs/<page>.md, "Section"` is a heading of that page; nothing cites the team's notes kept
//! outside the repository; and `docs/README.md` links every page. A comment that cites a fact
//! points a reader at the page that holds it, so a dangling citation is a broken promise: these
//! tests list every one. One fact is checked against the code itself: wherever a doc states which
//! scopes Google's device flow allows, it lists the dialect's `ALLOWED_SCOPES`.
//!
//! A citation is a path that *starts* with `docs/`. One inside a longer path or URL
//! (`openclaw/docs/cli/secrets.md`, `…/blob/main/docs/x.md`) is another project's page and is
//! not checked.

use std::path::{Path, PathBuf};

/// Folders never walked: build output, installed packages, virtual environments, git's own.
const SKIP_DIRS: &[&str] = &["target", "node_modules", ".venv", ".git"];
/// The files whose citations are checked (JavaScript: the OpenClaw plugin and the test drivers).
const EXTENSIONS: &[&str] = &["rs", "md", "toml", "yml", "yaml", "js", "mjs"];

#[derive(Debug, PartialEq, Eq)]
struct Citation {
    /// Byte offset of `docs/` in the text.
    at: usize,
    /// `docs/….md`.
    page: String,
    /// The quoted section after `docs/<page>.md,` (or `:`), whitespace and comment markers folded.
    section: Option<String>,
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every file under `dir` with one of [`EXTENSIONS`], skipping [`SKIP_DIRS`] (so
/// `fuzz/target` too).
fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for e in entries.flatten() {
        let path = e.path();
        let Ok(kind) = e.file_type() else { continue };
        let name = e.file_name();
        if kind.is_dir() {
            if !SKIP_DIRS.contains(&name.to_string_lossy().as_ref()) {
                walk(&path, out);
            }
        } else if kind.is_file()
            && path
                .extension()
                .and_then(|x| x.to_str())
                .is_some_and(|x| EXTENSIONS.contains(&x))
        {
            out.push(path);
        }
    }
}

fn is_path_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '/' | '-')
}

/// The `docs/….md` citations in `text`: the longest run of path characters after `docs/` up to
/// its last `.md`, as `grep -oE 'docs/[A-Za-z0-9_./-]+\.md'` finds them, less those that are
/// part of a longer path.
fn citations(text: &str) -> Vec<Citation> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(i) = text[from..].find("docs/") {
        let at = from + i;
        from = at + "docs/".len();
        if text[..at].chars().next_back().is_some_and(is_path_char) {
            continue;
        }
        let run_len = text[at..]
            .find(|c: char| !is_path_char(c))
            .unwrap_or(text.len() - at);
        let run = &text[at..at + run_len];
        let Some(end) = run.rfind(".md").filter(|&e| e > "docs/".len()) else {
            continue;
        };
        let page = &run[..end + ".md".len()];
        let section = section_after(&text[at + page.len()..]);
        out.push(Citation {
            at,
            page: page.to_string(),
            section,
        });
    }
    out
}

/// The section named right after a page: `, "Section"` or `: "Section"` (the page may close a
/// backtick first; the name may wrap onto the next comment line).
fn section_after(rest: &str) -> Option<String> {
    let rest = rest.strip_prefix('`').unwrap_or(rest);
    let rest = rest.strip_prefix(',').or_else(|| rest.strip_prefix(':'))?;
    let rest = strip_comment_space(rest);
    let quoted = rest.strip_prefix('"')?;
    let name = &quoted[..quoted.find('"')?];
    let folded: Vec<&str> = name.lines().map(strip_comment_space).collect();
    Some(folded.join(" ").trim().to_string())
}

/// Leading whitespace, and a comment marker at the start of a wrapped line.
fn strip_comment_space(s: &str) -> &str {
    let s = s.trim_start();
    let s = ["//!", "///", "//", "#"]
        .iter()
        .find_map(|m| s.strip_prefix(m))
        .unwrap_or(s);
    s.trim_start()
}

/// The headings of a Markdown page, without their `#`s.
fn headings(page: &str) -> Vec<String> {
    page.lines()
        .filter(|l| l.starts_with('#'))
        .map(|l| l.trim_start_matches('#').trim().to_string())
        .collect()
}

fn line_of(text: &str, at: usize) -> usize {
    text[..at].matches('\n').count() + 1
}

#[test]
fn every_cited_docs_page_and_section_exists() {
    let root = repo_root();
    let mut files = Vec::new();
    walk(&root, &mut files);
    files.sort();
    let outside = ["shared", "docs", ""].join("/");
    let mut problems = Vec::new();
    let mut checked = 0;
    for file in &files {
        let Ok(text) = std::fs::read_to_string(file) else {
            continue;
        };
        let shown = file
            .strip_prefix(&root)
            .unwrap_or(file)
            .display()
            .to_string();
        if let Some(at) = text.find(&outside) {
            problems.push(format!(
                "{shown}:{}: cites a note outside the repository ({outside}…)",
                line_of(&text, at)
            ));
        }
        for c in citations(&text) {
            checked += 1;
            let line = line_of(&text, c.at);
            let Ok(page) = std::fs::read_to_string(root.join(&c.page)) else {
                problems.push(format!(
                    "{shown}:{line}: cites {}, which is not in the repository",
                    c.page
                ));
                continue;
            };
            if let Some(section) = c.section.filter(|s| !s.starts_with('<'))
                && !headings(&page).contains(&section)
            {
                problems.push(format!(
                    "{shown}:{line}: cites {}, \"{section}\", which is not a heading there",
                    c.page
                ));
            }
        }
    }
    // A walk that found nothing would pass vacuously: the repository cites its notes far more.
    assert!(
        files.len() > 100 && checked > 50,
        "walked {} files, {checked} citations",
        files.len()
    );
    assert!(
        problems.is_empty(),
        "{} dangling citation(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// `docs/README.md` is the way in: it links every page of the folder.
#[test]
fn the_docs_index_lists_every_page() {
    let docs = repo_root().join("docs");
    let index = std::fs::read_to_string(docs.join("README.md")).expect("docs/README.md");
    let mut pages = Vec::new();
    for e in std::fs::read_dir(&docs).expect("docs/").flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.ends_with(".md") && name != "README.md" {
            pages.push(name);
        }
    }
    assert!(pages.len() >= 5, "{pages:?}");
    let missing: Vec<&String> = pages
        .iter()
        .filter(|p| !index.contains(&format!("[{p}]({p})")))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/README.md does not index {missing:?}: add a line each to its table"
    );
}

#[test]
fn citations_are_found_the_way_grep_finds_them() {
    // Built at run time, so the walk over this very file does not find them.
    let missing = format!("{}/{}.md", "docs", "nowhere");
    let longer = format!("{}/{}.mdx", "docs", "nowhere");
    let text = format!(
        "a (docs/providers.md, \"Google\n//! scopes\") b `docs/openclaw.md`, \"git\" c {missing}.\n\
         d openclaw/docs/tools/skills.md e https://example.com/docs/x.md f docs/ g {longer}"
    );
    let found = citations(&text);
    let pages: Vec<&str> = found.iter().map(|c| c.page.as_str()).collect();
    assert_eq!(
        pages,
        [
            "docs/providers.md",
            "docs/openclaw.md",
            missing.as_str(),
            missing.as_str()
        ]
    );
    assert_eq!(found[0].section.as_deref(), Some("Google scopes"));
    assert_eq!(found[1].section.as_deref(), Some("git"));
    assert_eq!(found[2].section, None);
    assert_eq!(line_of(&text, found[3].at), 3);
    assert_eq!(
        headings("# T\ntext\n## What `drive.file` shows\n"),
        ["T", "What `drive.file` shows"]
    );
}

/// Where the docs state which scopes Google's device flow allows.
const SCOPE_LIST_MARKERS: &[&str] = &[
    "device flow allows only",
    "allows only a short list of scopes in this flow",
];

/// The scope names a doc lists after `marker`: the backticked words of the rest of that sentence
/// (it ends at a `.` followed by white space), leaving out what is in parentheses.
fn listed_scopes(after_marker: &str) -> Vec<String> {
    let mut out = Vec::new();
    let (mut depth, mut word, mut in_tick) = (0usize, String::new(), false);
    let mut chars = after_marker.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '`' if in_tick => {
                if depth == 0 {
                    out.push(std::mem::take(&mut word));
                }
                word.clear();
                in_tick = false;
            }
            '`' => in_tick = true,
            _ if in_tick => word.push(c),
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            '.' if depth == 0 && chars.peek().is_none_or(|n| n.is_whitespace()) => break,
            _ => {}
        }
    }
    out
}

#[test]
fn the_docs_list_the_google_device_flow_scopes_the_dialect_allows() {
    use sidekey_flow::dialect::google::{ALLOWED_SCOPES, SCOPE_PREFIX};
    let allowed: Vec<&str> = ALLOWED_SCOPES
        .iter()
        .map(|s| s.strip_prefix(SCOPE_PREFIX).unwrap_or(s))
        .collect();
    let root = repo_root();
    let mut files = Vec::new();
    walk(&root, &mut files);
    let mut wrong = Vec::new();
    let mut stated_in = Vec::new();
    for file in files {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        let rel = file
            .strip_prefix(&root)
            .unwrap_or(&file)
            .display()
            .to_string();
        for marker in SCOPE_LIST_MARKERS {
            for (at, _) in text.match_indices(marker) {
                // This file's own markers, above, are not statements.
                if rel.ends_with("doc_citations.rs") {
                    continue;
                }
                let listed = listed_scopes(&text[at + marker.len()..]);
                if listed != allowed {
                    wrong.push(format!("{rel}:{}: {listed:?}", line_of(&text, at)));
                }
                stated_in.push(rel.clone());
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "these docs list other scopes than crates/flow/src/dialect/google.rs allows ({allowed:?}): {wrong:#?}"
    );
    for page in [
        "docs/providers-setup.md",
        "docs/google-drive.md",
        "docs/providers.md",
    ] {
        assert!(
            stated_in.iter().any(|p| p == page),
            "{page} no longer states the list as \"{}: `openid`, …\"",
            SCOPE_LIST_MARKERS[0]
        );
    }
    assert_eq!(
        listed_scopes(" `a`, `b` (or `c`), `d.e`. `f`"),
        ["a", "b", "d.e"]
    );
}
