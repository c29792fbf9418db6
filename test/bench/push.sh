#!/usr/bin/env bash
# Benchmark of pushes to the built-in git host over SSH: one-package pushes
# from `git push` to the revision in the API, pre-receive validation and
# post-receive indexing in them, at 100 and 1,000 hosted packages side by
# side; the first push of every package; the hook processes' start-up.
# Writes test/bench/_out/push.md; the server's log is in
# test/bench/_out/push/serve.log. Run `make build` first.
#   PACKAGES=100,1000 PUSHES=30 HOOK_RUNS=50 bash test/bench/push.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p test/bench/_out
go run ./test/bench/pushbench -pkgserver bin/pkgserver -hook bin/pkgserver-hook -out test/bench/_out/push \
  -packages "${PACKAGES:-100,1000}" -pushes "${PUSHES:-30}" -hook-runs "${HOOK_RUNS:-50}" | tee test/bench/_out/push.md
