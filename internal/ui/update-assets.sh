#!/usr/bin/env bash
# Refreshes the UI's third-party assets from the npm registry, at the
# pinned version, checked against the registry's integrity hash:
#   make ui-assets
set -euo pipefail
cd "$(dirname "$0")"
HTMX_VERSION=2.0.11
HTMX_INTEGRITY=sha512-Thx/WtpeOQqSrqBCw/A1cwGJGg4UrVa3+sW0GmrM3p4gJgO89ecH4qtbnyzDDWFvBTqjnIMCgELTNt636dtamA==
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
curl -fsSL "https://registry.npmjs.org/htmx.org/-/htmx.org-${HTMX_VERSION}.tgz" -o "$tmp/htmx.tgz"
got="sha512-$(openssl dgst -sha512 -binary "$tmp/htmx.tgz" | base64 -w0)"
if [ "$got" != "$HTMX_INTEGRITY" ]; then
  echo "htmx.org ${HTMX_VERSION}: integrity $got, want $HTMX_INTEGRITY" >&2
  exit 1
fi
tar -xzf "$tmp/htmx.tgz" -C "$tmp" package/dist/htmx.min.js package/LICENSE
{ echo "/* htmx.org ${HTMX_VERSION} (https://htmx.org), BSD Zero Clause License: see htmx.LICENSE */"; cat "$tmp/package/dist/htmx.min.js"; } > assets/htmx.min.js
cp "$tmp/package/LICENSE" assets/htmx.LICENSE
echo "assets/htmx.min.js: htmx.org ${HTMX_VERSION}"
