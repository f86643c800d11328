#!/usr/bin/env bash
# bench-deps.sh installs what the benchmark harness (benchmarks/harness) needs,
# only when missing, so it is cheap to run before every benchmark:
#   - nginx and njs (libnginx-mod-http-js) from Debian's packages: the static
#     upstream, the plain reverse proxy and the nginx+opa+njs composite;
#   - the OPA server built from the Go module proxy into .work/bin/opa;
#   - veil and the fasthttp floor built into .work/bin.
# Everything built or downloaded lands in the git-ignored .work/.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
bin="$root/.work/bin"
mkdir -p "$bin" "$root/.work/bench"

opa_version="v1.22.2" # the version go.mod requires, so the module proxy has it

sudo_cmd=()
if [ "$(id -u)" -ne 0 ]; then
	sudo_cmd=(sudo)
fi

missing=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
[ -e /usr/lib/nginx/modules/ngx_http_js_module.so ] || missing+=(libnginx-mod-http-js)
if [ "${#missing[@]}" -gt 0 ]; then
	echo "bench-deps: installing ${missing[*]}"
	"${sudo_cmd[@]}" apt-get update -qq
	DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
	# The package starts a system nginx on :80; the harness runs its own
	# instances, so stop the service when we just installed it.
	if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet nginx 2>/dev/null; then
		"${sudo_cmd[@]}" systemctl stop nginx || true
	fi
fi

# Capture the output instead of piping into grep -q/head: with pipefail an
# early-closing reader turns the writer's SIGPIPE into exit 141.
opa_have="$("$bin/opa" version 2>/dev/null || true)"
if [[ "$opa_have" != *"Version: ${opa_version#v}"* ]]; then
	echo "bench-deps: building opa ${opa_version} into $bin (a few minutes the first time)"
	# Outside the module so go.mod/go.sum stay untouched.
	(cd /tmp && GOFLAGS=-mod=mod GOBIN="$bin" go install "github.com/open-policy-agent/opa@${opa_version}")
fi
opa_have="$("$bin/opa" version)"
echo "${opa_have%%$'\n'*}"

echo "bench-deps: building veil and the fasthttp floor into $bin"
go build -o "$bin/veil" ./cmd/veil
go build -o "$bin/bench-floor" ./benchmarks/floor
echo "bench-deps: ok"
