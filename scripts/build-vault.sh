#!/usr/bin/env bash
# Builds HashiCorp Vault from the Go module proxy into .work/bin/vault
# (git-ignored) for the integration tests, unless it is already there.
# Vault is not in Debian and no prebuilt binary can be downloaded here; the
# tiny module in tools/vault pins a version mix that compiles. The first
# build takes several minutes on 2 cores; later ones hit the build cache.
set -euo pipefail
cd "$(dirname "$0")/.."
out="$PWD/.work/bin/vault"
if [ -x "$out" ] && "$out" version >/dev/null 2>&1; then
  echo "vault: $("$out" version)"
  exit 0
fi
mkdir -p "$(dirname "$out")"
cd tools/vault
go mod tidy -e >/dev/null 2>&1 || true
go build -o "$out" .
echo "vault: $("$out" version)"
