#!/usr/bin/env bash
# Runs every cargo-fuzz target of every crate for SECONDS seconds (default 60).
# Needs a nightly toolchain; installs cargo-fuzz into its own directory when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
if ! cargo +nightly --version >/dev/null 2>&1; then
  echo "SKIPPED: fuzzing needs a nightly toolchain (rustup toolchain install nightly)"
  exit 0
fi
if ! command -v cargo-fuzz >/dev/null 2>&1; then
  cargo install --quiet --locked cargo-fuzz@0.13.2
fi
for dir in crates/*/fuzz; do
  [ -f "$dir/Cargo.toml" ] || continue
  crate_dir=$(dirname "$dir")
  for target in $(cd "$crate_dir" && cargo +nightly fuzz list); do
    echo "-- fuzz $crate_dir $target (${seconds}s)"
    (cd "$crate_dir" && cargo +nightly fuzz run "$target" -- -max_total_time="$seconds" -rss_limit_mb=2048 >/dev/null 2>"/tmp/fuzz-$target.log") \
      || { tail -50 "/tmp/fuzz-$target.log"; exit 1; }
  done
done
echo "fuzz smoke: all targets ran clean"
