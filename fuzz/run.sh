#!/usr/bin/env bash
# Runs every fuzz target (or the ones named) for a fixed time, FUZZ_JOBS at a time (default: one
# per core), and prints per target: executions, executions per second, corpus size and crashes.
#
#   fuzz/run.sh [SECONDS] [TARGET...]        (default: 600 seconds each, all targets)
#
# Needs cargo-fuzz (`cargo install cargo-fuzz --locked`). Builds with `--sanitizer none`, which
# works on the stable toolchain (the code under test is safe Rust; set FUZZ_SANITIZER=address and
# RUSTC_BOOTSTRAP=1 for AddressSanitizer, which needs nightly flags). Corpora grow in
# fuzz/corpus/TARGET, crashing inputs land in fuzz/artifacts/TARGET, full logs in fuzz/logs/
# (all ignored by git). FUZZ_DEV=1 builds unoptimised (CI's smoke run); FUZZ_BUILD_ONLY=1 only
# builds. Exit status: 1 if any target crashed, 2 if the targets do not build or cargo-fuzz is
# missing.
set -uo pipefail
cd "$(dirname "$0")"

SECS=${1:-600}
shift || true
ALL=(device_response token_response config odata telegram_html api_bodies retry_after
     sealed_file service_replies pasted_redirect daemon_framing)
if (($#)); then TARGETS=("$@"); else TARGETS=("${ALL[@]}"); fi
SAN=${FUZZ_SANITIZER:-none}
# FUZZ_DEV=1: unoptimised builds (cargo fuzz --dev), which build in well under half the time and
# run several times slower: for CI's smoke run, where the build is most of the time.
PROFILE=()
[[ ${FUZZ_DEV:-0} == 1 ]] && PROFILE=(--dev)
# The fuzz workspace's own target dir (release builds with coverage instrumentation share
# nothing with the main workspace's), whatever CARGO_TARGET_DIR the caller has set.
export CARGO_TARGET_DIR="$PWD/target"

command -v cargo-fuzz >/dev/null || { echo "cargo-fuzz missing: cargo install cargo-fuzz --locked" >&2; exit 2; }
echo "building the fuzz targets (sanitizer: $SAN${PROFILE:+, unoptimised})…"
# The build's own exit status decides (its output may not start lines with `error`, and a pipe
# into grep would report grep's status): a failed build is exit 2 with its last lines shown.
mkdir -p logs
build() {
  if ((${#TARGETS[@]} == ${#ALL[@]})); then
    cargo fuzz build "${PROFILE[@]}" --sanitizer "$SAN"
  else
    for t in "${TARGETS[@]}"; do cargo fuzz build "${PROFILE[@]}" --sanitizer "$SAN" "$t" || return; done
  fi
}
if ! build >logs/build.log 2>&1; then
  tail -n 30 logs/build.log >&2
  echo "fuzz/run.sh: the fuzz targets did not build (full output: fuzz/logs/build.log); fix the build and run again" >&2
  exit 2
fi
warnings=$(grep -c '^warning' logs/build.log)
((warnings)) && echo "note: the build printed $warnings warnings (fuzz/logs/build.log)"
# FUZZ_BUILD_ONLY=1: stop here (.ci/run builds the targets in the background, during its other
# builds, and runs them later, when this script finds them built).
if [[ ${FUZZ_BUILD_ONLY:-0} == 1 ]]; then
  echo "built; not run (FUZZ_BUILD_ONLY=1)"
  exit 0
fi

# One target's run: its log in logs/TARGET.log, its line of the table in logs/TARGET.line, and
# logs/TARGET.crashed if it crashed.
run_one() {
  local t=$1 dict=() before start rc took execs rate corpus crashes
  mkdir -p "corpus/$t" "artifacts/$t"
  [[ -f dicts/$t.dict ]] && dict=(-dict="dicts/$t.dict")
  before=$(ls "artifacts/$t" | wc -l)
  start=$(date +%s)
  cargo fuzz run "${PROFILE[@]}" --sanitizer "$SAN" "$t" "corpus/$t" -- \
    -max_total_time="$SECS" -print_final_stats=1 -max_len=4096 "${dict[@]}" \
    >"logs/$t.log" 2>&1
  rc=$?
  took=$(( $(date +%s) - start ))
  execs=$(grep -oE 'stat::number_of_executed_units: *[0-9]+' "logs/$t.log" | tail -1 | awk '{print $2}')
  rate=$(grep -oE 'stat::average_exec_per_sec: *[0-9]+' "logs/$t.log" | tail -1 | awk '{print $2}')
  if [[ -z $execs ]]; then
    # A crash ends the run before the final stats: take the last status line.
    execs=$(grep -oE '^#[0-9]+' "logs/$t.log" | tail -1 | tr -d '#')
    rate=$(grep -oE 'exec/s: [0-9]+' "logs/$t.log" | tail -1 | awk '{print $2}')
  fi
  corpus=$(ls "corpus/$t" | wc -l)
  crashes=$(( $(ls "artifacts/$t" | wc -l) - before ))
  (( rc != 0 && crashes == 0 )) && crashes="rc=$rc"
  {
    printf '%-16s %8s %14s %9s %8s %8s\n' "$t" "$took" "${execs:-?}" "${rate:-?}" "$corpus" "$crashes"
    [[ $crashes != 0 ]] && grep -m3 -E 'panicked|Test unit written|SUMMARY' "logs/$t.log" | sed 's/^/    /'
  } >"logs/$t.line"
  if [[ $crashes == 0 ]]; then rm -f "logs/$t.crashed"; else : >"logs/$t.crashed"; fi
}

# FUZZ_JOBS targets at a time (default: one per core): each libFuzzer run is one process on one
# core, so on two cores two targets run in the time of one, each for the same SECONDS.
JOBS=${FUZZ_JOBS:-$(nproc)}
((JOBS >= 1)) || JOBS=1
status=0
printf '%-16s %8s %14s %9s %8s %8s\n' target seconds executions exec/s corpus crashes
for t in "${TARGETS[@]}"; do
  while (($(jobs -rp | wc -l) >= JOBS)); do wait -n || true; done
  rm -f "logs/$t.line" "logs/$t.crashed"
  run_one "$t" &
done
wait
for t in "${TARGETS[@]}"; do
  [[ -f logs/$t.line ]] || { echo "$t: no result (logs/$t.log)"; status=1; continue; }
  cat "logs/$t.line"
  [[ -f logs/$t.crashed ]] && status=1
done
exit $status
