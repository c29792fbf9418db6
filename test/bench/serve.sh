#!/usr/bin/env bash
# Benchmark of the API: `pkgserver serve` over an index of 10,000 packages ×
# 10 revisions (110,750 revisions), loaded from this separate process on
# loopback. Writes test/bench/_out/serve.md. The generated repository and
# its index are kept in test/bench/_out/serve for later runs.
#   PACKAGES=10000 DURATION=10s CONCURRENCY=8 bash test/bench/serve.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p test/bench/_out
go run ./test/bench/servebench -pkgserver bin/pkgserver -out test/bench/_out/serve \
  -packages "${PACKAGES:-10000}" -duration "${DURATION:-10s}" -concurrency "${CONCURRENCY:-8}" | tee test/bench/_out/serve.md
