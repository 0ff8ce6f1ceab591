#!/usr/bin/env bash
# The whole check, as CI runs it: formatting, lints, contract lint, build, tests.
#
#   scripts/test.sh                 everything
#   scripts/test.sh -E 'test(ledger)'   extra arguments go to `cargo nextest run`
#
# On a fresh machine it installs what is missing: nats-server (apt), buf (npm, into
# .tools/), schemathesis (PyPI, into .tools/), cargo-nextest (crates.io), rustfmt and
# clippy (rustup).
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO"

# step "title" cmd...: announce and run one step; stop with its exit code on failure.
step() {
	local title="$1" rc=0
	shift
	header "$title"
	"$@" || rc=$?
	if [ "$rc" -ne 0 ]; then
		printf '\nFAILED: %s (exit %d)\n' "$title" "$rc" >&2
		exit "$rc"
	fi
}

header "tools"
ensure_rust_components
ensure_nats_server
ensure_schemathesis
ensure_buf
ensure_nextest
log "target dir: $(target_dir)"
log "$(prune_target)"

# No Rust file over 600 lines: a reader should never face a 5,000-line state machine.
file_lengths() {
	local long
	long="$(git ls-files '*.rs' | xargs wc -l | awk '$2 != "total" && $1 > 600 { print "  " $2 ": " $1 " lines" }')"
	if [ -n "$long" ]; then
		printf 'Rust files over 600 lines (split them):\n%s\n' "$long" >&2
		return 1
	fi
}
buf_lint() { (cd proto && "$BUF_BIN" lint); }
# Other teams build on proto/: nothing may break against the published
# baseline (proto/baseline.binpb). A deliberate breaking change rebuilds the
# baseline (`cd proto && buf build -o baseline.binpb`) in the same commit and
# says why in the commit message and proto/CHANGELOG.md.
buf_breaking() { (cd proto && "$BUF_BIN" breaking --against baseline.binpb); }

step "cargo fmt --all -- --check" cargo fmt --all -- --check
step "cargo clippy --workspace --all-targets -- -D warnings" cargo clippy --workspace --all-targets -- -D warnings
step "no Rust file over 600 lines" file_lengths
step "buf lint (in proto/)" buf_lint
step "buf breaking against proto/baseline.binpb" buf_breaking
step "chart" scripts/check-chart.sh
# The end-to-end tests start the service binaries from $CARGO_TARGET_DIR/debug.
step "cargo build --workspace --bins" cargo build --workspace --bins
step "cargo nextest run --workspace --no-fail-fast $*" cargo nextest run --workspace --no-fail-fast "$@"

# The container image's build stage, as far as this machine allows (no docker daemon
# is assumed): deploy/Dockerfile's own `cargo build --release --locked` over the
# services it names, then each binary answers --help.
dockerfile_build() {
	local services packages=() s
	services="$(sed -n 's/^ARG SERVICES="\([^"]*\)"/\1/p' deploy/Dockerfile)"
	if [ -z "$services" ]; then
		echo "deploy/Dockerfile names no SERVICES" >&2
		return 1
	fi
	for s in $services; do packages+=(-p "$s"); done
	cargo build --release --locked "${packages[@]}"
	for s in $services; do
		"$(target_dir)/release/$s" --help >/dev/null || {
			echo "release binary $s does not start" >&2
			return 1
		}
	done
}
if [ $# -eq 0 ]; then
	step "cargo build --release --locked (deploy/Dockerfile's build stage)" dockerfile_build
fi

header "all checks passed"
