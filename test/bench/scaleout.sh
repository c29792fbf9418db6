#!/usr/bin/env bash
# Benchmark of PostgreSQL beside SQLite, in one run: a full index of a
# generated repository of P packages × R revisions into each (time, peak
# RSS, size); the API of `pkgserver serve` over each (gets by name and
# filtered lists, p50/p99) and approvals through it; webhook deliveries
# through two replicas on one PostgreSQL against one (each processed once,
# none lost). Starts a throwaway PostgreSQL cluster of its own (initdb +
# pg_ctl; as the postgres user when run as root), stopped at the end.
# Writes test/bench/_out/scaleout.md; the servers' logs are in
# test/bench/_out/scaleout/. Run `make build` first.
#   PACKAGES=10000 REVISIONS=10 RUNS=3 DURATION=10s CONCURRENCY=8 APPROVALS=30 DELIVERIES=10000 bash test/bench/scaleout.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p test/bench/_out
go run ./test/bench/scaleoutbench -pkgserver bin/pkgserver -out test/bench/_out/scaleout \
  -packages "${PACKAGES:-10000}" -revisions "${REVISIONS:-10}" -runs "${RUNS:-3}" \
  -duration "${DURATION:-10s}" -concurrency "${CONCURRENCY:-8}" -approvals "${APPROVALS:-30}" -deliveries "${DELIVERIES:-10000}" | tee test/bench/_out/scaleout.md
