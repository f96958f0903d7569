"""deploy/observability: the alert rules checked and unit-tested by promtool, the scrape
configuration, and the Grafana dashboard, all against the metrics crm_runtime really exports.

promtool comes from Debian's `prometheus` package (scripts/dev test installs it; no server is
ever started). Without it these tests fail: they are not skipped."""

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase

import crm_runtime.consumer
import crm_runtime.group_commit
import crm_runtime.http
import crm_runtime.outbox
from crm_contracts.events import EVENT_TYPES
from crm_devtools.deploy.plan import SERVICES

from .conftest import REPO, objects

pytestmark = pytest.mark.deploy

HERE = REPO / "deploy" / "observability"
RULES = HERE / "crm-alerts.yaml"
RULE_TESTS = HERE / "crm-alerts.test.yaml"
DASHBOARD = HERE / "grafana-crm-pipeline.json"
PROMTOOL = Path(os.environ.get("PROMTOOL", "/usr/bin/promtool"))

# Labels a scrape adds (prometheus.yml, scrape-kubernetes.yml) or Prometheus itself.
SCRAPE_LABELS = {"service", "role", "namespace", "instance", "job"}
# Series that Prometheus makes, not the suite.
PROMETHEUS_SERIES = {"up": set[str]()}
PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless", "bool", "offset"}
MODULES = (crm_runtime.consumer, crm_runtime.outbox, crm_runtime.http, crm_runtime.group_commit)


def promtool(*args: str, cwd: Path = HERE) -> subprocess.CompletedProcess[str]:
    if not os.access(PROMTOOL, os.X_OK):
        pytest.fail(f"{PROMTOOL} is missing: install Debian's `prometheus` package (scripts/dev test does) or set PROMTOOL")
    return subprocess.run([str(PROMTOOL), *args], cwd=cwd, capture_output=True, text=True, check=False)


def exported() -> dict[str, set[str]]:
    """Every series name crm_runtime's metrics expose -> its label names (a histogram's _bucket
    also has `le`), from the objects the modules define, labelled or not."""
    out: dict[str, set[str]] = {}
    for module in MODULES:
        for metric in vars(module).values():
            if not isinstance(metric, MetricWrapperBase):
                continue
            labels = set(metric._labelnames)
            for family in metric.describe():
                if family.type == "counter":
                    out[family.name + "_total"] = labels
                elif family.type == "histogram":
                    out |= {family.name + "_sum": labels, family.name + "_count": labels, family.name + "_bucket": labels | {"le"}}
                else:
                    out[family.name] = labels
    return out


def alerts() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def panels() -> list[dict[str, Any]]:
    out = []
    for panel in dashboard()["panels"]:
        out.append(panel)
        out.extend(panel.get("panels", []))  # a collapsed row holds its panels
    return out


def dashboard_exprs() -> list[str]:
    exprs = [t["expr"] for p in panels() for t in p.get("targets", [])]
    for variable in dashboard()["templating"]["list"]:
        if variable["type"] == "query":
            exprs.append(re.sub(r"^label_values\((\w+),\s*\w+\)$", r"\1", variable["definition"]))
    return exprs


def selectors(expr: str) -> list[tuple[str, set[str]]]:
    """(series name, label names its matchers use) for every series an expression selects.
    Strings, ranges and grouping clauses are taken out first; what is left that is neither a
    function nor a keyword is a series name."""
    text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    text = re.sub(r"\[[^\]]*\]", "", text)
    text = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    found = []
    for match in re.finditer(r"(?<![\w:.$])([a-zA-Z_:][\w:]*)\s*(\{[^}]*\})?\s*(\()?", text):
        name, matchers, call = match.group(1), match.group(2), match.group(3)
        if call is not None and matchers is None or name in PROMQL_WORDS:
            continue
        found.append((name, set(re.findall(r"(\w+)\s*(?:=~|!~|!=|=)", matchers or ""))))
    return found


# --- the rules ---------------------------------------------------------------------------


def test_promtool_accepts_the_rules_and_the_compose_scrape_configuration() -> None:
    checked = promtool("check", "rules", RULES.name)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    config = promtool("check", "config", "prometheus.yml")  # loads crm-alerts.yaml through rule_files too
    assert config.returncode == 0, config.stdout + config.stderr


def test_the_rules_unit_tests_pass() -> None:
    tested = promtool("test", "rules", RULE_TESTS.name)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout


def test_every_alert_has_a_case_that_fires_and_one_that_does_not() -> None:
    cases: dict[str, list[bool]] = {}
    for test in yaml.safe_load(RULE_TESTS.read_text())["tests"]:
        for case in test.get("alert_rule_test", []):
            cases.setdefault(case["alertname"], []).append(bool(case.get("exp_alerts")))
    for rule in alerts():
        assert {True, False} <= set(cases.get(rule["alert"], [])), f"{rule['alert']} needs a firing and a silent case"


def test_every_alert_is_named_once_with_a_severity_a_summary_and_a_description() -> None:
    names = [rule["alert"] for rule in alerts()]
    assert len(names) == len(set(names))
    assert {"CrmConsumerLagGrowing", "CrmOutboxBacklogGrowing", "CrmOutboxNoRelayLeader", "CrmDeadLetters", "CrmHttp5xx"} <= set(names)
    for rule in alerts():
        assert rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], rule["alert"]
        # No personal data: an annotation may only name labels of the suite's own making.
        used = set(re.findall(r"\$labels\.(\w+)", json.dumps(rule["annotations"])))
        assert used <= {"service", "topic", "instance", "namespace"}, rule["alert"]


def test_the_rules_use_only_series_and_labels_that_are_exported() -> None:
    names = exported()
    for rule in alerts():
        for name, labels in selectors(rule["expr"]):
            known = names.get(name, PROMETHEUS_SERIES.get(name))
            assert known is not None, f"{rule['alert']}: {name} is not exported by crm_runtime"
            assert labels <= known | SCRAPE_LABELS, f"{rule['alert']}: {name} has no label {labels - known - SCRAPE_LABELS}"


def test_the_outcomes_the_rules_name_are_the_consumers_outcomes() -> None:
    named = set(re.findall(r'outcome=~?"([^"]+)"', "\n".join(r["expr"] for r in alerts()) + "\n".join(dashboard_exprs())))
    assert named
    assert {o for pattern in named for o in pattern.split("|")} <= set(crm_runtime.consumer.OUTCOMES)


def test_the_name_check_itself_catches_a_misspelt_series() -> None:
    names = exported()
    assert [n for n, _ in selectors('sum by (service) (rate(crm_consumer_mesages_total{outcome="ok"}[5m]))')] == [
        "crm_consumer_mesages_total"
    ]
    assert "crm_consumer_mesages_total" not in names
    assert selectors("histogram_quantile(0.99, sum by (le) (rate(crm_http_request_seconds_bucket[5m]))) > 0.5") == [
        ("crm_http_request_seconds_bucket", set())
    ]
    assert "crm_http_request_duration_seconds_bucket" not in names  # the histogram's real name is crm_http_request_seconds


# --- scraping: where `service`, `role` and `namespace` come from ----------------------------


def test_the_compose_scrape_targets_are_every_service_and_its_relay_on_the_metrics_port() -> None:
    config = yaml.safe_load((HERE / "prometheus.yml").read_text())
    assert config["rule_files"] == [RULES.name]
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == "crm-compose"]
    targets = {(t, c["labels"]["service"], c["labels"]["role"]) for c in job["static_configs"] for t in c["targets"]}
    expected = set()
    for svc in SERVICES:
        if svc.owns_database:  # the console serves no metrics
            expected |= {(f"{svc.name}:{svc.metrics_port}", svc.name, "all"), (f"{svc.name}-relay:{svc.metrics_port}", svc.name, "relay")}
    assert targets == expected


def test_the_kubernetes_scrape_labels_every_scraped_pod_by_service_role_and_namespace(rendered: dict[str, list[dict[str, Any]]]) -> None:
    (job,) = yaml.safe_load((HERE / "scrape-kubernetes.yml").read_text())["scrape_configs"]
    relabel = {r.get("target_label"): r["source_labels"] for r in job["relabel_configs"] if r.get("target_label")}
    assert relabel["service"] == ["__meta_kubernetes_pod_label_app_kubernetes_io_name"]
    assert relabel["role"] == ["__meta_kubernetes_pod_label_app_kubernetes_io_component"]
    assert relabel["namespace"] == ["__meta_kubernetes_namespace"]
    keep = next(r for r in job["relabel_configs"] if r.get("action") == "keep")
    assert keep["regex"] == "crm;true"
    # Every pod the manifests ask to be scraped carries what the job keeps and labels by.
    scraped = set()
    for deployment in objects(rendered["base"], "Deployment").values():
        meta = deployment["spec"]["template"]["metadata"]
        if meta.get("annotations", {}).get("prometheus.io/scrape") != "true":
            continue
        labels = meta["labels"]
        assert labels["app.kubernetes.io/part-of"] == "crm"
        assert labels["app.kubernetes.io/component"] in {"api", "worker", "relay"}
        scraped.add(labels["app.kubernetes.io/name"])
    assert scraped == {svc.name for svc in SERVICES if svc.owns_database}


# --- the dashboard ---------------------------------------------------------------------------


def test_the_dashboard_is_grafana_json_on_a_prometheus_variable_with_unique_ids() -> None:
    board = dashboard()
    assert board["schemaVersion"] >= 39 and board["uid"] and board["title"]
    ds = [v for v in board["templating"]["list"] if v["name"] == "DS_PROMETHEUS"]
    assert ds and ds[0]["type"] == "datasource" and ds[0]["query"] == "prometheus"
    ids = [p["id"] for p in panels()]
    assert len(ids) == len(set(ids))
    for panel in panels():
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == "${DS_PROMETHEUS}", panel["title"]
        refs = [t["refId"] for t in panel["targets"]]
        assert refs and len(refs) == len(set(refs)), panel["title"]
        assert all(t["datasource"]["uid"] == "${DS_PROMETHEUS}" for t in panel["targets"]), panel["title"]
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]


def test_the_dashboard_shows_the_pipeline() -> None:
    text = "\n".join(dashboard_exprs())
    for series in (
        "crm_outbox_published_total",
        "crm_consumer_messages_total",
        "crm_consumer_event_age_seconds_bucket",
        "crm_consumer_lag",
        "crm_outbox_oldest_age_seconds",
        "crm_outbox_relay_leader",
        "crm_http_request_seconds_bucket",
        "crm_http_requests_total",
    ):
        assert series in text, series


def test_the_dashboard_queries_only_series_and_labels_that_are_exported() -> None:
    names = exported()
    for expr in dashboard_exprs():
        for name, labels in selectors(expr):
            assert name in names, f"{name} is not exported by crm_runtime ({expr})"
            assert labels <= names[name] | SCRAPE_LABELS, f"{name} has no label {labels - names[name] - SCRAPE_LABELS}"


def test_promtool_parses_every_dashboard_query(tmp_path: Path) -> None:
    # Each query as a recording rule: `promtool check rules` parses it (Grafana's variables
    # given a value first).
    rules = [{"record": f"dashboard:query_{i}", "expr": expr.replace("$namespace", ".*")} for i, expr in enumerate(dashboard_exprs())]
    (tmp_path / "queries.yaml").write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    checked = promtool("check", "rules", "queries.yaml", cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_services_and_event_types_named_are_real() -> None:
    text = "\n".join([*dashboard_exprs(), *(r["expr"] for r in alerts())])
    assert set(re.findall(r'service="([^"]+)"', text)) <= {svc.name for svc in SERVICES}
    named_types = set(re.findall(r'type="([^"]+)"', text))
    assert named_types and named_types <= set(EVENT_TYPES)
