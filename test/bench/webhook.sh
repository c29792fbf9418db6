#!/usr/bin/env bash
# Benchmark of the webhook receiver: a burst of 10,000 signed GitHub
# deliveries with unique ids, sent to `pkgserver serve` from this separate
# process on loopback over 16 keep-alive connections; 500 of them again; a
# burst of 1,000 pushes; then the deliveries table is checked (each stored
# once, processed once, none lost). Writes test/bench/_out/webhook.md.
#   DELIVERIES=10000 PUSHES=1000 CONCURRENCY=16 bash test/bench/webhook.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p test/bench/_out
go run ./test/bench/webhookbench -pkgserver bin/pkgserver -out test/bench/_out/webhook \
  -deliveries "${DELIVERIES:-10000}" -pushes "${PUSHES:-1000}" -concurrency "${CONCURRENCY:-16}" | tee test/bench/_out/webhook.md
