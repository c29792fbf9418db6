#!/usr/bin/env bash
# Benchmark of `pkgserver validate` against kubectl-validate on a generated
# corpus, side by side in one run. Writes test/bench/_out/validate.md.
#   PACKAGES=500 RUNS=5 bash test/bench/validate.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
out=test/bench/_out
mkdir -p "$out/bin"
if [ ! -x "$out/bin/kubectl-validate" ]; then
  echo "installing kubectl-validate v0.0.4 from the Go module proxy (a few minutes, once)"
  GOBIN="$PWD/$out/bin" go install sigs.k8s.io/kubectl-validate@v0.0.4
fi
go run ./test/bench/gencorpus -out "$out/corpus" -packages "${PACKAGES:-500}"
go run ./test/bench/validatecmp -pkgserver bin/pkgserver -kubectl-validate "$out/bin/kubectl-validate" \
  -corpus "$out/corpus" -runs "${RUNS:-5}" | tee "$out/validate.md"
