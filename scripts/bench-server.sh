#!/usr/bin/env bash
# Load benchmark: SigV4-signed STS GetCallerIdentity replayed by wrk against Portcullis, beside a
# minimal hyper server (the machine's ceiling) and moto_server, in one run.
# Needs: wrk (apt-get install wrk), python3 with botocore and moto[server].
# Usage: scripts/bench-server.sh [DURATION_SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
duration="${1:-15}"
work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

cargo build --release --quiet --bin portcullis --example ceiling
target_dir="${CARGO_TARGET_DIR:-target}"
bin="$target_dir/release/portcullis"

rss_kb() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }
hwm_kb() { awk '/VmHWM/ {print $2}' "/proc/$1/status"; }
wait_port() { for _ in $(seq 1 100); do (echo >/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }

run_wrk() { # name endpoint lua connections
  local out
  out=$(wrk -t2 -c"$3" -d"${duration}s" --latency -s "$2" "$1" 2>&1)
  local rps p50 p99 non2xx
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out")
  p99=$(awk '$1=="99%" {print $2}' <<<"$out")
  non2xx=$(awk '/Non-2xx/ {print $5}' <<<"$out")
  echo "$rps|$p50|$p99|${non2xx:-0}"
}

"$bin" serve --listen 127.0.0.1:4566 --data-dir "$work/data" >"$work/portcullis.out" 2>"$work/portcullis.err" &
pids+=($!); pc=$!
wait_port 4566
sleep 0.5
key=$(python3 -c "import json;print(json.load(open('$work/data/root-credentials.json'))['AccessKeyId'])")
secret=$(python3 -c "import json;print(json.load(open('$work/data/root-credentials.json'))['SecretAccessKey'])")
python3 scripts/signed-wrk.py http://127.0.0.1:4566 "$key" "$secret" "$work/p.lua"
idle_rss=$(rss_kb "$pc")

"$target_dir/release/examples/ceiling" 127.0.0.1:4600 >/dev/null &
pids+=($!)
wait_port 4600

moto_server -H 127.0.0.1 -p 4700 >/dev/null 2>&1 &
pids+=($!)
wait_port 4700 || { echo "moto_server did not start"; exit 1; }
python3 scripts/signed-wrk.py http://127.0.0.1:4700 AKIAIOSFODNN7EXAMPLE wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY "$work/m.lua"

echo "machine: $(nproc) cores, $(lscpu | awk -F: '/Model name/ {gsub(/^ +/,"",$2); print $2}'), $(free -g | awk '/Mem/ {print $2}') GiB"
echo "duration per run: ${duration}s, wrk -t2"
echo
echo "| server | connections | requests/s | p50 | p99 | non-2xx |"
echo "|---|---|---|---|---|---|"
for c in 16 256; do
  IFS='|' read -r rps p50 p99 bad < <(run_wrk http://127.0.0.1:4600/ "$work/p.lua" "$c")
  echo "| hyper ceiling | $c | $rps | $p50 | $p99 | $bad |"
  IFS='|' read -r rps p50 p99 bad < <(run_wrk http://127.0.0.1:4566/ "$work/p.lua" "$c")
  echo "| portcullis | $c | $rps | $p50 | $p99 | $bad |"
  IFS='|' read -r rps p50 p99 bad < <(run_wrk http://127.0.0.1:4700/ "$work/m.lua" "$c")
  echo "| moto_server | $c | $rps | $p50 | $p99 | $bad |"
done
echo
echo "portcullis RSS: idle ${idle_rss} kB, peak $(hwm_kb "$pc") kB (after the 256-connection run)"
