#!/usr/bin/env bash
# Runs every natter-bench scenario (issues 6 and 16) against two release natter nodes on a
# scratch PostgreSQL database (dropped at the end) and prints the figures; see the
# README's Performance section. BENCH_SCALE=small runs each one briefly.
# NATTER_BENCH_PG picks the PostgreSQL server (default: the local one).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

scripts/setup.sh test
scripts/build-web.sh
cargo build --release --locked -p natter-api -p natter-bench --bins

pg="${NATTER_BENCH_PG:-postgres://postgres@127.0.0.1:5432}"
db="natter_bench_$$"
psql "$pg/postgres" -qc "CREATE DATABASE $db"
export DATABASE_URL="$pg/$db"
pids=()
cleanup() {
  if [ "${#pids[@]}" -gt 0 ]; then kill "${pids[@]}" 2>/dev/null || true; fi
  wait 2>/dev/null || true
  psql "$pg/postgres" -qc "DROP DATABASE IF EXISTS $db" || true
}
trap cleanup EXIT

# Starts a node on 127.0.0.1:$1 and waits until it accepts connections.
start_node() {
  # A benchmark is a script by design: no rate limits, and stream caps far above the
  # thousands of streams per person that the streams and storm scenarios open.
  target/release/natter --listen "127.0.0.1:$1" --web-dir dist --rate-limits off \
    --max-streams-per-session 1000000 --max-streams-per-user 1000000 \
    >"target/bench-node-$1.log" 2>&1 &
  pids+=("$!")
  for _ in $(seq 300); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return; fi
    sleep 0.1
  done
  echo "bench: the node on port $1 did not start; see target/bench-node-$1.log" >&2
  exit 1
}

# Runs one scenario; a scenario that misses (lost messages, streams that did not
# open) says so and the others still run.
failed=()
scenario() {
  echo
  echo "== $1"
  shift
  if ! target/release/natter-bench "$@"; then failed+=("$*"); fi
}

a=18301 b=18302
start_node "$a"
start_node "$b"
node_a=${pids[0]}
A="http://127.0.0.1:$a" B="http://127.0.0.1:$b"
# One stream is one descriptor in natter (and one in the tool): stay under the limit.
files=$(ulimit -Hn)
[ "$files" = unlimited ] && files=1048576

if [ "${BENCH_SCALE:-full}" = small ]; then
  sends=(1:40 8:10 32:5) fanout=(10:50:50 100:20:50) streams=200 history=10000 storm=200
  two_nodes=(200 100) loads=1 overload=(100 5 2) replays=2000 presence=(400 40 5)
else
  sends=(1:4000 8:500 32:200) fanout=(10:1000:100 100:1000:200 1000:1000:200)
  streams=$(( files - 1000 < 200000 ? files - 1000 : 200000 ))
  # natter ends a stream as soon as its client closes, so a reconnecting stream holds
  # one descriptor at a time there too.
  storm=$(( files - 1000 < 20000 ? files - 1000 : 20000 ))
  history=20000000 two_nodes=(4000 400) loads=7 overload=(1000 10 5) replays=150000
  presence=(10000 500 20)
fi

for s in "${sends[@]}"; do
  scenario "1. durable send, ${s%%:*} senders, beside pgbench" \
    send --node "$A" --senders "${s%%:*}" --messages "${s##*:}" --pgbench "$DATABASE_URL"
done
for f in "${fanout[@]}"; do
  IFS=: read -r members messages rate <<<"$f"
  scenario "2. fan-out to $members members" \
    latency --node "$A" --members "$members" --messages "$messages" --rate "$rate"
done
scenario "3. idle streams on one node" \
  streams --node "$A" --streams "$streams" --natter-pid "$node_a"
for s in 8 32; do
  scenario "4. send rate, $s senders, one node" send --node "$A" --senders "$s" --messages 100
  scenario "4. send rate, $s senders, two nodes" \
    send --node "$A" --node "$B" --senders "$s" --messages 100
done
scenario "4. cross-node latency, two nodes" \
  latency --node "$A" --node "$B" --members 10 --senders 4 \
  --messages "${two_nodes[0]}" --rate "${two_nodes[1]}"
scenario "5. history pages" \
  history --node "$A" --database "$DATABASE_URL" --messages "$history"
scenario "6. reconnect storm" storm --node "$A" --streams "$storm"
scenario "7. the web client's first load" web --node "$A" --loads "$loads"
scenario "8. twice the send capacity, open loop" \
  overload --node "$A" --natter-pid "$node_a" --streams "${overload[0]}" \
  --seconds "${overload[1]}" --measure "${overload[2]}"
scenario "9. replay storm: 128 streams from Last-Event-ID 1" \
  replay-storm --node "$A" --events "$replays" --replays 128
scenario "10. presence: streams connect, half the people leave, then flap" \
  presence --node "$A" --streams "${presence[0]}" --people "${presence[1]}" \
  --flap-seconds "${presence[2]}"

echo
if [ "${#failed[@]}" -gt 0 ]; then
  printf 'bench: missed: %s\n' "${failed[@]}"
  exit 1
fi
echo "bench: every scenario ran"
