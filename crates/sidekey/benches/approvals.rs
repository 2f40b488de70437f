//! `cargo bench -p sidekey --bench approvals`: what approvals cost an agent's write, through the
//! daemon, as the agent calls it (`POST /v1/op` over the unix socket, a new connection per call),
//! against the fake Google and the fake Telegram, neither adding latency. `APPROVALS_BENCH_PART`
//! picks a part; without it, `allow` and `press` run.
//!
//! * `allow`: `google.memory.set` under the policy's `allow`, timed at the client. With
//!   `APPROVALS_BENCH_BASELINE=PATH` (a `sidekey` binary built from the commit before approvals)
//!   a daemon of that binary runs beside two daemons of this one, and the calls alternate among
//!   them, each round in another of their orders, so the machine's load falls on all alike; the
//!   second daemon of this binary gives the noise (two daemons of one binary differ by that
//!   much). `APPROVALS_BENCH_CALLS` calls each (default 5,000, after 50 untimed). Prints, per
//!   daemon, the median, p99 and min per call and the daemon's CPU time per call (user and
//!   system time of the whole process, `/proc/PID/stat`), then the differences of the medians
//!   with their spread over ten blocks of consecutive rounds.
//! * `allow-ir`: the same daemons under callgrind, which counts the instructions each executes
//!   per call (all threads): blocks of calls, alternating as above, each daemon's counts zeroed
//!   before a block and written out after it (`callgrind_control`). Needs valgrind.
//! * `press`: the same write under `ask`; once its message with buttons is on the fake phone
//!   and the daemon's long poll waits, the person presses Approve. Timed from the press to the
//!   decision (the message's edit arriving at Telegram), to the action's start (the write's
//!   first request arriving at Google) and to the agent's answer.
//!
//! Each daemon has its own home and vault, signed in once at the fake IdP; the write's requests
//! at the fake Google are counted (the same for every binary).

use sidekey_testkit::{Dialect, FakeGoogle, FakeIdp, FakeTelegram, GoogleOptions, Options};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const API_KEY: &str = "bench-api-key-0123456789abcdef";
const VAULT_KEY: &str = "q2pU7m5m0q3GmE6o1yYvX8cN4rT9bK2wZ5hJ7dF3sA0=";
/// The blocks of consecutive rounds the differences are taken over (their spread is the noise).
const BLOCKS: usize = 10;
/// `/proc/PID/stat` counts CPU time in `USER_HZ` ticks, 100 a second on Linux.
const USER_HZ: f64 = 100.0;

fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n: &usize| n > 0)
        .unwrap_or(default)
}

/// One `POST /v1/op` over a new connection: the status and the body.
fn post_op(socket: &Path, body: &str) -> (u16, String) {
    let mut s = std::os::unix::net::UnixStream::connect(socket).unwrap();
    write!(
        s,
        "POST /v1/op HTTP/1.1\r\nHost: sidekey\r\nAuthorization: Bearer {API_KEY}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut r = String::new();
    s.read_to_string(&mut r).unwrap();
    let status = r
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = r.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    (status, body.to_string())
}

/// The process's user + system CPU time so far, threads that ended included.
fn cpu_time(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // The fields after the command's closing parenthesis; utime and stime are the 14th and 15th
    // of the line, the 12th and 13th after it.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<u64> = rest
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|v| v.parse().ok())
        .collect();
    Duration::from_secs_f64(f.iter().sum::<u64>() as f64 / USER_HZ)
}

/// A world of fakes: the Google identity server and Drive.
struct World {
    idp: FakeIdp,
    google: FakeGoogle,
    dir: PathBuf,
}

impl World {
    fn start() -> World {
        let mut o = Options::new(Dialect::Google);
        o.auto_approve_after_polls = Some(1);
        let idp = FakeIdp::start(o);
        let google = FakeGoogle::start(GoogleOptions::default());
        google.trust(&idp, "tv");
        let dir = std::env::temp_dir().join(format!("sidekey-abench-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("api_key"), API_KEY).unwrap();
        std::fs::write(dir.join("vault.key"), VAULT_KEY).unwrap();
        World { idp, google, dir }
    }

    /// The Google account `g`, its memory in a visible Drive folder (the device sign-in holds
    /// `drive.file`, not `drive.appdata`), and `policy` under `[accounts.g.policy]`.
    fn config(&self, policy: &str, extra: &str) -> String {
        let idp = &self.idp;
        format!(
            "timezone = \"Europe/Berlin\"\n{extra}\n[accounts.g]\nprovider = \"google\"\nclient_id = \"test-client\"\nclient_secret = \"test-secret\"\ndevice_authorization_endpoint = \"{}\"\ntoken_endpoint = \"{}\"\nrevocation_endpoint = \"{}\"\napi_base = \"{}\"\nscopes = [\"openid\", \"email\", \"profile\", \"drive.file\"]\n[accounts.g.drive]\napi_root = \"{g}\"\ndocs_root = \"{g}\"\nmemory = \"folder\"\n[accounts.g.policy]\n{policy}\n",
            idp.device_authorization_endpoint(),
            idp.token_endpoint(),
            idp.revocation_endpoint().unwrap(),
            idp.api_base(),
            g = self.google.base_url(),
        )
    }
}

/// A daemon of `bin` with a home of its own, signed in to `g`. Killed when dropped.
struct Daemon {
    name: String,
    child: Child,
    socket: PathBuf,
}

impl Daemon {
    /// A daemon of `bin`; under callgrind when `callgrind` names the folder for its counts.
    fn start(
        world: &World,
        name: &str,
        bin: &Path,
        config: &str,
        callgrind: Option<&Path>,
    ) -> Daemon {
        let dir = world.dir.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        let cfg = dir.join("config.toml");
        std::fs::write(&cfg, config).unwrap();
        let cmd = |program: &Path, args: &[&str]| {
            let mut c = Command::new(program);
            c.args(args)
                .env_clear()
                .env("PATH", std::env::var("PATH").unwrap_or_default())
                .env("HOME", &dir)
                .env("SIDEKEY_HOME", dir.join("home"))
                .env("SIDEKEY_CONFIG", &cfg)
                .env("SIDEKEY_VAULT_KEY_FILE", world.dir.join("vault.key"))
                .env("SIDEKEY_API_KEY_FILE", world.dir.join("api_key"))
                .stdin(Stdio::null())
                .stdout(Stdio::null());
            c
        };
        let login = cmd(bin, &["login", "g"])
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        assert!(
            login.status.success(),
            "{name}: login: {}",
            String::from_utf8_lossy(&login.stderr)
        );
        let socket = dir.join("sidekey.sock");
        let serve = ["serve", "--socket", socket.to_str().unwrap()];
        let log = std::fs::File::create(dir.join("daemon.log")).unwrap();
        let child = match callgrind {
            None => cmd(bin, &serve),
            Some(out) => {
                let file = format!("--callgrind-out-file={}/{name}.%p", out.display());
                let mut args = vec!["--tool=callgrind", file.as_str(), bin.to_str().unwrap()];
                args.extend(serve);
                cmd(Path::new("valgrind"), &args)
            }
        }
        .stderr(log)
        .spawn()
        .unwrap();
        let t0 = Instant::now();
        while std::os::unix::net::UnixStream::connect(&socket).is_err() {
            assert!(
                t0.elapsed() < Duration::from_secs(60),
                "{name}: the daemon did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Daemon {
            name: name.to_string(),
            child,
            socket,
        }
    }

    /// `callgrind_control -z` (zero the counts) or `-d` (write them out) for this daemon.
    fn callgrind(&self, what: &str) {
        let out = Command::new("callgrind_control")
            .args([what, &self.child.id().to_string()])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "callgrind_control {what}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `q`-quantile of sorted durations, in ms.
fn quantile(sorted: &[Duration], q: f64) -> f64 {
    sorted[((sorted.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1e3
}

fn median_ms(v: &[Duration]) -> f64 {
    let mut s = v.to_vec();
    s.sort();
    quantile(&s, 0.5)
}

/// The daemons an allowed write is compared on: the baseline binary's (when
/// `APPROVALS_BENCH_BASELINE` names one), this binary's, and a second of this binary's (the
/// noise).
fn allow_daemons(world: &World, callgrind: Option<&Path>) -> Vec<Daemon> {
    let config = world.config("allow = [\"google.memory.set\"]", "");
    let tip = PathBuf::from(env!("CARGO_BIN_EXE_sidekey"));
    let mut daemons = Vec::new();
    match std::env::var_os("APPROVALS_BENCH_BASELINE") {
        Some(old) => daemons.push(Daemon::start(
            world,
            "baseline",
            Path::new(&old),
            &config,
            callgrind,
        )),
        None => println!(
            "no baseline: set APPROVALS_BENCH_BASELINE to a sidekey binary built from the commit before approvals"
        ),
    }
    daemons.push(Daemon::start(world, "tip", &tip, &config, callgrind));
    daemons.push(Daemon::start(world, "tip-2", &tip, &config, callgrind));
    daemons
}

/// The allowed write number `i` through `d`: its time at the client.
fn write_call(d: &Daemon, i: usize) -> Duration {
    let body = format!(
        r#"{{"op":"google.memory.set","account":"g","key":"bench-{}","value":"value {i:06}"}}"#,
        d.name
    );
    let t = Instant::now();
    let (status, reply) = post_op(&d.socket, &body);
    let took = t.elapsed();
    assert_eq!(status, 200, "{}: {reply}", d.name);
    took
}

/// Every order of `0..n`.
fn orders(n: usize) -> Vec<Vec<usize>> {
    if n == 0 {
        return vec![vec![]];
    }
    let mut out = Vec::new();
    for rest in orders(n - 1) {
        for at in 0..=rest.len() {
            let mut o = rest.clone();
            o.insert(at, n - 1);
            out.push(o);
        }
    }
    out
}

/// Call every daemon once per round for `rounds` rounds, numbering the calls from `from`: each
/// daemon's times. The rounds go through every order of the daemons in turn, so each is as
/// often first, last, and after each of the others (a call can be faster or slower for the one
/// before it).
fn alternate(daemons: &[Daemon], from: usize, rounds: usize) -> Vec<Vec<Duration>> {
    let orders = orders(daemons.len());
    let mut times: Vec<Vec<Duration>> = vec![Vec::with_capacity(rounds); daemons.len()];
    for round in 0..rounds {
        for &j in &orders[round % orders.len()] {
            times[j].push(write_call(&daemons[j], from + round));
        }
    }
    times
}

fn position(daemons: &[Daemon], name: &str) -> Option<usize> {
    daemons.iter().position(|d| d.name == name)
}

/// The allowed write, timed through the daemons.
fn allowed_write(world: &World) {
    let calls = env_num("APPROVALS_BENCH_CALLS", 5000);
    let warm = 50;
    let daemons = allow_daemons(world, None);
    // The first call of each creates the memory folder and its key file; the next ones update.
    alternate(&daemons, 0, warm);
    let mut per_call = Vec::new();
    for d in &daemons {
        let before = world.google.requests().len();
        write_call(d, warm);
        per_call.push(world.google.requests().len() - before);
    }
    let cpu_before: Vec<Duration> = daemons.iter().map(|d| cpu_time(d.child.id())).collect();
    let load_before = load();
    let start = Instant::now();
    let times = alternate(&daemons, warm + 1, calls);
    let wall = start.elapsed();
    let cpu: Vec<Duration> = daemons
        .iter()
        .zip(&cpu_before)
        .map(|(d, b)| cpu_time(d.child.id()).saturating_sub(*b))
        .collect();
    println!(
        "an allowed write (google.memory.set, policy allow) through the daemon, POST /v1/op over the unix socket, a new connection per call; the fake Google answers at once; {calls} calls per daemon after {warm} untimed, alternating among the daemons ({:.1} s in all; load {load_before} before, {} after):",
        wall.as_secs_f64(),
        load()
    );
    for ((d, t), (c, n)) in daemons.iter().zip(&times).zip(cpu.iter().zip(&per_call)) {
        let mut s = t.clone();
        s.sort();
        println!(
            "  {:<9} median {:>6.3} ms  p99 {:>6.3} ms  min {:>6.3} ms  daemon CPU {:>6.3} ms/call  requests at Google per call: {n}",
            d.name,
            quantile(&s, 0.5),
            quantile(&s, 0.99),
            quantile(&s, 0.0),
            c.as_secs_f64() * 1e3 / calls as f64,
        );
    }
    let diff = |a: usize, b: usize| {
        let whole = median_ms(&times[a]) - median_ms(&times[b]);
        let block = calls.div_ceil(BLOCKS);
        let mut per_block: Vec<f64> = times[a]
            .chunks(block)
            .zip(times[b].chunks(block))
            .map(|(x, y)| median_ms(x) - median_ms(y))
            .collect();
        per_block.sort_by(f64::total_cmp);
        format!(
            "median {whole:+.3} ms (medians of {} blocks of {block} rounds: {:+.3} to {:+.3} ms)",
            per_block.len(),
            per_block[0],
            per_block[per_block.len() - 1]
        )
    };
    let tip = position(&daemons, "tip").unwrap();
    let noise = position(&daemons, "tip-2").unwrap();
    println!(
        "  tip-2 - tip (the noise: one binary, two daemons): {}",
        diff(noise, tip)
    );
    if let Some(old) = position(&daemons, "baseline") {
        println!(
            "  tip - baseline (what the change costs): {}",
            diff(tip, old)
        );
    }
}

/// The instructions of an allowed write in the daemon, counted by callgrind (all threads):
/// `APPROVALS_BENCH_IR_BLOCKS` blocks (default 5) of `APPROVALS_BENCH_IR_CALLS` calls per daemon
/// (default 100), alternating as [`allowed_write`] does; each daemon's counts are zeroed before
/// a block and written out after it.
fn allowed_write_instructions(world: &World) {
    let blocks = env_num("APPROVALS_BENCH_IR_BLOCKS", 5);
    let calls = env_num("APPROVALS_BENCH_IR_CALLS", 100);
    // The counts go to the bench's folder, removed at the end, unless
    // `APPROVALS_BENCH_CALLGRIND_DIR` names one to keep them in (for `callgrind_annotate`).
    let out = std::env::var_os("APPROVALS_BENCH_CALLGRIND_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| world.dir.join("callgrind"));
    std::fs::create_dir_all(&out).unwrap();
    let daemons = allow_daemons(world, Some(&out));
    alternate(&daemons, 0, 20);
    let load_before = load();
    // Per daemon, the instructions per call of each block.
    let mut ir: Vec<Vec<f64>> = vec![Vec::new(); daemons.len()];
    for block in 0..blocks {
        for d in &daemons {
            d.callgrind("-z");
        }
        alternate(&daemons, 20 + block * calls, calls);
        for (d, counts) in daemons.iter().zip(&mut ir) {
            d.callgrind("-d");
            let dump = out.join(format!("{}.{}.{}", d.name, d.child.id(), block + 1));
            let text = std::fs::read_to_string(&dump).unwrap();
            let total: u64 = text
                .lines()
                .find_map(|l| l.strip_prefix("summary: "))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or_else(|| panic!("no summary in {}", dump.display()));
            counts.push(total as f64 / calls as f64);
        }
    }
    println!(
        "the same allowed write, instructions in the daemon per call (callgrind, all threads), {blocks} blocks of {calls} calls per daemon, alternating (load {load_before} before, {} after):",
        load()
    );
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64;
    let range = |v: &[f64]| {
        let mut s = v.to_vec();
        s.sort_by(f64::total_cmp);
        (s[0], s[s.len() - 1])
    };
    for (d, v) in daemons.iter().zip(&ir) {
        let (lo, hi) = range(v);
        println!(
            "  {:<9} {:>9.0} Ir/call (blocks {lo:.0} to {hi:.0})",
            d.name,
            mean(v)
        );
    }
    let diff = |a: usize, b: usize| {
        let per_block: Vec<f64> = ir[a].iter().zip(&ir[b]).map(|(x, y)| x - y).collect();
        let (lo, hi) = range(&per_block);
        format!(
            "{:+.0} Ir/call ({:+.2} %; blocks {lo:+.0} to {hi:+.0})",
            mean(&ir[a]) - mean(&ir[b]),
            (mean(&ir[a]) / mean(&ir[b]) - 1.0) * 100.0
        )
    };
    let tip = position(&daemons, "tip").unwrap();
    let noise = position(&daemons, "tip-2").unwrap();
    println!("  tip-2 - tip (the noise): {}", diff(noise, tip));
    if let Some(old) = position(&daemons, "baseline") {
        println!("  tip - baseline: {}", diff(tip, old));
    }
}

/// Whether `what` happens within `limit`, looking every millisecond.
fn within(limit: Duration, what: impl Fn() -> bool) -> bool {
    let until = Instant::now() + limit;
    while Instant::now() < until {
        if what() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    what()
}

/// The first request named `name` (any, when empty) that arrived at or after `t`.
fn first_after(requests: &[(Instant, String)], t: Instant, name: &str) -> Option<Instant> {
    requests
        .iter()
        .find(|(at, r)| *at >= t && (name.is_empty() || r == name))
        .map(|(at, _)| *at)
}

/// From the person's press to the action: the agent's write under `ask` waits in the daemon;
/// once its message with buttons is on the phone and the daemon's long poll waits, the person
/// presses Approve; timed from the press to the decision's edit of the message arriving at the
/// fake Telegram, to the write's first request arriving at the fake Google (the action's
/// start), and to the agent's answer. `APPROVALS_BENCH_ROUNDS` rounds (default 30, after 3
/// untimed).
fn press_to_action(world: &World) {
    let rounds = env_num("APPROVALS_BENCH_ROUNDS", 30);
    let warm = 3;
    let tg = FakeTelegram::start("123:BENCHTOKEN");
    tg.user_with_username_sends(42, "Alice", "alice", "/start");
    let telegram = format!(
        "[notify.telegram]\nbot_token = \"123:BENCHTOKEN\"\nchat_id = 42\napi_base = \"{}\"\n",
        tg.api_base()
    );
    let config = world.config("ask = [\"google.memory.set\"]", &telegram);
    let tip = PathBuf::from(env!("CARGO_BIN_EXE_sidekey"));
    let d = Daemon::start(world, "ask", &tip, &config, None);
    let load_before = load();
    // Per round: press to the edit, to the action's start, to the agent's answer (ms), and
    // whether the press was answered by a long poll already waiting.
    let mut edit = Vec::new();
    let mut action = Vec::new();
    let mut answer = Vec::new();
    let mut parked = 0;
    for round in 0..warm + rounds {
        let messages = tg.messages().len();
        let socket = d.socket.clone();
        let body = format!(
            r#"{{"op":"google.memory.set","account":"g","key":"asked","value":"value {round:03}"}}"#
        );
        let agent = std::thread::spawn(move || {
            let r = post_op(&socket, &body);
            (r, Instant::now())
        });
        assert!(
            within(Duration::from_secs(10), || tg.messages().len() > messages),
            "no message reached the phone"
        );
        let msg = tg.messages().pop().unwrap();
        // The poller sent its long poll right after the message; let it reach the fake and wait
        // there, as it does for the seconds a person takes to read.
        std::thread::sleep(Duration::from_millis(200));
        let polls = tg.requests().iter().filter(|r| *r == "getUpdates").count();
        let pressed = Instant::now();
        tg.press_label(msg.message_id, "✅ Approve", 42, Some("alice"))
            .unwrap();
        let ((status, reply), answered) = agent.join().unwrap();
        assert_eq!(status, 200, "{reply}");
        let tg_at = tg.requests_at();
        let edited = first_after(&tg_at, pressed, "editMessageText").expect("the message edited");
        let started = first_after(&world.google.requests_at(), pressed, "")
            .expect("the write reached Google");
        // No getUpdates between the press and the edit: the press woke the waiting poll.
        let woke = tg_at
            .iter()
            .filter(|(at, r)| r == "getUpdates" && *at < edited)
            .count()
            == polls;
        if round < warm {
            continue;
        }
        parked += usize::from(woke);
        let ms = |t: Instant| t.duration_since(pressed);
        edit.push(ms(edited));
        action.push(ms(started));
        answer.push(ms(answered));
    }
    println!(
        "a write under ask (google.memory.set) through the daemon: from the person's press on the fake Telegram to the action, {rounds} rounds after {warm} untimed; the fakes answer at once; the daemon looks at the store every {} ms (load {load_before} before, {} after):",
        sidekey::approvals::look_every().as_millis(),
        load()
    );
    for (what, v) in [
        ("press -> decision (the message's edit at Telegram)", &edit),
        (
            "press -> action start (the write's first request at Google)",
            &action,
        ),
        ("press -> the agent's answer", &answer),
    ] {
        let mut s = v.clone();
        s.sort();
        println!(
            "  {what:<62} median {:>6.1} ms  p95 {:>6.1} ms  min {:>6.1} ms  max {:>6.1} ms",
            quantile(&s, 0.5),
            quantile(&s, 0.95),
            quantile(&s, 0.0),
            quantile(&s, 1.0)
        );
    }
    let gap: Vec<Duration> = action
        .iter()
        .zip(&edit)
        .map(|(a, e)| a.saturating_sub(*e))
        .collect();
    let mut s = gap.clone();
    s.sort();
    println!(
        "  {:<62} median {:>6.1} ms  p95 {:>6.1} ms  min {:>6.1} ms  max {:>6.1} ms",
        "decision -> action start",
        quantile(&s, 0.5),
        quantile(&s, 0.95),
        quantile(&s, 0.0),
        quantile(&s, 1.0)
    );
    println!("  presses answered by the long poll already waiting: {parked} of {rounds}");
}

/// The load average (1, 5, 15 minutes).
fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(", ")
}

fn main() {
    let part = std::env::var("APPROVALS_BENCH_PART").unwrap_or_default();
    let world = World::start();
    if part.is_empty() || part == "allow" {
        allowed_write(&world);
    }
    if part == "allow-ir" {
        allowed_write_instructions(&world);
    }
    if part.is_empty() || part == "press" {
        press_to_action(&world);
    }
    let _ = std::fs::remove_dir_all(&world.dir);
}
