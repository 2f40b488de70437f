//! The `sidekey-github` skill: `gh` and git through `sidekey exec` for the GitHub accounts.

use super::text::{account_lines, exec_rules, frontmatter};
use super::{Account, Skill};
use std::fmt::Write as _;

pub(super) fn github_skill(accounts: &[&Account]) -> Skill {
    let name = &accounts[0].name;
    let description = "GitHub repos, issues, pull requests, Actions runs and gh api calls as the person, via sidekey exec and the gh CLI.";
    let mut out = frontmatter("sidekey-github", description, "🐙", &["sidekey", "gh"]);
    out.push_str(
        "\
# GitHub with sidekey

Use for GitHub work (repos, issues, pull requests, Actions runs, releases, `gh api`) as the person,
through their sidekey sign-in.

",
    );
    account_lines(&mut out, accounts);
    let _ = write!(
        out,
        "\
Run `gh` through sidekey, which sets a fresh token in `GH_TOKEN` and `GITHUB_TOKEN` for that one
command:

```sh
sidekey exec {name} -- gh pr list --repo OWNER/REPO --json number,title,author,url
sidekey exec {name} -- gh issue view 123 --repo OWNER/REPO --json title,state,body,comments
sidekey exec {name} -- gh run list --repo OWNER/REPO --limit 5 --json name,status,conclusion,url
sidekey exec {name} -- gh api user --jq .login
sidekey exec {name} -- gh repo clone OWNER/REPO
```

- Prefer `--json` (with `--jq`) output.
- Before anything that changes GitHub (comment, merge, close, push, release, delete), say what you
  will do and wait for a yes.
- Don't run `gh auth login`, `gh auth logout`, `gh auth token` or `gh auth status --show-token`:
  sidekey owns the sign-in.
- Always through `sidekey exec`: a bare `gh` runs as whatever OpenClaw itself gives it (its own
  GitHub identity, `tools.github`, or nobody), not as the person's `{name}` account. OpenClaw's
  bundled `github` and `gh-issues` skills use a bare `gh`: prefer this skill, unless the person asks
  for OpenClaw's own GitHub identity.
- `git clone/fetch/push https://github.com/...` works directly when the person has set up sidekey's
  git credential helper (`git config --get-regexp 'credential.*helper'` shows
  `sidekey git-credential`); otherwise use `sidekey exec {name} -- gh repo clone OWNER/REPO`.
"
    );
    exec_rules(&mut out, name, "`gh`");
    Skill {
        name: "sidekey-github".into(),
        content: out,
    }
}
