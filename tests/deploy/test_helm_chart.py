"""The Helm chart deploy/helm/sre-bot, checked with Helm's own engine and the Kubernetes schemas.

No `helm` binary can be installed from the registries this project reaches (PyPI, Debian, npm), so the chart is
linted and rendered by `helm-python-sdk` (import `helm_python`): the official Helm Go SDK (v4) as a shared library
in its wheel, the same code `helm lint` and `helm template` run. The rendered manifests are then validated against
the Kubernetes OpenAPI schemas bundled by `kubernetes-validate` (strict: unknown fields are errors); the two
prometheus-operator kinds have no bundled schema, so the PrometheusRule's rules go through `promtool check rules`
and the ServiceMonitor is checked against the Service it selects. Outside CI a missing package skips these tests;
under CI it fails them.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from sre_bot.config import parse_config
from sre_bot.settings import load_settings
from tests.deploy.chart import (
    CHART,
    CRDS,
    FULL,
    ROOT,
    RULES,
    SECRET_SETTINGS,
    SQLITE,
    container,
    env_of,
    merged,
    one,
    render,
)
from tests.realprom import require_binaries


@pytest.mark.parametrize("values", [{}, FULL, SQLITE, {"slack": {"mode": "socket"}}],
                         ids=["defaults", "postgres-3-replicas", "sqlite-1-replica", "socket-mode"])
def test_helm_lint_strict(helm: ModuleType, values: dict[str, Any]) -> None:
    """`helm lint --strict` finds nothing above INFO (the only note: the chart has no icon)."""
    report = helm.lint(str(CHART), values, strict=True, namespace="ops")
    assert report["errors"] == []
    worse = [m for m in report["messages"] if m["severity"] > 1]
    assert worse == [], worse


def test_defaults_render_two_replicas_on_postgresql(helm: ModuleType, tmp_path: Path) -> None:
    """Default values: 2 replicas in HTTP mode, SRE_BOT_DB_URL from the Secret named like the release, a PDB, and
    no prometheus-operator objects (they need the CRDs, so they are opt-in)."""
    docs = render(helm, {}, tmp_path)
    kinds = sorted(d["kind"] for d in docs)
    assert kinds == ["ConfigMap", "ConfigMap", "Deployment", "PodDisruptionBudget", "Service", "ServiceAccount"]
    dep = one(docs, "Deployment")
    assert dep["spec"]["replicas"] == 2
    env = env_of(docs)
    assert env["SRE_BOT_DB_URL"]["valueFrom"]["secretKeyRef"] == {"name": "sre-bot", "key": "SRE_BOT_DB_URL"}
    assert env["SLACK_SIGNING_SECRET"]["valueFrom"]["secretKeyRef"]["name"] == "sre-bot"
    assert "SLACK_APP_TOKEN" not in env  # HTTP mode: no Socket Mode token, or the bot would switch modes
    assert one(docs, "Service")["spec"]["ports"][0]["port"] == 3000


def test_postgresql_three_replicas(helm: ModuleType, tmp_path: Path) -> None:
    """Several replicas on PostgreSQL: 3 pods spread over nodes, kept at one through drains, non-root with a
    read-only root, probes on /healthz and /readyz, every credential from the Secret, nothing secret in values."""
    docs = render(helm, FULL, tmp_path)
    dep = one(docs, "Deployment")
    assert dep["spec"]["replicas"] == 3
    assert dep["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    pod = dep["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == 10001
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    spread = pod["topologySpreadConstraints"][0]
    assert spread["labelSelector"]["matchLabels"] == dep["spec"]["selector"]["matchLabels"]
    c = container(docs)
    sc = c["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"] == {"drop": ["ALL"]}
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert c["startupProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert c["readinessProbe"]["timeoutSeconds"] > 10  # /readyz waits up to SRE_BOT_BACKEND_TIMEOUT (10 s)
    assert c["resources"]["limits"]["memory"] and c["resources"]["requests"]["cpu"]
    mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
    volumes = {v["name"]: v for v in pod["volumes"]}
    assert "emptyDir" in volumes[mounts["/tmp"]]
    assert "emptyDir" in volumes[mounts["/var/lib/sre-bot"]]
    assert mounts["/etc/sre-bot/sre-bot.yaml"] == "config"

    env = env_of(docs)
    assert env["SRE_BOT_CONFIG"]["value"] == "/etc/sre-bot/sre-bot.yaml"
    assert env["SRE_BOT_HTTP_PORT"]["value"] == "3000"
    for name in SECRET_SETTINGS - {"SLACK_APP_TOKEN"}:
        ref = env[name]["valueFrom"]["secretKeyRef"]
        assert ref["name"] == "sre-bot-credentials", name
        assert ref["key"] == name, name
        assert ref.get("optional", False) is (name not in {"SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET",
                                                           "SRE_BOT_DB_URL"}), name
    plain = one(docs, "ConfigMap", "sre-bot-env")["data"]
    assert plain["PROMETHEUS_URL"] == "http://prometheus-operated.monitoring:9090"
    assert not SECRET_SETTINGS & set(plain)
    assert not any(d["kind"] == "Secret" for d in docs)  # the chart never holds a credential

    pdb = one(docs, "PodDisruptionBudget")
    assert pdb["spec"]["minAvailable"] == 1
    assert pdb["spec"]["selector"]["matchLabels"] == dep["spec"]["selector"]["matchLabels"]


def test_replicas_without_postgresql_are_refused(helm: ModuleType, tmp_path: Path) -> None:
    """More than one replica on SQLite does not render: the chart `fail`s and says what to set."""
    with pytest.raises(helm.HelmRenderError, match="SQLite cannot be shared by replicas"):
        render(helm, {"replicaCount": 2, "database": {"urlSecretKey": ""}}, tmp_path)


@pytest.mark.parametrize("values, why", [
    ({"env": {"SLACK_BOT_TOKEN": "xoxb-oops"}}, "secrets go in the Secret"),
    ({"env": {"SRE_BOT_DB_URL": "postgresql+asyncpg://u:p@db/sre"}}, "secrets go in the Secret"),
    ({"slack": {"mode": "websocket"}}, "slack.mode must be http or socket"),
    ({"persistence": {"enabled": True}}, "persistence.enabled is for SQLite"),
])
def test_values_that_cannot_work_are_refused(helm: ModuleType, tmp_path: Path, values: dict[str, Any],
                                             why: str) -> None:
    """A credential among the plain settings, an unknown Slack mode, or a volume PostgreSQL never uses: refused."""
    with pytest.raises(helm.HelmRenderError, match=re.escape(why)):
        render(helm, values, tmp_path)


def test_single_replica_on_sqlite(helm: ModuleType, tmp_path: Path) -> None:
    """One replica on SQLite: the file lives on a PersistentVolumeClaim, the old pod stops before the new one
    starts, and no PDB blocks node drains."""
    docs = render(helm, SQLITE, tmp_path)
    dep = one(docs, "Deployment")
    assert dep["spec"]["replicas"] == 1
    assert dep["spec"]["strategy"] == {"type": "Recreate"}
    assert env_of(docs)["SRE_BOT_DB_URL"]["value"] == "sqlite+aiosqlite:////var/lib/sre-bot/sre-bot.db"
    pvc = one(docs, "PersistentVolumeClaim")
    volumes = {v["name"]: v for v in dep["spec"]["template"]["spec"]["volumes"]}
    assert volumes["data"]["persistentVolumeClaim"]["claimName"] == pvc["metadata"]["name"]
    assert not any(d["kind"] == "PodDisruptionBudget" for d in docs)


def test_socket_mode(helm: ModuleType, tmp_path: Path) -> None:
    """Socket Mode reads SLACK_APP_TOKEN and no signing secret; its Ingress routes only /alertmanager."""
    docs = render(helm, {"slack": {"mode": "socket"}, "ingress": {"enabled": True}}, tmp_path)
    env = env_of(docs)
    assert env["SLACK_APP_TOKEN"]["valueFrom"]["secretKeyRef"]["key"] == "SLACK_APP_TOKEN"
    assert "SLACK_SIGNING_SECRET" not in env
    paths = [p["path"] for p in one(docs, "Ingress")["spec"]["rules"][0]["http"]["paths"]]
    assert paths == ["/alertmanager"]


def test_ingress_and_servicemonitor_reach_the_service(helm: ModuleType, tmp_path: Path) -> None:
    """The Ingress routes exactly the Slack and Alertmanager paths (never /metrics) to the Service's named port;
    the ServiceMonitor selects the Service, scrapes its port at /metrics and names the job the rules expect."""
    docs = render(helm, FULL, tmp_path)
    svc = one(docs, "Service")
    port_names = {p["name"] for p in svc["spec"]["ports"]}
    ing = one(docs, "Ingress")
    paths = ing["spec"]["rules"][0]["http"]["paths"]
    assert sorted(p["path"] for p in paths) == ["/alertmanager", "/slack/events"]
    for p in paths:
        assert p["pathType"] == "Exact"
        assert p["backend"]["service"]["name"] == svc["metadata"]["name"]
        assert p["backend"]["service"]["port"]["name"] in port_names
    sm = one(docs, "ServiceMonitor")
    assert sm["apiVersion"] == "monitoring.coreos.com/v1"
    assert sm["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    sel = sm["spec"]["selector"]["matchLabels"]
    assert sel.items() <= svc["metadata"]["labels"].items()
    assert sm["spec"]["namespaceSelector"] == {"matchNames": ["ops"]}
    (endpoint,) = sm["spec"]["endpoints"]
    assert endpoint["port"] in port_names and endpoint["path"] == "/metrics"
    assert {"action": "replace", "targetLabel": "job", "replacement": "sre-bot"} in endpoint["relabelings"]
    netpol = one(docs, "NetworkPolicy")
    assert netpol["spec"]["podSelector"]["matchLabels"] == svc["spec"]["selector"]


def test_prometheusrule_is_the_rules_file(helm: ModuleType, tmp_path: Path) -> None:
    """The PrometheusRule's spec is deploy/prometheus/sre-bot-rules.yml itself, and follows a renamed job."""
    rules = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    assert one(render(helm, FULL, tmp_path), "PrometheusRule")["spec"] == rules
    renamed = one(render(helm, merged(FULL, {"serviceMonitor": {"jobName": "chatops"}}), tmp_path),
                  "PrometheusRule")["spec"]
    exprs = [r["expr"] for g in renamed["groups"] for r in g["rules"]]
    assert all('job="chatops"' in e and 'job="sre-bot"' not in e for e in exprs)


@pytest.mark.prometheus
def test_prometheusrule_passes_promtool(helm: ModuleType, tmp_path: Path) -> None:
    """The rendered PrometheusRule's groups pass `promtool check rules` (the operator hands them to Prometheus)."""
    _, promtool = require_binaries()
    spec = one(render(helm, FULL, tmp_path), "PrometheusRule")["spec"]
    path = tmp_path / "prometheusrule-groups.yml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    done = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("values", [{}, FULL, SQLITE, {"slack": {"mode": "socket"}, "runbooks": {"x.yaml": "a: 1"}}],
                         ids=["defaults", "postgres-3-replicas", "sqlite-1-replica", "socket-mode"])
def test_manifests_match_the_kubernetes_schemas(helm: ModuleType, kv: ModuleType, tmp_path: Path,
                                                values: dict[str, Any]) -> None:
    """Every rendered object of a built-in kind validates, strictly, against the Kubernetes OpenAPI schema."""
    version = kv.latest_version()
    checked = []
    for doc in render(helm, values, tmp_path):
        if doc["kind"] in CRDS:
            continue
        try:
            kv.validate(doc, version, strict=True)
        except kv.ValidationError as e:
            where = "/".join(str(p) for p in e.absolute_path)
            pytest.fail(f"{doc['kind']} {doc['metadata']['name']}: {where}: {e.message}", pytrace=False)
        checked.append(doc["kind"])
    assert "Deployment" in checked and "Service" in checked


def test_schema_check_catches_a_broken_manifest(helm: ModuleType, kv: ModuleType, tmp_path: Path) -> None:
    """The schema check is not vacuous: a misspelt field in the rendered Deployment is reported."""
    dep = one(render(helm, {}, tmp_path), "Deployment")
    dep["spec"]["template"]["spec"]["containers"][0]["livenessProbes"] = {}
    with pytest.raises(kv.ValidationError):
        kv.validate(dep, kv.latest_version(), strict=True)


def shipped_runbooks() -> Iterator[tuple[str, str]]:
    for path in sorted((ROOT / "runbooks").glob("*.yaml"))[:2]:
        yield path.name, path.read_text(encoding="utf-8")


def test_rendered_config_and_settings_are_what_the_bot_reads(helm: ModuleType, tmp_path: Path) -> None:
    """The ConfigMap's sre-bot.yaml parses with the bot's own config loader (runbooks.dir pointing at the mounted
    runbooks), and every environment variable the chart sets is a setting of .env.example that validates."""
    config = yaml.safe_load((ROOT / "sre-bot.example.yaml").read_text(encoding="utf-8"))
    config.pop("runbooks", None)
    runbooks = dict(shipped_runbooks())
    docs = render(helm, merged(FULL, {"config": config, "runbooks": runbooks}), tmp_path)

    text = one(docs, "ConfigMap", "sre-bot")["data"]["sre-bot.yaml"]
    cfg = parse_config(yaml.safe_load(text), source="the chart's ConfigMap")
    assert len(cfg.services) == len(config["services"])
    assert str(cfg.runbooks.dir) == "/etc/sre-bot/runbooks"
    assert one(docs, "ConfigMap", "sre-bot-runbooks")["data"] == runbooks
    mounts = {m["mountPath"]: m["name"] for m in container(docs)["volumeMounts"]}
    assert mounts["/etc/sre-bot/runbooks"] == "runbooks"

    documented = set(re.findall(r"^([A-Z][A-Z0-9_]+)=", (ROOT / ".env.example").read_text(encoding="utf-8"), re.M))
    plain = one(docs, "ConfigMap", "sre-bot-env")["data"]
    env = env_of(docs)
    assert set(plain) <= documented, set(plain) - documented
    assert set(env) <= documented, set(env) - documented
    values = {**plain, **{k: e["value"] for k, e in env.items() if "value" in e},
              **{k: "placeholder" for k, e in env.items() if "valueFrom" in e}}
    values["SRE_BOT_DB_URL"] = "postgresql+asyncpg://sre@db/sre"
    values["SRE_BOT_WEBHOOK_SECRETS"] = "{}"
    settings = load_settings(None, **{k: v for k, v in values.items() if v != ""})
    assert settings.http_port == 3000 and str(settings.config_path) == "/etc/sre-bot/sre-bot.yaml"
    assert settings.analysis_processes == 1 and not settings.socket_mode


def test_chart_runs_as_the_image_user() -> None:
    """The chart's runAsUser/runAsGroup are the fixed UID the Containerfile creates its user with."""
    containerfile = ROOT / "Containerfile"
    if not containerfile.exists():
        pytest.skip("no Containerfile in this checkout")
    uid = re.search(r"^ARG UID=(\d+)$", containerfile.read_text(encoding="utf-8"), re.M)
    assert uid, "the Containerfile no longer sets ARG UID=…"
    values = yaml.safe_load((CHART / "values.yaml").read_text(encoding="utf-8"))
    assert values["podSecurityContext"]["runAsUser"] == int(uid.group(1))
    assert values["podSecurityContext"]["runAsGroup"] == int(uid.group(1))


def test_the_readme_example_values_render(helm: ModuleType, tmp_path: Path) -> None:
    """deploy/README.md's values-prod.yaml lints, renders, and its `config` is one the bot accepts."""
    text = (ROOT / "deploy" / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```yaml\n   # values-prod\.yaml\n(.*?)   ```", text, re.S)
    assert block, "the README no longer has the values-prod.yaml example"
    values = yaml.safe_load("\n".join(line[3:] for line in block.group(1).splitlines()))
    report = helm.lint(str(CHART), values, strict=True, namespace="ops")
    assert report["errors"] == [] and all(m["severity"] <= 1 for m in report["messages"]), report
    docs = render(helm, values, tmp_path)
    assert one(docs, "Deployment")["spec"]["replicas"] == values["replicaCount"]
    parse_config(yaml.safe_load(one(docs, "ConfigMap", "sre-bot")["data"]["sre-bot.yaml"]), source="README example")
