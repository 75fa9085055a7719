"""Rendering the Helm chart with Helm's own engine (`helm-python-sdk`), and reading what it rendered."""

from __future__ import annotations

import copy
from pathlib import Path
from types import ModuleType
from typing import Any

import yaml

__all__ = ["ROOT", "CHART", "RULES", "SECRET_SETTINGS", "CRDS", "FULL", "SQLITE", "render", "one", "container",
           "env_of", "merged"]

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "deploy" / "helm" / "sre-bot"
RULES = ROOT / "deploy" / "prometheus" / "sre-bot-rules.yml"
SECRET_SETTINGS = {"SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "ANTHROPIC_API_KEY",
                   "PROMETHEUS_TOKEN", "LOKI_TOKEN", "ARGOCD_TOKEN", "SRE_BOT_DB_URL", "SRE_BOT_ALERTMANAGER_TOKEN",
                   "SRE_BOT_ALERTMANAGER_PASSWORD", "SRE_BOT_WEBHOOK_SECRETS"}
CRDS = {"ServiceMonitor", "PrometheusRule"}
# Several replicas on PostgreSQL with every optional object on: the deployment the chart is for.
FULL = {"replicaCount": 3, "existingSecret": "sre-bot-credentials", "database": {"urlSecretKey": "SRE_BOT_DB_URL"},
        "serviceMonitor": {"enabled": True, "labels": {"release": "kube-prometheus-stack"}},
        "prometheusRule": {"enabled": True}, "networkPolicy": {"enabled": True},
        "ingress": {"enabled": True, "className": "nginx", "host": "sre-bot.example.org",
                    "tls": [{"secretName": "sre-bot-tls", "hosts": ["sre-bot.example.org"]}]},
        "env": {"PROMETHEUS_URL": "http://prometheus-operated.monitoring:9090", "SRE_BOT_LOG_LEVEL": "debug"}}
SQLITE = {"replicaCount": 1, "database": {"urlSecretKey": ""}, "persistence": {"enabled": True}}


def render(helm: ModuleType, values: dict[str, Any], out: Path, *, name: str = "sre-bot",
           namespace: str = "ops") -> list[dict[str, Any]]:
    """`helm template NAME CHART --namespace NS -f values` into `out`, parsed."""
    with helm.Chart.load(str(CHART)) as chart:
        rendered: dict[str, str] = chart.render(values, name=name, namespace=namespace)
    docs = []
    for path, text in sorted(rendered.items()):
        target = out / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        if not path.endswith(".yaml"):
            continue
        docs.extend(d for d in yaml.safe_load_all(text) if d)
    return docs


def one(docs: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    """The one rendered object of `kind` (and `name`); fails when there are none or several."""
    found = [d for d in docs if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    assert len(found) == 1, f"{len(found)} {kind} {name or ''}"
    return found[0]


def container(docs: list[dict[str, Any]]) -> dict[str, Any]:
    """The Deployment's only container."""
    pod = one(docs, "Deployment")["spec"]["template"]["spec"]
    assert len(pod["containers"]) == 1
    c: dict[str, Any] = pod["containers"][0]
    return c


def env_of(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The container's `env` entries by name."""
    return {e["name"]: e for e in container(docs)["env"]}


def merged(*layers: dict[str, Any]) -> dict[str, Any]:
    """Values layered as `helm -f a -f b` layers them (maps merge, everything else is replaced)."""
    out: dict[str, Any] = {}
    for layer in layers:
        for k, v in layer.items():
            out[k] = merged(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else copy.deepcopy(v)
    return out
