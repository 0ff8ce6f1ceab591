#!/usr/bin/env python3
"""Checks of the rendered Helm chart (charts/loyalty) that schema validation cannot make.

Run by scripts/check-chart.sh, which renders the chart and puts PyYAML on PYTHONPATH:

  check_chart.py strip-crds IN OUT
      copies the manifests of IN to OUT without the kinds the Kubernetes schemas do not
      know (CRDs: ServiceMonitor), naming what it left out
  check_chart.py nats-conf IN OUT
      writes the bundled NATS config (nats.conf of the NATS ConfigMap) of IN to OUT
  check_chart.py assert --dockerfile F --default F --production F --all-services F \
                        --values F --readme F --gateway-config F --social-config F --kit-src DIR
      the assertions below; exit 1 with every failure listed

Assertions:
  - every container of every pod (services, NATS, Jobs) runs as non-root, with a read-only
    root filesystem, no privilege escalation and all capabilities dropped;
  - every container of a Deployment or StatefulSet has readiness and liveness probes; the
    gRPC services' probes are native gRPC probes on their gRPC port, with a startup probe;
    the gateway (HTTP only) has HTTP probes on its HTTP port at its health paths and no gRPC
    port;
  - the default render holds no Secret with data (secrets come from existing Secrets, or from
    content the user gives);
  - the production render runs identity, ledger and purchases as StatefulSets (one replica,
    a data volume), NATS as 3 servers with sync_interval "always" and a 3-replica stream, and
    the gateway as a Deployment of 2+ pods with an autoscaler and a PodDisruptionBudget;
  - the services' data dir, user and binaries match deploy/Dockerfile; the gateway (no data)
    gets no data dir, and only environment variables its config.rs reads;
  - each service's upstream URLs name a Service of the render, on its gRPC port;
  - the NetworkPolicies allow exactly the calls the architecture has, both ways (ingress to
    gRPC ports, egress to the services and NATS), and the gateway's HTTP port admits the
    ingress controller and no service of the release;
  - with every service on, the gateway mounts its API keys file and device-token key;
  - the social poller is a StatefulSet (one pod, a data volume) that gets only environment
    variables its config.rs and the kit's ServiceArgs read, calls identity only (not the
    ledger: it publishes to NATS), and, with every service on, mounts its secrets file and
    serves the VK Callback API on a container port, a Service port and an ingress-controller
    NetworkPolicy rule of its own;
  - the chart README's values table covers every value of values.yaml.
"""

import argparse
import re
import shlex
import sys

import yaml

# Kinds whose schemas are not in kubernetes-validate (custom resources).
CRD_KINDS = {"ServiceMonitor", "PodMonitor", "PrometheusRule"}
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"}
POD_KINDS = WORKLOAD_KINDS | {"Job", "CronJob", "Pod"}
SERVICES = ["identity", "ledger", "purchases", "certificates", "social-poller", "gateway"]
STATEFUL = {"identity", "ledger", "purchases", "certificates", "social-poller"}
# Services that serve HTTP, not gRPC: their probes' paths (services/gateway/src/http/mod.rs).
HTTP_PROBES = {
    "gateway": {"startupProbe": "/health/ready", "readinessProbe": "/health/ready", "livenessProbe": "/health/live"},
}
# Services that keep no data and use no NATS (no LOYALTY_DATA_DIR, no data volume, no NATS egress).
NO_DATA = {"gateway"}
NATS_PORT = 4222
# Who may call whom (gRPC): the architecture's calls, as the chart wires them.
EXPECTED_CALLERS = {
    "identity": {"ledger", "purchases", "social-poller", "gateway"},
    "ledger": {"purchases", "certificates", "gateway"},
    "purchases": {"gateway"},
    "certificates": {"purchases", "gateway"},
    "social-poller": set(),
    "gateway": set(),
}
# The social poller's VK Callback API (SOCIAL_CALLBACK_ADDR): an HTTP port named "callback",
# reached from the ingress controller only.
CALLBACK_ENV = "SOCIAL_CALLBACK_ADDR"


def load(path):
    with open(path, encoding="utf-8") as f:
        return [d for d in yaml.safe_load_all(f) if d]


def component(doc):
    return doc.get("metadata", {}).get("labels", {}).get("app.kubernetes.io/component")


def pod_spec(doc):
    spec = doc.get("spec", {})
    if doc["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    if doc["kind"] == "Pod":
        return spec
    return spec["template"]["spec"]


def containers(doc):
    spec = pod_spec(doc)
    return spec.get("initContainers", []) + spec.get("containers", [])


def dockerfile_contract(path):
    """uid, data dir and service list of the runtime image."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    # Join continuation lines, then read the last stage.
    lines = re.sub(r"\\\n", " ", text).splitlines()
    stages = [i for i, line in enumerate(lines) if re.match(r"^FROM\s", line, re.I)]
    runtime = lines[stages[-1]:]
    uid = data_dir = None
    for line in runtime:
        m = re.match(r"^USER\s+(\d+)", line, re.I)
        if m:
            uid = int(m.group(1))
        m = re.match(r"^ENV\s+(.*)$", line, re.I)
        if m:
            for word in shlex.split(m.group(1)):
                if word.startswith("LOYALTY_DATA_DIR="):
                    data_dir = word.split("=", 1)[1]
    services = None
    for line in lines:
        m = re.match(r'^ARG\s+SERVICES=(.*)$', line, re.I)
        if m:
            services = shlex.split(m.group(1))[0].split()
    return uid, data_dir, services


class Checks:
    def __init__(self):
        self.failures = []
        self.passed = 0

    def check(self, ok, message):
        if ok:
            self.passed += 1
        else:
            self.failures.append(message)


def check_security(c, render, docs):
    for doc in docs:
        if doc["kind"] not in POD_KINDS:
            continue
        where = f"{render}: {doc['kind']} {doc['metadata']['name']}"
        pod_sc = pod_spec(doc).get("securityContext", {})
        for ctr in containers(doc):
            sc = ctr.get("securityContext", {})
            name = f"{where} container {ctr['name']}"
            non_root = sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot"))
            uid = sc.get("runAsUser", pod_sc.get("runAsUser"))
            c.check(non_root is True, f"{name}: runAsNonRoot is not true")
            c.check(uid not in (None, 0), f"{name}: runAsUser is {uid!r}, not a non-root uid")
            c.check(sc.get("readOnlyRootFilesystem") is True, f"{name}: readOnlyRootFilesystem is not true")
            c.check(sc.get("allowPrivilegeEscalation") is False, f"{name}: allowPrivilegeEscalation is not false")
            c.check("ALL" in sc.get("capabilities", {}).get("drop", []), f"{name}: capabilities do not drop ALL")
            c.check(sc.get("privileged") in (None, False), f"{name}: privileged")
            seccomp = sc.get("seccompProfile", pod_sc.get("seccompProfile", {}))
            c.check(seccomp.get("type") == "RuntimeDefault", f"{name}: seccompProfile is not RuntimeDefault")
            mounts = {m["mountPath"] for m in ctr.get("volumeMounts", [])}
            c.check("/tmp" in mounts, f"{name}: no writable /tmp (emptyDir) with a read-only root")


def check_probes(c, render, docs):
    for doc in docs:
        if doc["kind"] not in WORKLOAD_KINDS:
            continue
        where = f"{render}: {doc['kind']} {doc['metadata']['name']}"
        for ctr in pod_spec(doc).get("containers", []):
            name = f"{where} container {ctr['name']}"
            c.check("readinessProbe" in ctr, f"{name}: no readinessProbe")
            c.check("livenessProbe" in ctr, f"{name}: no livenessProbe")
            ports = {p["name"]: p["containerPort"] for p in ctr.get("ports", [])}
            if component(doc) in HTTP_PROBES:
                c.check("grpc" not in ports, f"{name}: has a gRPC port, but {component(doc)} serves no gRPC")
                for probe, path in HTTP_PROBES[component(doc)].items():
                    got = ctr.get(probe, {}).get("httpGet", {})
                    c.check(ports.get("http") is not None and got.get("port") in (ports.get("http"), "http")
                            and got.get("path") == path,
                            f"{name}: {probe} is not an HTTP GET {path} on the HTTP port {ports.get('http')} (got {got!r})")
            elif component(doc) in SERVICES:
                grpc_port = ports.get("grpc")
                for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                    got = ctr.get(probe, {}).get("grpc", {}).get("port")
                    c.check(grpc_port is not None and got == grpc_port,
                            f"{name}: {probe} is not a gRPC probe on the gRPC port {grpc_port} (got {got!r})")


def check_no_secret_data(c, render, docs):
    for doc in docs:
        if doc["kind"] == "Secret":
            for field in ("data", "stringData"):
                filled = {k for k, v in (doc.get(field) or {}).items() if v not in (None, "")}
                c.check(not filled, f"{render}: Secret {doc['metadata']['name']} has {field} from defaults: "
                        f"{sorted(filled)} (secrets must come from existing Secrets)")


def service_workloads(docs):
    return {component(d): d for d in docs if d["kind"] in WORKLOAD_KINDS and component(d) in SERVICES}


def check_image_contract(c, render, docs, uid, data_dir, built):
    for name, doc in service_workloads(docs).items():
        where = f"{render}: {doc['kind']} {doc['metadata']['name']}"
        pod_sc = pod_spec(doc).get("securityContext", {})
        ctr = pod_spec(doc)["containers"][0]
        sc = ctr.get("securityContext", {})
        c.check(sc.get("runAsUser", pod_sc.get("runAsUser")) == uid,
                f"{where}: runs as {sc.get('runAsUser', pod_sc.get('runAsUser'))!r}, the Dockerfile's USER is {uid}")
        c.check(pod_sc.get("fsGroup") == uid, f"{where}: fsGroup is not {uid} (the data volume would not be writable)")
        env = {e["name"]: e.get("value") for e in ctr.get("env", [])}
        mounts = {m["mountPath"]: m["name"] for m in ctr.get("volumeMounts", [])}
        if name in NO_DATA:
            c.check("LOYALTY_DATA_DIR" not in env and data_dir not in mounts,
                    f"{where}: {name} keeps no data, yet gets a data dir")
        else:
            c.check(env.get("LOYALTY_DATA_DIR") == data_dir,
                    f"{where}: LOYALTY_DATA_DIR is {env.get('LOYALTY_DATA_DIR')!r}, the Dockerfile's is {data_dir!r}")
            c.check(mounts.get(data_dir) == "data", f"{where}: no volume 'data' mounted at {data_dir}")
        c.check(ctr.get("command") == [f"/usr/local/bin/{name}"],
                f"{where}: command {ctr.get('command')!r} is not [/usr/local/bin/{name}]")
        if render == "default":
            c.check(name in built, f"{where}: {name} is enabled by default but the Dockerfile's SERVICES "
                    f"({' '.join(built)}) does not build it")


def check_production(c, docs):
    workloads = service_workloads(docs)
    for name in ("identity", "ledger", "purchases"):
        doc = workloads.get(name)
        c.check(doc is not None and doc["kind"] == "StatefulSet", f"production: {name} is not a StatefulSet")
        if doc is not None and doc["kind"] == "StatefulSet":
            c.check(doc["spec"]["replicas"] == 1, f"production: {name} has {doc['spec']['replicas']} replicas, not 1")
            claims = [t["metadata"]["name"] for t in doc["spec"].get("volumeClaimTemplates", [])]
            c.check(claims == ["data"], f"production: {name} volumeClaimTemplates are {claims}, not [data]")
    nats = [d for d in docs if d["kind"] == "StatefulSet" and component(d) == "nats"]
    c.check(len(nats) == 1 and nats[0]["spec"]["replicas"] == 3, "production: no NATS StatefulSet with 3 replicas")
    conf = nats_conf(docs)
    c.check(conf is not None and re.search(r'sync_interval:\s*"?always"?', conf) is not None,
            "production: the NATS config does not set sync_interval always")
    c.check(conf is not None and conf.count("nats://") == 3, "production: the NATS config does not route 3 servers")
    jobs = [d for d in docs if d["kind"] == "Job" and component(d) == "nats-stream"]
    replicas = [e.get("value") for j in jobs for e in pod_spec(j)["containers"][0]["env"] if e["name"] == "REPLICAS"]
    c.check(replicas == ["3"], f"production: the stream Job does not make 3 stream replicas ({replicas})")
    monitors = {component(d) for d in docs if d["kind"] == "ServiceMonitor"}
    c.check({"identity", "ledger", "purchases"} <= monitors, "production: no ServiceMonitor for every service")
    hpas = [d for d in docs if d["kind"] == "HorizontalPodAutoscaler"]
    c.check(all(component(h) not in STATEFUL for h in hpas), "production: an autoscaler on a stateful service")
    gateway = workloads.get("gateway")
    c.check(gateway is not None and gateway["kind"] == "Deployment", "production: the gateway is not a Deployment")
    if gateway is None:
        return
    hpa = next((h for h in hpas if component(h) == "gateway"), None)
    c.check(hpa is not None and hpa["spec"]["minReplicas"] >= 2,
            "production: the gateway has no autoscaler with at least 2 replicas")
    c.check("replicas" not in gateway["spec"] or gateway["spec"]["replicas"] >= 2,
            "production: the gateway runs fewer than 2 replicas")
    pdbs = {component(d) for d in docs if d["kind"] == "PodDisruptionBudget"}
    c.check("gateway" in pdbs, "production: the gateway has no PodDisruptionBudget")


def check_upstreams(c, render, docs):
    services = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Service"}
    for name, doc in service_workloads(docs).items():
        for e in pod_spec(doc)["containers"][0].get("env", []):
            value = e.get("value") or ""
            m = re.match(r"^http://([^.]+)\.([^.]+)\.svc:(\d+)$", value)
            if not m or not e["name"].endswith("_URL"):
                continue
            svc = services.get(m.group(1))
            ports = {p["port"] for p in svc["spec"]["ports"]} if svc else set()
            c.check(svc is not None and int(m.group(3)) in ports,
                    f"{render}: {name} {e['name']}={value} names no Service port of the render")


def expected_upstreams(name, enabled):
    """The services `name` calls, by EXPECTED_CALLERS."""
    return {callee for callee, callers in EXPECTED_CALLERS.items() if name in callers} & enabled


def container_ports(workload):
    return {p["name"]: p["containerPort"] for p in pod_spec(workload)["containers"][0].get("ports", [])}


def check_network_policies(c, render, docs):
    policies = {component(d): d for d in docs if d["kind"] == "NetworkPolicy" and component(d) in SERVICES}
    workloads = service_workloads(docs)
    enabled = set(workloads)
    c.check(enabled <= set(policies), f"{render}: services without a NetworkPolicy: {sorted(enabled - set(policies))}")
    nats_bundled = any(d["kind"] == "StatefulSet" and component(d) == "nats" for d in docs)
    for name, policy in policies.items():
        ports_of = container_ports(workloads[name])
        # The port the service is called on: gRPC, or HTTP for the gateway.
        main_port = ports_of.get("grpc", ports_of.get("http"))
        callers, outside = set(), []
        for rule in policy["spec"].get("ingress", []):
            ports = {p.get("port") for p in rule.get("ports", [])}
            if ports and main_port not in ports:
                continue
            if not rule.get("from"):
                outside.append("everyone")
            for peer in rule.get("from", []):
                if set(peer) == {"podSelector"}:
                    callers.add(peer["podSelector"].get("matchLabels", {}).get("app.kubernetes.io/component"))
                else:
                    outside.append(peer)
        expected = EXPECTED_CALLERS[name] & enabled
        c.check(callers == expected, f"{render}: {name} accepts calls from {sorted(callers, key=str)}, "
                f"the architecture says {sorted(expected)}")
        if name in HTTP_PROBES:
            # The public API: the ingress controller (a namespace's pods) reaches it.
            c.check(any(isinstance(p, dict) and "namespaceSelector" in p for p in outside),
                    f"{render}: {name}'s HTTP port admits no ingress controller")
        else:
            # Peers outside the release come only from a service's networkPolicy.extraIngress.
            c.check(not outside or render == "all-services",
                    f"{render}: {name} accepts gRPC from outside the release: {outside}")
        # Egress: to exactly its upstreams' gRPC ports (and NATS) inside the release.
        reached = {}
        for rule in policy["spec"].get("egress", []):
            ports = {p.get("port") for p in rule.get("ports", [])}
            c.check(bool(ports) or render == "all-services", f"{render}: {name} has an egress rule to any port")
            if NATS_PORT in ports and name in NO_DATA:
                c.check(False, f"{render}: {name} uses no NATS, yet may reach port {NATS_PORT}")
            for peer in rule.get("to", []):
                if set(peer) == {"podSelector"}:
                    callee = peer["podSelector"].get("matchLabels", {}).get("app.kubernetes.io/component")
                    reached.setdefault(callee, set()).update(ports)
        want = expected_upstreams(name, enabled) | ({"nats"} if nats_bundled and name not in NO_DATA else set())
        c.check(set(reached) == want, f"{render}: {name} may call {sorted(reached, key=str)}, "
                f"the architecture says {sorted(want)}")
        for callee, ports in reached.items():
            port = NATS_PORT if callee == "nats" else container_ports(workloads[callee]).get("grpc") \
                if callee in workloads else None
            c.check(ports == {port}, f"{render}: {name} reaches {callee} on {sorted(ports)}, not its gRPC port {port}")


def gateway_env_names(config_path, kit_src, sources=None):
    """The environment variables the gateway reads: the `env = ...` of its config.rs, resolved
    through the constants of config.rs and the kit, and the log filter the kit reads. With
    `sources`, the `env = ...` of those files instead (a kit service: its config.rs and the
    kit's bootstrap.rs)."""
    consts = {}
    for path in (config_path, f"{kit_src}/bootstrap.rs", f"{kit_src}/telemetry.rs"):
        with open(path, encoding="utf-8") as f:
            consts.update(re.findall(r'pub const (ENV_\w+): &str = "([A-Z0-9_]+)";', f.read()))
    used = []
    for path in sources or [config_path]:
        with open(path, encoding="utf-8") as f:
            used += re.findall(r"env = (?:[\w:]+::)?(ENV_\w+)", f.read())
    return {consts[u] for u in used if u in consts} | {consts.get("ENV_LOG_FILTER", "RUST_LOG")}, \
        [u for u in used if u not in consts]


def check_gateway(c, renders, config_path, kit_src):
    names, unresolved = gateway_env_names(config_path, kit_src)
    c.check(not unresolved, f"{config_path}: env constants not found: {unresolved}")
    c.check("GATEWAY_HTTP_ADDR" in names and "GATEWAY_API_KEYS_FILE" in names,
            f"{config_path}: the gateway's env names were not read ({sorted(names)})")
    for render, docs in renders.items():
        gateway = service_workloads(docs).get("gateway")
        if gateway is None:
            continue
        ctr = pod_spec(gateway)["containers"][0]
        env = {e["name"]: e.get("value") for e in ctr.get("env", [])}
        unknown = sorted(set(env) - names)
        c.check(not unknown, f"{render}: the gateway gets env its config.rs does not read: {unknown}")
        ports = container_ports(gateway)
        c.check(env.get("GATEWAY_HTTP_ADDR") == f"0.0.0.0:{ports.get('http')}",
                f"{render}: GATEWAY_HTTP_ADDR is {env.get('GATEWAY_HTTP_ADDR')!r}, not 0.0.0.0:<http port>")
        c.check(env.get("LOYALTY_METRICS_ADDR") == f"0.0.0.0:{ports.get('metrics')}",
                f"{render}: the gateway's LOYALTY_METRICS_ADDR is {env.get('LOYALTY_METRICS_ADDR')!r}")
        services = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Service" and component(d) == "gateway"}
        svc_ports = {p["name"] for s in services.values() for p in s["spec"]["ports"]}
        c.check(svc_ports == {"http", "metrics"}, f"{render}: the gateway's Service ports are {sorted(svc_ports)}")
        for ing in (d for d in docs if d["kind"] == "Ingress"):
            for rule in ing["spec"].get("rules", []):
                for path in rule.get("http", {}).get("paths", []):
                    backend = path["backend"]["service"]
                    c.check(backend["name"] in services and backend["port"].get("name") == "http",
                            f"{render}: Ingress {ing['metadata']['name']} does not route to the gateway's http port")
        mounted = {m["mountPath"] for m in ctr.get("volumeMounts", [])}
        for var in ("GATEWAY_API_KEYS_FILE", "GATEWAY_DEVICE_TOKEN_KEY_FILE", "LOYALTY_SERVICE_TOKEN_FILE"):
            if var in env:
                c.check(env[var].rsplit("/", 1)[0] in mounted, f"{render}: the gateway's {var} is not mounted")
        if render == "all-services":
            for var in ("GATEWAY_API_KEYS_FILE", "GATEWAY_DEVICE_TOKEN_KEY_FILE", "LOYALTY_SERVICE_TOKEN_FILE"):
                c.check(var in env, f"{render}: the gateway has no {var}")


def check_social_poller(c, renders, config_path, kit_src):
    names, unresolved = gateway_env_names(config_path, kit_src, [config_path, f"{kit_src}/bootstrap.rs"])
    c.check(not unresolved, f"{config_path}: env constants not found: {unresolved}")
    c.check({"SOCIAL_IDENTITY_URL", "SOCIAL_SECRETS_FILE", CALLBACK_ENV, "LOYALTY_DATA_DIR"} <= names,
            f"{config_path}: the social poller's env names were not read ({sorted(names)})")
    for render, docs in renders.items():
        poller = service_workloads(docs).get("social-poller")
        if poller is None:
            continue
        where = f"{render}: social-poller"
        c.check(poller["kind"] == "StatefulSet" and poller["spec"]["replicas"] == 1
                and [t["metadata"]["name"] for t in poller["spec"].get("volumeClaimTemplates", [])] == ["data"],
                f"{where} is not a StatefulSet of 1 pod with a data volume")
        ctr = pod_spec(poller)["containers"][0]
        env = {e["name"]: e.get("value") for e in ctr.get("env", [])}
        unknown = sorted(set(env) - names)
        c.check(not unknown, f"{where} gets env its config.rs and the kit do not read: {unknown}")
        ports = container_ports(poller)
        services = [d for d in docs if d["kind"] == "Service" and component(d) == "social-poller"
                    and d["spec"].get("clusterIP") != "None"]
        svc_ports = {p["name"]: p["port"] for s in services for p in s["spec"]["ports"]}
        policy = next((d for d in docs if d["kind"] == "NetworkPolicy" and component(d) == "social-poller"), None)
        callback_peers = []
        for rule in (policy or {}).get("spec", {}).get("ingress", []):
            if ports.get("callback") in {p.get("port") for p in rule.get("ports", [])}:
                callback_peers += rule.get("from", [{}])
        if "callback" in ports:
            c.check(env.get(CALLBACK_ENV) == f"0.0.0.0:{ports['callback']}",
                    f"{where}: {CALLBACK_ENV} is {env.get(CALLBACK_ENV)!r}, not 0.0.0.0:<callback port>")
            c.check(svc_ports.get("callback") == ports["callback"], f"{where}: no Service port callback")
            c.check(bool(callback_peers) and all("namespaceSelector" in p for p in callback_peers),
                    f"{where}: the callback port admits {callback_peers}, not the ingress controller")
        else:
            c.check(CALLBACK_ENV not in env and "callback" not in svc_ports,
                    f"{where}: a callback address or Service port without a callback container port")
        mounted = {m["mountPath"] for m in ctr.get("volumeMounts", [])}
        if "SOCIAL_SECRETS_FILE" in env:
            c.check(env["SOCIAL_SECRETS_FILE"].rsplit("/", 1)[0] in mounted, f"{where}: SOCIAL_SECRETS_FILE is not mounted")
        if render == "all-services":
            for var in ("SOCIAL_SECRETS_FILE", CALLBACK_ENV, "LOYALTY_SERVICE_TOKEN_FILE", "LOYALTY_NATS_URL"):
                c.check(var in env, f"{where} has no {var}")


def readme_values(path):
    """The value paths the README's table rows name (`a.b`, `.c` siblings, `services.*`)."""
    names = set()
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not line.startswith("| `"):
                continue
            items = re.findall(r"`([^`]+)`", line.split("|")[1])
            parent = items[0].rsplit(".", 1)[0]
            names.add(items[0])
            names.update(parent + item for item in items[1:] if item.startswith("."))
    return names


def value_paths(values, prefix=""):
    for key, value in values.items():
        path = f"{prefix}.{key}" if prefix else key
        if isinstance(value, dict) and value:
            yield from value_paths(value, path)
        else:
            yield path


def check_readme(c, values_path, readme_path):
    with open(values_path, encoding="utf-8") as f:
        values = yaml.safe_load(f)
    listed = readme_values(readme_path)
    for path in value_paths(values):
        parts = path.split(".")
        candidates = {".".join(parts[:i]) for i in range(1, len(parts) + 1)}
        if parts[0] == "services" and len(parts) > 2:
            candidates |= {".".join(["services", "*"] + parts[2:i]) for i in range(3, len(parts) + 1)}
        c.check(candidates & listed, f"{readme_path}: the values table does not list {path}")


def nats_conf(docs):
    for d in docs:
        if d["kind"] == "ConfigMap" and component(d) == "nats":
            return d["data"]["nats.conf"]
    return None


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    strip = sub.add_parser("strip-crds")
    strip.add_argument("input")
    strip.add_argument("output")
    conf = sub.add_parser("nats-conf")
    conf.add_argument("input")
    conf.add_argument("output")
    check = sub.add_parser("assert")
    for flag in ("--dockerfile", "--default", "--production", "--all-services", "--values", "--readme",
                 "--gateway-config", "--social-config", "--kit-src"):
        check.add_argument(flag, required=True)
    args = parser.parse_args()

    if args.command == "strip-crds":
        docs = load(args.input)
        kept = [d for d in docs if d["kind"] not in CRD_KINDS]
        for d in docs:
            if d["kind"] in CRD_KINDS:
                print(f"  not schema-checked (custom resource): {d['kind']} {d['metadata']['name']}", file=sys.stderr)
        with open(args.output, "w", encoding="utf-8") as f:
            yaml.safe_dump_all(kept, f, sort_keys=False)
        return 0
    if args.command == "nats-conf":
        text = nats_conf(load(args.input))
        if text is None:
            print(f"{args.input}: no NATS ConfigMap", file=sys.stderr)
            return 1
        with open(args.output, "w", encoding="utf-8") as f:
            f.write(text)
        return 0

    uid, data_dir, built = dockerfile_contract(args.dockerfile)
    c = Checks()
    c.check(uid is not None, f"{args.dockerfile}: no numeric USER in the runtime stage")
    c.check(data_dir is not None, f"{args.dockerfile}: no ENV LOYALTY_DATA_DIR in the runtime stage")
    c.check(bool(built), f"{args.dockerfile}: no ARG SERVICES default")
    renders = {"default": load(args.default), "production": load(args.production),
               "all-services": load(args.all_services)}
    for render, docs in renders.items():
        check_security(c, render, docs)
        check_probes(c, render, docs)
        check_image_contract(c, render, docs, uid, data_dir, built or [])
        check_upstreams(c, render, docs)
        check_network_policies(c, render, docs)
    check_no_secret_data(c, "default", renders["default"])
    check_gateway(c, renders, args.gateway_config, args.kit_src)
    check_social_poller(c, renders, args.social_config, args.kit_src)
    check_production(c, renders["production"])
    check_readme(c, args.values, args.readme)
    c.check(set(service_workloads(renders["all-services"])) == set(SERVICES),
            "all-services: not every service rendered")
    if c.failures:
        print(f"chart checks: {len(c.failures)} failed, {c.passed} passed", file=sys.stderr)
        for f in c.failures:
            print(f"  FAIL {f}", file=sys.stderr)
        return 1
    print(f"chart checks: {c.passed} passed (image: uid {uid}, data dir {data_dir}, binaries {' '.join(built)})",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
