#!/usr/bin/env bash
# Runs every benchmark in one go and writes target/bench/summary.json, plus a section appended to
# benches/RESULTS.md (machine, date, commit, tables).
#
#   benches/compare.sh            full run: 1M documents; criterion at 10k, 100k and 1M
#   benches/compare.sh --quick    100k documents; criterion at 10k; under 10 minutes on 2 cores
#                                 with a warm target/ (a cold release build from a clean clone
#                                 adds its own time: 13.9 minutes on the benchmark machine)
#
# Steps: one release build (benches + the query-api binary); the criterion benches (search latency
# per query shape, snippet and facet cost, indexing throughput, PubMed XML parsing); then
# `compare run`: this engine's full build in a child process, in-process latency, the real
# query-api binary under HTTP load on 127.0.0.1 at concurrency 1, 8 and 32, latency during a second
# full build, and the peers on the same documents and queries: raw tantivy, SQLite FTS5 and
# PostgreSQL (installed with apt-get when absent, run on a temporary data directory on loopback as
# the unprivileged `postgres` user, and torn down afterwards). If PostgreSQL cannot be installed
# or started the run says so and goes on with the others.
#
# Environment: BENCH_NOTE (a line for RESULTS.md, e.g. "other builds ran at the same time"),
# EVIDENCE_BENCH_SIZES (overrides the criterion sizes), BENCH_SKIP_CRITERION=1, BENCH_SKIP_PG=1.
set -euo pipefail
cd "$(dirname "$0")/.."

QUICK=0
for arg in "$@"; do
  case "$arg" in
    --quick) QUICK=1 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "unknown argument: $arg (use --quick or nothing)" >&2; exit 2 ;;
  esac
done

OUT=target/bench
mkdir -p "$OUT"
START=$(date +%s)
if [ "$QUICK" = 1 ]; then
  DOCS=100k
  SIZES=${EVIDENCE_BENCH_SIZES:-10k}
  INDEX_DOCS=10k
  CRIT_ARGS=(--warm-up-time 1 --measurement-time 2 --noplot)
  RUN_ARGS=(--quick)
else
  DOCS=1m
  SIZES=${EVIDENCE_BENCH_SIZES:-10k,100k,1m}
  INDEX_DOCS=50k
  CRIT_ARGS=(--warm-up-time 2 --measurement-time 5 --noplot)
  RUN_ARGS=()
fi
say() { echo "[compare.sh] $*" >&2; }

# --- 1. One release build --------------------------------------------------------------------
say "release build: cargo build --release -p benches -p query-api --bins, then the bench targets"
B0=$(date +%s)
cargo build --release -p benches -p query-api --bins
if [ "${BENCH_SKIP_CRITERION:-0}" != 1 ]; then
  cargo bench -p benches --no-run
fi
BUILD_SECS=$(( $(date +%s) - B0 ))
say "build step took ${BUILD_SECS}s"

# --- 2. PostgreSQL on a temporary data directory ---------------------------------------------
PG_URL=""
PG_NOTE=""
PGBIN=""
PGTMP=""
RUNAS=()
pg_teardown() {
  if [ -n "$PGTMP" ] && [ -n "$PGBIN" ] && [ -d "$PGTMP/data" ]; then
    say "stopping PostgreSQL"
    "${RUNAS[@]}" "$PGBIN/pg_ctl" -D "$PGTMP/data" -m fast -w stop >/dev/null 2>&1 || true
  fi
  if [ -n "$PGTMP" ]; then rm -rf "$PGTMP"; fi
}
trap pg_teardown EXIT

find_pgbin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }

pg_setup() {
  PGBIN=$(find_pgbin)
  if [ -z "$PGBIN" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      say "installing PostgreSQL with apt-get (log: $OUT/apt.log)"
      if ! { apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql; } >"$OUT/apt.log" 2>&1; then
        PG_NOTE="apt-get install postgresql failed (see $OUT/apt.log)"
        return 1
      fi
      PGBIN=$(find_pgbin)
    fi
  fi
  if [ -z "$PGBIN" ]; then
    PG_NOTE="PostgreSQL is not installed and could not be installed here"
    return 1
  fi
  PGTMP=$(mktemp -d /tmp/evidence-bench-pg.XXXXXX)
  if [ "$(id -u)" = 0 ]; then
    # PostgreSQL refuses to run as root: run it as the package's unprivileged user.
    if ! id postgres >/dev/null 2>&1; then
      PG_NOTE="running as root but there is no postgres user to run the server as"
      return 1
    fi
    chown postgres "$PGTMP"
    RUNAS=(runuser -u postgres --)
  fi
  local port
  for port in $(seq 55432 55482); do
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
  done
  if ! "${RUNAS[@]}" "$PGBIN/initdb" -D "$PGTMP/data" -U bench --auth=trust -E UTF8 --locale=C >"$PGTMP/initdb.log" 2>&1; then
    PG_NOTE="initdb failed: $(tail -n 3 "$PGTMP/initdb.log" | tr '\n' ' ')"
    return 1
  fi
  if ! "${RUNAS[@]}" "$PGBIN/pg_ctl" -D "$PGTMP/data" -l "$PGTMP/server.log" -w -t 120 \
      -o "-c listen_addresses=127.0.0.1 -p $port -k $PGTMP -c shared_buffers=512MB -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_wal_size=4GB" \
      start >/dev/null 2>&1; then
    PG_NOTE="PostgreSQL did not start: $(tail -n 3 "$PGTMP/server.log" 2>/dev/null | tr '\n' ' ')"
    return 1
  fi
  PG_URL="host=127.0.0.1 port=$port user=bench dbname=postgres"
  say "PostgreSQL $("$PGBIN/postgres" --version | awk '{print $3}') listening on 127.0.0.1:$port (data in $PGTMP)"
}

if [ "${BENCH_SKIP_PG:-0}" = 1 ]; then
  PG_NOTE="skipped (BENCH_SKIP_PG=1)"
elif ! pg_setup; then
  say "PostgreSQL unavailable, going on without it: $PG_NOTE"
fi

# --- 3. Criterion benches --------------------------------------------------------------------
CRIT_MD="$OUT/criterion.md"
: >"$CRIT_MD"
if [ "${BENCH_SKIP_CRITERION:-0}" != 1 ]; then
  C0=$(date +%s)
  for b in pubmed_parse indexing search; do
    say "criterion: $b (sizes $SIZES)"
    EVIDENCE_BENCH_SIZES=$SIZES EVIDENCE_BENCH_INDEX_DOCS=$INDEX_DOCS \
      cargo bench -p benches --bench "$b" -- "${CRIT_ARGS[@]}" 2>&1 | tee "$OUT/criterion-$b.log" | grep -E "^[a-z_/0-9+-]+ +time:|thrpt:|skipping|built" >&2 || true
  done
  ./target/release/compare criterion-md --dir target/criterion --since "$C0" >"$CRIT_MD" || true
fi

# --- 4. The side-by-side run -----------------------------------------------------------------
NOTE="release build step ${BUILD_SECS}s."
if [ -n "${BENCH_NOTE:-}" ]; then NOTE="$NOTE $BENCH_NOTE"; fi
./target/release/compare run --docs "$DOCS" "${RUN_ARGS[@]}" \
  --out "$OUT" --results benches/RESULTS.md --criterion-md "$CRIT_MD" \
  --pg "$PG_URL" --pg-note "${PG_NOTE:-not configured}" \
  --query-api ./target/release/query-api --note "$NOTE"

say "done in $(( $(date +%s) - START ))s; summary:"
cat "$OUT/summary.json"
