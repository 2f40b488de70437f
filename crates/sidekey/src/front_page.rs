//! The front page stays a front page, and the pages it leads to are there: `README.md` is at
//! most [`MAX_README_LINES`] lines with a table of contents that lists every section; every
//! relative link in `README.md`, `CONTRIBUTING.md`, `deploy/README.md` and `docs/*.md` names a
//! file of the repository and, with a `#fragment`, a heading of that file (GitHub's anchors);
//! and the README's operations table is the catalog's ([`Operation::catalog`]), generated —
//! `SIDEKEY_REGENERATE_DOCS=1 cargo test -p sidekey --lib front_page` rewrites it.

use crate::catalog::{Access, Operation};
use std::path::{Path, PathBuf};

const MAX_README_LINES: usize = 400;
const OPS_BEGIN: &str = "<!-- operations: generated from crates/sidekey/src/catalog; SIDEKEY_REGENERATE_DOCS=1 cargo test -p sidekey --lib front_page -->";
const OPS_END: &str = "<!-- end of the generated operations -->";

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The lines of a Markdown page outside fenced code blocks, with their line numbers.
fn prose_lines(text: &str) -> Vec<(usize, &str)> {
    let mut fenced = false;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if !fenced {
            out.push((i + 1, line));
        }
    }
    out
}

/// GitHub's anchor for a heading: lower case, every character but letters, digits, `-`, `_`
/// and spaces dropped, each space a `-`.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | ' '))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The anchors of a page's headings (a repeated heading gets `-1`, `-2`… as on GitHub).
fn anchors(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (_, line) in prose_lines(text) {
        let Some(rest) = line.strip_prefix('#') else {
            continue;
        };
        let base = anchor(rest.trim_start_matches('#'));
        let n = out
            .iter()
            .filter(|a| *a == &base || a.starts_with(&format!("{base}-")))
            .count();
        out.push(if n == 0 { base } else { format!("{base}-{n}") });
    }
    out
}

/// The targets of the inline links `[text](target)` of a page, outside code, with line numbers.
fn links(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (n, line) in prose_lines(text) {
        // Inline code is not a link: drop what is between backticks.
        let prose: String = line
            .split('`')
            .enumerate()
            .filter(|(i, _)| i % 2 == 0)
            .map(|(_, s)| s)
            .collect::<Vec<_>>()
            .join(" ");
        let mut rest = prose.as_str();
        while let Some(i) = rest.find("](") {
            let after = &rest[i + 2..];
            let Some(end) = after.find(')') else { break };
            out.push((n, after[..end].trim().to_string()));
            rest = &after[end..];
        }
    }
    out
}

/// Every relative link of `page` (a path under the repository root) that does not resolve.
fn broken_links(root: &Path, page: &str) -> Vec<String> {
    let text = read(&root.join(page));
    let dir = Path::new(page).parent().unwrap_or(Path::new(""));
    let mut broken = Vec::new();
    for (line, target) in links(&text) {
        if target.contains("://") || target.starts_with("mailto:") {
            continue;
        }
        let (file, fragment) = match target.split_once('#') {
            Some((f, frag)) => (f, Some(frag)),
            None => (target.as_str(), None),
        };
        let path = if file.is_empty() {
            root.join(page)
        } else {
            root.join(dir).join(file)
        };
        if !path.exists() {
            broken.push(format!("{page}:{line}: {target}: no such file"));
            continue;
        }
        if let Some(fragment) = fragment
            && path.extension().is_some_and(|e| e == "md")
            && !anchors(&read(&path)).iter().any(|a| a == fragment)
        {
            broken.push(format!(
                "{page}:{line}: {target}: no heading with that anchor"
            ));
        }
    }
    broken
}

/// The pages whose links are checked.
fn pages(root: &Path) -> Vec<String> {
    let mut pages: Vec<String> = ["README.md", "CONTRIBUTING.md", "deploy/README.md"]
        .map(String::from)
        .to_vec();
    for e in std::fs::read_dir(root.join("docs"))
        .expect("docs/")
        .flatten()
    {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.ends_with(".md") {
            pages.push(format!("docs/{name}"));
        }
    }
    pages.sort();
    pages
}

/// A table cell: `|` would end it.
fn cell(s: &str) -> String {
    s.replace('|', "\\|")
}

/// The operations table, from the catalog.
fn operations_table() -> String {
    let mut out = String::from(
        "| operation | kind | what it does | at the terminal |\n| --- | --- | --- | --- |\n",
    );
    for info in Operation::catalog() {
        let kind = match info.access {
            Access::Read => "read",
            Access::Write => "**write**",
            Access::Export => "**export**",
        };
        out.push_str(&format!(
            "| `{}` | {kind} | {} | `{}` |\n",
            info.name,
            cell(info.summary),
            cell(info.usage)
        ));
    }
    out
}

/// The README with its generated block replaced by `table`.
fn with_operations(readme: &str, table: &str) -> Option<String> {
    let begin = readme.find(OPS_BEGIN)? + OPS_BEGIN.len();
    let end = begin + readme[begin..].find(OPS_END)?;
    Some(format!("{}\n{table}{}", &readme[..begin], &readme[end..]))
}

#[test]
fn the_readme_is_a_front_page_with_contents() {
    let readme = read(&repo_root().join("README.md"));
    let lines = readme.lines().count();
    assert!(
        lines <= MAX_README_LINES,
        "README.md has {lines} lines, more than {MAX_README_LINES}: move the detail to a page of docs/ and link it"
    );
    let contents = readme
        .split("\n## Contents\n")
        .nth(1)
        .expect("README.md has a \"## Contents\" section")
        .split("\n## ")
        .next()
        .unwrap();
    let sections: Vec<&str> = prose_lines(&readme)
        .into_iter()
        .filter_map(|(_, l)| l.strip_prefix("## "))
        .filter(|s| *s != "Contents")
        .collect();
    assert!(sections.len() >= 8, "{sections:?}");
    for s in sections {
        assert!(
            contents.contains(&format!("[{s}](#{})", anchor(s))),
            "README.md's contents do not list \"{s}\""
        );
    }
}

#[test]
fn every_relative_link_and_anchor_resolves() {
    let root = repo_root();
    let pages = pages(&root);
    let mut broken = Vec::new();
    let mut checked = 0;
    for page in &pages {
        checked += links(&read(&root.join(page))).len();
        broken.extend(broken_links(&root, page));
    }
    assert!(
        pages.len() > 10 && checked > 100,
        "{pages:?}: {checked} links"
    );
    assert!(
        broken.is_empty(),
        "{} broken link(s):\n{}",
        broken.len(),
        broken.join("\n")
    );
}

#[test]
fn the_readme_operations_table_is_the_catalog() {
    let path = repo_root().join("README.md");
    let readme = read(&path);
    let table = operations_table();
    let want = with_operations(&readme, &table)
        .unwrap_or_else(|| panic!("README.md has no {OPS_BEGIN} … {OPS_END} block"));
    if std::env::var_os(crate::env::SIDEKEY_REGENERATE_DOCS).is_some_and(|v| v == "1") {
        std::fs::write(&path, &want).unwrap();
        return;
    }
    assert!(
        want == readme,
        "README.md's operations table is not the catalog's: run SIDEKEY_REGENERATE_DOCS=1 cargo test -p sidekey --lib front_page"
    );
    // Every operation is a row, by its policy name.
    for info in Operation::catalog() {
        assert!(
            readme.contains(&format!("| `{}` |", info.name)),
            "{}",
            info.name
        );
    }
}

/// The README's exit-code table: one row per exit code, in order, each with its reasons.
fn exit_code_rows(readme: &str) -> Vec<(u8, String, Vec<String>)> {
    let section = readme
        .split("\n## Exit codes\n")
        .nth(1)
        .expect("README.md has an \"## Exit codes\" section")
        .split("\n## ")
        .next()
        .unwrap();
    section
        .lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l.trim().strip_prefix('|')?.split('|').collect();
            let code = cells.first()?.trim().parse::<u8>().ok()?;
            let reasons = cells
                .get(2)
                .map(|c| c.split('`').skip(1).step_by(2).map(String::from).collect())
                .unwrap_or_default();
            Some((code, cells.get(1)?.to_string(), reasons))
        })
        .collect()
}

/// Every exit code is a row of the README's table, and every reason word a failure can carry is
/// listed in a row (a reason new in `Reason` must be placed there); the exit-5 reasons for which
/// trying again is wrong are said so in the meaning.
#[test]
fn the_exit_code_table_lists_every_code_and_reason() {
    use crate::error::{Exit, Reason};
    let rows = exit_code_rows(&read(&repo_root().join("README.md")));
    let codes: Vec<u8> = rows.iter().map(|r| r.0).collect();
    let want: Vec<u8> = Exit::ALL.iter().map(|e| e.code()).collect();
    assert_eq!(codes, want, "README.md's exit codes");
    for r in Reason::ALL {
        if r == Reason::Other {
            continue;
        }
        assert!(
            rows.iter()
                .any(|(_, _, reasons)| reasons.iter().any(|w| w == r.as_str())),
            "reason `{r}` is in no row of README.md's exit-code table"
        );
    }
    let (_, five, reasons) = &rows[5];
    for word in ["written_unconfirmed", "document_changed"] {
        assert!(reasons.iter().any(|w| w == word), "{word}: {reasons:?}");
        assert!(
            five.contains(&format!("`{word}`")),
            "row 5's meaning does not say what to do on {word}: {five}"
        );
    }
    assert!(five.contains("do not run it again"), "{five}");
}

#[test]
fn anchors_and_links_are_read_as_github_does() {
    assert_eq!(
        anchor("Signing in with a link instead of a code (`flow = \"code\"`)"),
        "signing-in-with-a-link-instead-of-a-code-flow--code"
    );
    assert_eq!(
        anchor("Microsoft (Entra ID / personal Microsoft accounts)"),
        "microsoft-entra-id--personal-microsoft-accounts"
    );
    assert_eq!(anchor("What `drive.file` shows"), "what-drivefile-shows");
    assert_eq!(
        anchors("# A\n## B\n```\n# not\n```\n## B\n"),
        ["a", "b", "b-1"]
    );
    assert_eq!(
        links("see [x](a.md#b) and `[y](c.md)`\n```\n[z](d.md)\n```\n[w](https://e/)"),
        [(1, "a.md#b".to_string()), (5, "https://e/".to_string())]
    );
    assert_eq!(cell("a | b"), "a \\| b");
}
