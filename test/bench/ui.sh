#!/usr/bin/env bash
# Benchmark of the web UI: `pkgserver serve` with a repository of 10,000
# packages × 3 revisions and one package of 200 files, asked from this
# separate process on loopback, one request at a time: the repository's
# package page, that page filtered to one package, the revision page of
# the 200-file package and the repositories page (p50/p90/p99/max); the
# bytes a first visit of the package page transfers (the page and its
# stylesheets and scripts, asked for with Accept-Encoding: gzip); and the
# sign-in form's round trip. Writes test/bench/_out/ui.md; the server's
# log is in test/bench/_out/ui/serve.log. Run `make build` first.
#   PACKAGES=10000 REVISIONS=3 FILES=200 REQUESTS=200 bash test/bench/ui.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p test/bench/_out
go run ./test/bench/uibench -pkgserver "${PKGSERVER:-bin/pkgserver}" -out test/bench/_out/ui \
  -packages "${PACKAGES:-10000}" -revisions "${REVISIONS:-3}" -files "${FILES:-200}" \
  -requests "${REQUESTS:-200}" | tee test/bench/_out/ui.md
