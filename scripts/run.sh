#!/usr/bin/env bash
# Run the whole platform locally: NATS JetStream and every service on loopback,
# data under ./data.
#
#   scripts/run.sh              build, start, stay in the foreground; Ctrl-C stops all
#   scripts/run.sh --detach     build, start in the background, write ./data/pids, exit
#   scripts/run.sh stop         stop what --detach started
#   scripts/run.sh status       show what --detach started and whether it still runs
#
# Environment:
#   LOYALTY_NATS_PORT=4222      NATS client port (a free one is used if it is taken)
#   LOYALTY_SKIP_BUILD=1        do not run `cargo build --release` first
#   CARGO_TARGET_DIR            where the release binaries are (see scripts/lib.sh)
#   RUST_LOG=info               log filter passed to the services
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO"

SERVICES=(identity ledger purchases certificates social-poller gateway)
declare -A GRPC_PORT=(
	[identity]=50051 [ledger]=50052 [purchases]=50053
	[certificates]=50054 [social-poller]=50055 [gateway]=50056
)
declare -A METRICS_PORT=(
	[identity]=9101 [ledger]=9102 [purchases]=9103
	[certificates]=9104 [social-poller]=9105 [gateway]=9106
)
GATEWAY_HTTP_PORT=8080

DATA=./data
LOG_DIR="$DATA/logs"
PIDS_FILE="$DATA/pids"
# JetStream's store_dir (./data/nats) comes from this file: nats-server refuses -sd
# together with a config file that sets it.
NATS_CONF=deploy/nats/nats-server.conf
STOP_TIMEOUT_SECS=10

# usage: the comment block at the top of this file.
usage() { awk 'NR == 1 { next } /^#/ { sub(/^# ?/, ""); print; next } { exit }' "${BASH_SOURCE[0]}"; }

# ---------------------------------------------------------------------------
# Process bookkeeping

NAMES=()   # names of the processes we started, in start order
PIDS=()    # their pids
ADDRS=()   # what each listens on, for the table: "address|metrics url|http url"
LOGS=()    # their log files

# alive PID: the process exists and is not a zombie.
alive() {
	local state
	[ -r "/proc/$1/stat" ] || return 1
	state="$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1)" || return 1
	[ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

# is_our_process PID EXE: PID still runs EXE (guards against reused pids): EXE is
# its executable, or, for a script, its interpreter's first or second argument.
is_our_process() {
	local exe arg n=0
	exe="$(readlink "/proc/$1/exe" 2>/dev/null)" || return 1
	[ "${exe% (deleted)}" = "$2" ] && return 0
	while IFS= read -r -d '' arg && [ "$n" -lt 2 ]; do
		[ "$arg" = "$2" ] && return 0
		n=$((n + 1))
	done <"/proc/$1/cmdline" 2>/dev/null
	return 1
}

# stop_pids NAME:PID...: SIGTERM each (in the order given), wait for all to exit,
# SIGKILL what is left after STOP_TIMEOUT_SECS.
stop_pids() {
	local entry name pid i left
	for entry in "$@"; do
		name="${entry%%:*}"
		pid="${entry##*:}"
		if alive "$pid"; then
			log "stopping $name (pid $pid)"
			kill -TERM "$pid" 2>/dev/null || true
		fi
	done
	for ((i = 0; i < STOP_TIMEOUT_SECS * 10; i++)); do
		left=0
		for entry in "$@"; do
			if alive "${entry##*:}"; then left=1; fi
		done
		[ "$left" -eq 0 ] && return 0
		sleep 0.1
	done
	for entry in "$@"; do
		name="${entry%%:*}"
		pid="${entry##*:}"
		if alive "$pid"; then
			log "$name (pid $pid) did not stop in ${STOP_TIMEOUT_SECS}s: SIGKILL"
			kill -KILL "$pid" 2>/dev/null || true
		fi
	done
}

# stop_children: stop everything this run started, services first (newest first),
# NATS last so the outbox relays can still publish while they shut down.
stop_children() {
	local i entries=()
	for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
		entries+=("${NAMES[$i]}:${PIDS[$i]}")
	done
	if [ ${#entries[@]} -gt 0 ]; then
		stop_pids "${entries[@]}"
	fi
	wait 2>/dev/null || true
	NAMES=() PIDS=() ADDRS=() LOGS=()
}

# start_child NAME ADDRS LOGFILE EXE ARGS...: start one process in the background.
start_child() {
	local name="$1" addrs="$2" logfile="$3" exe
	shift 3
	exe="$(readlink -f "$1")"
	printf '\n=== %s: starting %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >>"$logfile"
	if [ "$DETACH" -eq 1 ] && command -v setsid >/dev/null 2>&1; then
		# Own session: survives this script and its terminal.
		setsid "$@" </dev/null >>"$logfile" 2>&1 &
	else
		"$@" </dev/null >>"$logfile" 2>&1 &
	fi
	local pid=$!
	NAMES+=("$name") PIDS+=("$pid") ADDRS+=("$addrs") LOGS+=("$logfile")
	if [ "$DETACH" -eq 1 ]; then
		printf '%s %s %s\n' "$name" "$pid" "$exe" >>"$PIDS_FILE"
	fi
}

# fail MESSAGE [LOGFILE]: report, show the log's tail, stop what we started, exit 1.
fail() {
	trap '' INT TERM # let the clean-up finish
	log "error: $1"
	if [ -n "${2:-}" ] && [ -s "$2" ]; then
		log "--- last lines of $2:"
		tail -n 20 "$2" >&2 || true
	fi
	stop_children
	rm -f "$PIDS_FILE"
	exit 1
}

on_signal() {
	trap '' INT TERM # a second Ctrl-C does not cut the clean-up short
	log ""
	log "signal received: stopping"
	stop_children
	rm -f "$PIDS_FILE"
	log "stopped"
	exit 0
}

# dev_partner_key: the local partner device the gateway accepts (partner
# dev-shop): its API key in ./data/gateway/dev-api-key, made on the first run,
# and its hash in ./data/gateway/api-keys.toml (see docs/gateway.md); and the
# key signing devices' tokens, ./data/gateway/device-token.key.
dev_partner_key() {
	local dir="$DATA/gateway"
	mkdir -p "$dir"
	if [ ! -s "$dir/dev-api-key" ]; then
		(umask 077 && head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$dir/dev-api-key")
	fi
	# The key signing devices' tokens (OAuth2 client credentials).
	if [ ! -s "$dir/device-token.key" ]; then
		(umask 077 && head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$dir/device-token.key")
	fi
	local hash
	hash="$(tr -d '\n' <"$dir/dev-api-key" | sha256sum | cut -d' ' -f1)"
	printf '[[device]]\nname = "dev-till"\nkey_sha256 = "%s"\npartner_id = "dev-shop"\nlocation_id = "dev"\n' \
		"$hash" >"$dir/api-keys.toml"
	log "gateway: the dev partner device's API key is in $dir/dev-api-key (send it as X-Api-Key)"
}

print_table() {
	local i main metrics http
	printf '\n%-14s %-8s %-24s %-32s %-22s %s\n' NAME PID ADDRESS METRICS HTTP LOG
	for i in "${!NAMES[@]}"; do
		IFS='|' read -r main metrics http <<<"${ADDRS[$i]}"
		printf '%-14s %-8s %-24s %-32s %-22s %s\n' "${NAMES[$i]}" "${PIDS[$i]}" \
			"$main" "${metrics:--}" "${http:--}" "${LOGS[$i]}"
	done
	printf '\n'
}

# ---------------------------------------------------------------------------
# Detached runs: status and stop

# read_pids_file: fill NAMES/PIDS/EXES from ./data/pids.
EXES=()
read_pids_file() {
	local name pid exe
	NAMES=() PIDS=() EXES=()
	[ -f "$PIDS_FILE" ] || return 0
	while read -r name pid exe; do
		[ -n "${name:-}" ] || continue
		NAMES+=("$name") PIDS+=("$pid") EXES+=("$exe")
	done <"$PIDS_FILE"
}

cmd_status() {
	local i state running=0
	read_pids_file
	if [ ${#NAMES[@]} -eq 0 ]; then
		log "nothing started with --detach ($PIDS_FILE is absent)"
		return 0
	fi
	printf '%-14s %-8s %s\n' NAME PID STATE
	for i in "${!NAMES[@]}"; do
		if alive "${PIDS[$i]}" && is_our_process "${PIDS[$i]}" "${EXES[$i]}"; then
			state=running
			running=1
		else
			state=gone
		fi
		printf '%-14s %-8s %s\n' "${NAMES[$i]}" "${PIDS[$i]}" "$state"
	done
	[ "$running" -eq 1 ]
}

cmd_stop() {
	local i entries=()
	read_pids_file
	if [ ${#NAMES[@]} -eq 0 ]; then
		log "nothing started with --detach is running ($PIDS_FILE is absent)"
		return 0
	fi
	for ((i = ${#NAMES[@]} - 1; i >= 0; i--)); do
		if alive "${PIDS[$i]}" && is_our_process "${PIDS[$i]}" "${EXES[$i]}"; then
			entries+=("${NAMES[$i]}:${PIDS[$i]}")
		else
			log "${NAMES[$i]} (pid ${PIDS[$i]}) is not running"
		fi
	done
	if [ ${#entries[@]} -gt 0 ]; then
		stop_pids "${entries[@]}"
	fi
	rm -f "$PIDS_FILE"
	log "stopped"
}

# ---------------------------------------------------------------------------
# Start

cmd_start() {
	local bin_dir name port nats_port nats_url nats_log conflicts=() present=()

	# A detached run that is still up owns the ports and ./data.
	if [ -f "$PIDS_FILE" ]; then
		if cmd_status >/dev/null 2>&1; then
			die "the platform is already running (started with --detach); stop it with: scripts/run.sh stop"
		fi
		rm -f "$PIDS_FILE"
		NAMES=() PIDS=() EXES=()
	fi

	# A signal while starting stops what has started so far; in the foreground it is
	# also how the run ends (Ctrl-C, SIGTERM).
	trap on_signal INT TERM

	ensure_nats_server

	if [ "${LOYALTY_SKIP_BUILD:-0}" = 1 ]; then
		log "LOYALTY_SKIP_BUILD=1: not building"
	else
		header "cargo build --release --workspace --bins"
		cargo build --release --workspace --bins
	fi

	bin_dir="$(target_dir)/release"
	for name in "${SERVICES[@]}"; do
		if [ -x "$bin_dir/$name" ]; then
			present+=("$name")
		fi
	done

	# Fixed service ports must be free before anything starts.
	for name in "${present[@]}"; do
		local ports=("${GRPC_PORT[$name]}" "${METRICS_PORT[$name]}")
		# The gateway serves HTTP, not gRPC.
		[ "$name" = gateway ] && ports=("$GATEWAY_HTTP_PORT" "${METRICS_PORT[$name]}")
		for port in "${ports[@]}"; do
			if port_in_use "$port"; then conflicts+=("$name:$port"); fi
		done
	done
	if [ ${#conflicts[@]} -gt 0 ]; then
		die "ports already in use: ${conflicts[*]} (is the platform running already?)"
	fi

	mkdir -p "$DATA/nats" "$LOG_DIR"

	# NATS JetStream.
	nats_port="${LOYALTY_NATS_PORT:-4222}"
	if port_in_use "$nats_port"; then
		local what="another process"
		if port_is_nats "$nats_port"; then what="another NATS server"; fi
		local requested="$nats_port"
		nats_port="$(free_port)"
		log "port $requested is already used by $what: starting our NATS on port $nats_port instead"
	fi
	nats_url="nats://127.0.0.1:$nats_port"
	nats_log="$LOG_DIR/nats.log"
	header "starting nats-server (JetStream) on $nats_url"
	start_child nats "$nats_url" "$nats_log" \
		"$NATS_SERVER_BIN" -c "$NATS_CONF" -a 127.0.0.1 -p "$nats_port"
	if ! wait_for_port "$nats_port" 15 "${PIDS[0]}"; then
		fail "nats-server did not start listening on port $nats_port" "$nats_log"
	fi

	# Services.
	if [ ${#present[@]} -eq 0 ]; then
		log "no service binary built yet (looked in $bin_dir for: ${SERVICES[*]}): running NATS only"
	fi
	export RUST_LOG="${RUST_LOG:-info}"
	for name in "${present[@]}"; do
		local args=(
			--data-dir "$DATA/$name"
			--grpc-addr "127.0.0.1:${GRPC_PORT[$name]}"
			--metrics-addr "127.0.0.1:${METRICS_PORT[$name]}"
			--nats-url "$nats_url"
		)
		local http="" main="grpc://127.0.0.1:${GRPC_PORT[$name]}"
		if [ "$name" = gateway ]; then
			# Stateless: no data dir, no NATS, no gRPC; the public HTTP API.
			dev_partner_key
			args=(
				--http-addr "127.0.0.1:$GATEWAY_HTTP_PORT"
				--metrics-addr "127.0.0.1:${METRICS_PORT[$name]}"
				--api-keys-file "$DATA/gateway/api-keys.toml"
				--device-token-key-file "$DATA/gateway/device-token.key"
				--drain-secs 0
			)
			http="http://127.0.0.1:$GATEWAY_HTTP_PORT"
			main="$http"
		fi
		if [ "$name" = social-poller ]; then
			# Groups name their access token in this file (`name token` per line);
			# it starts empty: add a group's token before connecting it.
			mkdir -p "$DATA/$name"
			if [ ! -f "$DATA/$name/secrets" ]; then
				printf '# access tokens of social-network groups: one "name token" per line\n' >"$DATA/$name/secrets"
				chmod 600 "$DATA/$name/secrets"
			fi
			args+=(--secrets-file "$DATA/$name/secrets")
		fi
		local addrs="$main|http://127.0.0.1:${METRICS_PORT[$name]}/metrics|$http"
		mkdir -p "$DATA/$name"
		header "starting $name"
		start_child "$name" "$addrs" "$LOG_DIR/$name.log" "$bin_dir/$name" "${args[@]}"
	done
	local i
	for ((i = 1; i < ${#NAMES[@]}; i++)); do
		name="${NAMES[$i]}"
		local port="${GRPC_PORT[$name]}"
		[ "$name" = gateway ] && port="$GATEWAY_HTTP_PORT"
		if ! wait_for_port "$port" 30 "${PIDS[$i]}"; then
			if alive "${PIDS[$i]}"; then
				log "warning: $name is running but not listening on $port yet"
			else
				fail "$name exited during start-up" "${LOGS[$i]}"
			fi
		fi
	done

	print_table
	if [ "$DETACH" -eq 1 ]; then
		log "running in the background (pids in $PIDS_FILE); stop with: scripts/run.sh stop"
		exit 0
	fi

	log "running; press Ctrl-C to stop"
	# Stay in the foreground until a signal or until any child exits.
	while true; do
		wait -n || true
		for i in "${!PIDS[@]}"; do
			if ! alive "${PIDS[$i]}"; then
				fail "${NAMES[$i]} (pid ${PIDS[$i]}) exited" "${LOGS[$i]}"
			fi
		done
	done
}

# ---------------------------------------------------------------------------

DETACH=0
case "${1:-}" in
"") cmd_start ;;
--detach | -d) DETACH=1 && cmd_start ;;
stop) cmd_stop ;;
status) cmd_status ;;
-h | --help | help) usage ;;
*)
	usage >&2
	exit 2
	;;
esac
