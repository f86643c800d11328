#!/usr/bin/env bash
# The whole test suite: formatting, vet, unit + end-to-end tests, the race
# detector on the packages with concurrency, and the Rego policy tests.
# Usage: ./scripts/test.sh            (from the repository root)
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== vault (for the Vault keyring tests; built once into .work/bin, then cached)"
./scripts/build-vault.sh

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.work/*'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change:"; echo "$unformatted"; exit 1
fi

echo "== go vet"
go vet ./...

echo "== veil policy test rego/"
go run ./cmd/veil policy test rego/

echo "== go test -race (packages with concurrency)"
go test -race -count=1 ./proxy/ ./policy/ ./audit/ ./identity/ ./vault/ ./transforms/

echo "== go test ./..."
go test -count=1 ./...
