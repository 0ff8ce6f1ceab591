#!/usr/bin/env bash
# Benchmarks.
#
#   scripts/bench.sh kit            the event-sourcing kit (cargo bench -p kit --bench kit)
#   scripts/bench.sh ledger         a service's benchmarks, once the service exists
#   scripts/bench.sh gateway        HTTP through the gateway beside direct gRPC (release binaries)
#   scripts/bench.sh all            (default) every target above that exists
#   scripts/bench.sh kit -- ARGS    ARGS go to the benchmark binary
#
# NATS_SERVER_BIN is exported for benchmarks that need a nats-server.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO"

# Targets of `all`, in order. Any other service directory with a benches/ folder
# is added after them.
DEFAULT_TARGETS=(kit ledger identity purchases certificates gateway)

# usage: the comment block at the top of this file.
usage() { awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "${BASH_SOURCE[0]}"; }

# package_name DIR: the [package] name in DIR/Cargo.toml.
package_name() {
	sed -n 's/^name[[:space:]]*=[[:space:]]*"\([^"]*\)".*/\1/p' "$1/Cargo.toml" | head -n1
}

bench_one() {
	local target="$1"
	shift
	local dir="services/$target"
	if [ "$target" = kit ]; then
		header "cargo bench -p kit --bench kit"
		cargo bench -p kit --bench kit ${1+-- "$@"}
	elif [ "$target" = gateway ]; then
		# The gateway's benchmark runs the real release binaries.
		header "cargo build --release --workspace --bins; cargo bench -p tests-e2e --bench gateway"
		cargo build --release --workspace --bins
		cargo bench -p tests-e2e --bench gateway ${1+-- "$@"}
	elif [ -f "$dir/Cargo.toml" ]; then
		local pkg
		pkg="$(package_name "$dir")"
		header "cargo bench -p $pkg"
		cargo bench -p "$pkg" ${1+-- "$@"}
	else
		log "no benchmark yet for $target"
	fi
}

target="${1:-all}"
if [ $# -gt 0 ]; then shift; fi
if [ "${1:-}" = "--" ]; then shift; fi

case "$target" in
-h | --help | help)
	usage
	exit 0
	;;
esac

ensure_nats_server
log "target dir: $(target_dir)"

if [ "$target" = all ]; then
	targets=("${DEFAULT_TARGETS[@]}")
	for dir in services/*/; do
		name="$(basename "$dir")"
		if [ -d "$dir/benches" ] && [[ " ${targets[*]} " != *" $name "* ]]; then
			targets+=("$name")
		fi
	done
	for t in "${targets[@]}"; do
		bench_one "$t" "$@"
	done
else
	bench_one "$target" "$@"
fi
