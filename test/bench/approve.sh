#!/usr/bin/env bash
# Benchmark of publishing through the API: the approval of a proposal
# (PUT …/packagerevisions/{name}/approval, Proposed → Published) in
# repositories of 10 and 1,000 packages side by side, registered with one
# `pkgserver serve` by local path; each publication a copy of a published
# revision, an edit, a proposal and the approval, every step timed from
# this separate process on loopback; then git is asked whether every
# approval made its own v<N> tag on main. Writes
# test/bench/_out/approve.md; the server's log is in
# test/bench/_out/approve/serve.log. Run `make build` first.
#   PACKAGES=10,1000 PUBLICATIONS=30 REVISIONS=3 bash test/bench/approve.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p test/bench/_out
go run ./test/bench/approvebench -pkgserver bin/pkgserver -out test/bench/_out/approve \
  -packages "${PACKAGES:-10,1000}" -publications "${PUBLICATIONS:-30}" -revisions "${REVISIONS:-3}" | tee test/bench/_out/approve.md
