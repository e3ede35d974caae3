"""Every configuration source with a broken value, through the real command line.

Each row breaks one source (an environment variable, the --config file, the site, rules,
roster or an adapter file) and states every line `gridgate check-config` (or `run`) must
print for it: exit code 2, a header, then one line per problem naming the variable or
`path:line` and the reason, never a traceback. Each row is a test of its own, one
subprocess each, so that a parallel run spreads them (a fixture running all the rows at
once ran them all again in every worker that got one of them).
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support import REPO

pytestmark = pytest.mark.integration

HEADER = "gridgate: refusing to start, invalid configuration:"

SITE = """\
name: 测试站点
district:
  id: d1
  name: 示例区
  streets:
    - id: s1
      name: 和平街道
      communities:
        - id: c1
          name: 光明社区
          grids:
            - id: g1
              name: 第1网格
"""
PERSON = "people:\n  - id: w-g1\n    name: 王芳\n    role: grid_worker\n    nodes: [g1]\n"
ADAPTER = """\
name: vendorx
description: a door sensor
topics:
  - pattern: vendorx/{device_id}
kind: door
fields:
  open: state
"""
HOOK = '[{"name": "ops", "url": "http://127.0.0.1:9/hook"}]'


@dataclass(frozen=True)
class Row:
    """One broken source: the environment, the files (name -> text, `{dir}` is the test's
    folder) and the problem lines expected, in order (each: exact start, then a part of
    the reason)."""

    id: str
    env: dict[str, str]
    expected: list[tuple[str, str]]
    files: dict[str, str] = field(default_factory=dict)
    command: tuple[str, ...] = ("check-config",)


ROWS = [
    # ---- environment variables whose value is JSON: each variable, its JSON error's place
    Row(
        "json-variables-malformed",
        {
            "GRIDGATE_WEBHOOKS": '[{"name": "ops",',
            "GRIDGATE_CHANNELS": '[{"type": "wecom" "name": "w"}]',
            "GRIDGATE_ADAPTER_DIRS": "/etc/gridgate/adapters",
            "GRIDGATE_ESCALATION__TIMES": '{"critical": {"ack_within_s": }}',
            "GRIDGATE_TELEMETRY__PER_KIND": "{door: changes}",
            "GRIDGATE_TELEMETRY__TAGS": '{"gateway": "edge-01",}',
            "GRIDGATE_MQTT": '{"port": 1883',
        },
        [  # in the variables' name order
            ("GRIDGATE_ADAPTER_DIRS: invalid JSON at line 1 column 1 (char 0): ", "a JSON list"),
            ("GRIDGATE_CHANNELS: invalid JSON at line 1 column 19 (char 18): ", "delimiter"),
            ("GRIDGATE_ESCALATION__TIMES: invalid JSON at line 1 column 31 (char 30): ", "value"),
            ("GRIDGATE_MQTT: invalid JSON at line 1 column 14 (char 13): ", "a JSON object"),
            ("GRIDGATE_TELEMETRY__PER_KIND: invalid JSON at line 1 column 2 (char 1): ", "quotes"),
            ("GRIDGATE_TELEMETRY__TAGS: invalid JSON at line 1 column 23 (char 22): ", "quotes"),
            ("GRIDGATE_WEBHOOKS: invalid JSON at line 1 column 17 (char 16): ", "a JSON list"),
        ],
    ),
    # ---- JSON that parses, with bad values inside: the variable and the place inside it
    Row(
        "json-variables-with-bad-values",
        {
            "GRIDGATE_ESCALATION__TIMES": (
                '{"critical": {"ack_within_s": 1, "resolve_within_s": 0}}'
            ),
            "GRIDGATE_TELEMETRY__PER_KIND": '{"door": "sometimes"}',
            "GRIDGATE_TELEMETRY__TAGS": '{"edge gateway": "01"}',
            "GRIDGATE_WEBHOOKS": '[{"name": "ops", "url": "not a url"}]',
            "GRIDGATE_CHANNELS": '[{"type": "pager", "name": "p"}]',
        },
        [  # in the order of the settings
            ("GRIDGATE_ESCALATION__TIMES: critical.resolve_within_s: ", "greater than 0"),
            ("GRIDGATE_ESCALATION__TIMES: critical.reminder_first_s: ", "Field required"),
            ("GRIDGATE_ESCALATION__TIMES: critical.reminder_max_s: ", "Field required"),
            ("GRIDGATE_TELEMETRY__PER_KIND: door: ", "String should match pattern"),
            ("GRIDGATE_TELEMETRY__TAGS: edge gateway: ", "String should match pattern"),
            ("GRIDGATE_WEBHOOKS: [0].url: ", "valid URL"),
            ("GRIDGATE_CHANNELS: [0].type: ", "'pager'"),
        ],
    ),
    Row(
        "channel-name-used-twice",
        {
            "GRIDGATE_WEBHOOKS": HOOK,
            "GRIDGATE_CHANNELS": '[{"type": "wecom", "name": "ops", "url": "http://127.0.0.1:9/w"}]',
        },
        [("GRIDGATE_CHANNELS: ", "channel name 'ops' is used twice (webhook and wecom)")],
    ),
    # ---- scalar variables: each variable and the reason
    Row(
        "scalar-variables-with-bad-values",
        {
            "GRIDGATE_MQTT__PORT": "eighty",
            "GRIDGATE_MQTT__TLS": "maybe",
            "GRIDGATE_MQTT__HOTS": "broker.local",
            "GRIDGATE_API__PORT": "70000",
            "GRIDGATE_OUTBOX__RETRY_MIN_S": "soon",
            "GRIDGATE_LOG__LEVEL": "LOUD",
            "GRIDGATE_CLOCK": "fast",
            "GRIDGATE_TELEMETRY__URL": "influx",
        },
        [  # in the order of the settings
            ("GRIDGATE_MQTT__PORT: ", "valid integer"),
            ("GRIDGATE_MQTT__TLS: ", "valid boolean"),
            ("GRIDGATE_MQTT__HOTS: ", "Extra inputs are not permitted"),
            ("GRIDGATE_API__PORT: ", "less than or equal to 65535"),
            ("GRIDGATE_OUTBOX__RETRY_MIN_S: ", "valid number"),
            ("GRIDGATE_LOG__LEVEL: ", "'DEBUG', 'INFO', 'WARNING' or 'ERROR'"),
            ("GRIDGATE_CLOCK: ", "'wall' or 'event'"),
            ("GRIDGATE_TELEMETRY__URL: ", "valid URL"),
        ],
    ),
    Row(
        "bad-number-refuses-run-too",
        {"GRIDGATE_STORE__BUSY_TIMEOUT_S": "-1"},
        [("GRIDGATE_STORE__BUSY_TIMEOUT_S: ", "greater than 0")],
        command=("run",),
    ),
    # ---- the --config file: its line, also for a key whose value is a block below it
    Row(
        "config-file-misspelt-key-with-block-value",
        {},
        [("{dir}/gridgate.yaml:3: mqtt.tls_options: ", "Extra inputs are not permitted")],
        files={"gridgate.yaml": "mqtt:\n  host: broker.local\n  tls_options:\n    verify: no\n"},
        command=("check-config", "--config", "{dir}/gridgate.yaml"),
    ),
    Row(
        "config-file-and-environment-each-at-its-place",
        {"GRIDGATE_MQTT__HOST": "broker.local", "GRIDGATE_API__PORT": "x"},
        [
            ("{dir}/gridgate.yaml:2: mqtt.port: ", "valid integer"),
            ("GRIDGATE_API__PORT: ", "valid integer"),  # the file's api.port is overridden
        ],
        files={"gridgate.yaml": "mqtt:\n  port: eighty\napi:\n  port: 9090\n"},
        command=("run", "--config", "{dir}/gridgate.yaml"),
    ),
    Row(
        "config-file-invalid-yaml",
        {},
        [("{dir}/gridgate.yaml:2: ", "invalid YAML")],
        files={"gridgate.yaml": "mqtt:\n\thost: broker.local\n"},
        command=("check-config", "--config", "{dir}/gridgate.yaml"),
    ),
    # ---- the files the settings name
    Row(
        "site-file-misspelt-key-with-block-value",
        {"GRIDGATE_SITE_FILE": "{dir}/site.yaml"},
        [("{dir}/site.yaml:11: district.streets[0].communities[0].grid: ", "Extra inputs")],
        files={"site.yaml": SITE.replace("grids:", "grid:")},
    ),
    Row(
        "rules-file-misspelt-key",
        {"GRIDGATE_RULES_FILE": "{dir}/rules.yaml"},
        [
            ("{dir}/rules.yaml:2: rules[0].hold_s: ", "Field required"),
            ("{dir}/rules.yaml:6: rules[0].hold_secs: ", "Extra inputs are not permitted"),
        ],
        files={
            "rules.yaml": "rules:\n  - id: door_open\n    when: held\n    kind: door\n"
            "    field: open\n    hold_secs: 60\n    title: {zh: 门未关, en: Door open}\n"
        },
    ),
    Row(
        "roster-file-misspelt-key-with-block-value",
        {"GRIDGATE_SITE_FILE": "{dir}/site.yaml", "GRIDGATE_ROSTER_FILE": "{dir}/roster.yaml"},
        [("{dir}/roster.yaml:6: people[0].duty_hours: ", "Extra inputs are not permitted")],
        files={
            "site.yaml": SITE,
            "roster.yaml": PERSON + '    duty_hours:\n      - {from: "08:00", to: "20:00"}\n',
        },
    ),
    Row(
        "roster-names-a-channel-nobody-configured",
        {
            "GRIDGATE_SITE_FILE": "{dir}/site.yaml",
            "GRIDGATE_ROSTER_FILE": "{dir}/roster.yaml",
            "GRIDGATE_WEBHOOKS": HOOK,
        },
        [("{dir}/roster.yaml:8: w-g1: ", "channel 'sms' is not configured")],
        files={
            "site.yaml": SITE,
            "roster.yaml": PERSON + "    channels:\n      - ops\n      - sms\n",
        },
    ),
    Row(
        "roster-names-a-node-not-in-the-site",
        {"GRIDGATE_SITE_FILE": "{dir}/site.yaml", "GRIDGATE_ROSTER_FILE": "{dir}/roster.yaml"},
        [("{dir}/roster.yaml:5: w-g1: ", "node 'g9' is not in the site file")],
        files={"site.yaml": SITE, "roster.yaml": PERSON.replace("[g1]", "[g9]")},
    ),
    Row(
        "adapter-file-misspelt-key-with-block-value",
        {"GRIDGATE_ADAPTER_DIRS": '["{dir}/adapters"]'},
        [("{dir}/adapters/vendorx.yaml:8: event_tme: ", "Extra inputs are not permitted")],
        files={"adapters/vendorx.yaml": ADAPTER + "event_tme:\n  from: ts\n  format: unix_ms\n"},
    ),
]


def _run(row: Row, folder: Path) -> subprocess.CompletedProcess[str]:
    for name, text in row.files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text.replace("{dir}", str(folder)), encoding="utf-8")
    env = {k: v.replace("{dir}", str(folder)) for k, v in row.env.items()}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "gateway.cli",
            *(a.replace("{dir}", str(folder)) for a in row.command),
        ],
        # nothing of the machine's own GRIDGATE_* settings; the state goes nowhere real
        env={
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GRIDGATE_STATE_DIR": str(folder / "state"),
            **env,
        },
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("row", ROWS, ids=[row.id for row in ROWS])
def test_a_broken_source_is_refused_in_one_line_per_problem_naming_its_place(
    row: Row, tmp_path: Path
) -> None:
    result = _run(row, tmp_path)

    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr, result.stderr
    header, *problems = result.stderr.strip().splitlines()
    assert header == HEADER
    assert len(problems) == len(row.expected), problems
    for line, (start, reason) in zip(problems, row.expected, strict=True):
        assert line.startswith(start.replace("{dir}", str(tmp_path))), line
        assert reason in line, line
    assert not (tmp_path / "state").exists(), "nothing may start on a bad setting"
