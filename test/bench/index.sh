#!/usr/bin/env bash
# Benchmark of indexing: a full reindex of generated repositories against
# the git baseline, and one-package pushes, at P=1,000 and P=10,000.
# Writes test/bench/_out/index.md.
#   PACKAGES=1000,10000 RUNS=3 PUSHES=30 bash test/bench/index.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p test/bench/_out
go run ./test/bench/indexbench -pkgserver bin/pkgserver -out test/bench/_out/index \
  -packages "${PACKAGES:-1000,10000}" -runs "${RUNS:-3}" -pushes "${PUSHES:-30}" | tee test/bench/_out/index.md
