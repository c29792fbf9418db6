#!/usr/bin/env bash
# Benchmark of pushes to the built-in git host over SSH: one-package pushes
# from `git push` to the revision in the API, pre-receive validation and
# post-receive indexing in them, at 100 and 1,000 hosted packages side by
# side; the first push of every package; the hook processes' start-up.
# Writes test/bench/_out/push.md; the server's log is in
# test/bench/_out/push/serve.log. Run `make build` first.
#   PACKAGES=100,1000 PUSHES=30 HOOK_RUNS=50 bash test/bench/push.sh
#
# Then large pushes: MANY refs (10,000) in one push — tags of 100 packages,
# drafts and other branches each on a commit of its own — each with a
# one-ref push to the same repository started while it is decided. With
# BEFORE=<commit>, the build of that commit (made in a temporary worktree,
# removed after) is measured side by side with bin/pkgserver in the same
# run. Writes test/bench/_out/push-many.md. MANY=0 skips them.
#   MANY=10000 BEFORE=HEAD~1 bash test/bench/push.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p test/bench/_out
if [ "${SKIP_SERIES:-}" = "" ]; then
  go run ./test/bench/pushbench -pkgserver bin/pkgserver -hook bin/pkgserver-hook -out test/bench/_out/push \
    -packages "${PACKAGES:-100,1000}" -pushes "${PUSHES:-30}" -hook-runs "${HOOK_RUNS:-50}" | tee test/bench/_out/push.md
fi
many=${MANY:-10000}
if [ "$many" != 0 ]; then
  builds="after=bin/pkgserver"
  if [ -n "${BEFORE:-}" ]; then
    old=$(mktemp -d /tmp/oldpush.XXXXXX)
    rmdir "$old"
    git worktree add -q --detach "$old" "$BEFORE"
    trap 'git worktree remove --force "$old"' EXIT
    (cd "$old" && go build -o bin/pkgserver ./cmd/pkgserver && go build -o bin/pkgserver-hook ./cmd/pkgserver-hook)
    builds="before=$old/bin/pkgserver,$builds"
  fi
  go run ./test/bench/pushbench -out test/bench/_out/push-many -many "$many" -builds "$builds" | tee test/bench/_out/push-many.md
fi
