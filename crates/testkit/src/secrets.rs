//! The secrets the fakes started on this thread know, for a harness that scans everything a test
//! produced for them when the test ends (sidekey's `tests/it/common`): no test has to remember to
//! register its fakes. A test runs on a thread of its own, so what a fake of another test issued
//! is not in the list.
//!
//! A secret is [`Secret::Exportable`] when a command that asked for one may print it on stdout
//! (`sidekey token`, `exec`, `git-credential get`, AWS `credential_process`): an access token,
//! an AWS role's keys. Everything else — refresh tokens, client secrets, PKCE verifiers, device
//! codes, bot tokens — is [`Secret::Never`]: no output, log or file may hold it.

use std::cell::RefCell;

/// One secret and whether a run that asked for a token may print it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Secret {
    Exportable(String),
    Never(String),
}

impl Secret {
    pub fn value(&self) -> &str {
        match self {
            Secret::Exportable(s) | Secret::Never(s) => s,
        }
    }
}

type Source = Box<dyn Fn() -> Vec<Secret>>;

thread_local! {
    static SOURCES: RefCell<Vec<Source>> = RefCell::new(Vec::new());
}

/// A fake started on this thread: `source` lists what it knows now (read at scan time).
pub(crate) fn register(source: impl Fn() -> Vec<Secret> + 'static) {
    SOURCES.with(|s| s.borrow_mut().push(Box::new(source)));
}

/// Every secret the fakes started on this thread have issued, received or hold, as of now.
pub fn known_on_this_thread() -> Vec<Secret> {
    SOURCES.with(|s| s.borrow().iter().flat_map(|f| f()).collect())
}
