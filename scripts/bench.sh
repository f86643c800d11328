#!/usr/bin/env bash
# bench.sh runs the comparative benchmark (benchmarks/harness) with its
# defaults: nginx, nginx+OPA+njs, the fasthttp floor and Veil's scenarios in
# 5 interleaved rounds of 10 s on 2.4 KB and 250 KB bodies (about 17
# minutes), writing benchmarks/results/results.{json,svg}. Extra arguments
# go to the harness, e.g. `scripts/bench.sh -latency` or `-scaling`.
# Needs 2 CPUs for the CPU budget (load + upstream on one, contender on the
# other); run it on an otherwise idle machine.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
./scripts/bench-deps.sh
# A compiled harness: `go run` would leave its build in the measurement.
go build -o .work/bin/bench-harness ./benchmarks/harness
exec .work/bin/bench-harness "$@"
