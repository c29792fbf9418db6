#!/usr/bin/env bash
# Benchmark of rendering: `pkgserver fn render` of a package of 100
# resources with a four-function pipeline (set-namespace, set-labels,
# apply-replacements, starlark), in process and as a command; and a PUT
# of that package's resources through the API end to end (render,
# validate, commit, index) in repositories of 10 and 1,000 packages side
# by side, beside the same package without a pipeline; then git is asked
# whether the drafts hold what the PUTs wrote. Writes
# test/bench/_out/render.md; the server's log is in
# test/bench/_out/render/serve.log. Run `make build` first.
#   PACKAGES=10,1000 PUTS=50 RESOURCES=100 bash test/bench/render.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
mkdir -p test/bench/_out
go run ./test/bench/renderbench -pkgserver bin/pkgserver -out test/bench/_out/render \
  -packages "${PACKAGES:-10,1000}" -puts "${PUTS:-50}" -resources "${RESOURCES:-100}" | tee test/bench/_out/render.md
