#!/usr/bin/env bash
# Benchmark of the memory of validating a package of about 28 MB of
# ConfigMaps: peak RSS of `pkgserver validate`, and of a server validating
# one push and four pushes at once, with the build of BASE (default: the
# commit before the streamed validation and its budget) and this checkout
# side by side in one run. Writes test/bench/_out/memory.md. Run
# `make build` first.
#   BASE=6971fa8^ bash test/bench/memory.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
out=test/bench/_out
mkdir -p "$out/bin"
base=${BASE:-6971fa8^}
old=$(mktemp -u /tmp/pkgserver-memory-base.XXXXXX)
git worktree add -q --detach "$old" "$base"
trap 'git worktree remove --force "$old"' EXIT
(cd "$old" && go build -o "$OLDPWD/$out/bin/pkgserver-base" ./cmd/pkgserver)
go run ./test/bench/memorybench -old "$out/bin/pkgserver-base" -new bin/pkgserver -out "$out/memory" | tee "$out/memory.md"
