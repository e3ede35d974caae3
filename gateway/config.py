"""Settings: environment variables (prefix GRIDGATE_, sections with __) and a YAML file.

Built once in the entry point and passed down; nothing else reads the environment.
Unset, everything has a default that runs the demo: a local broker on 1883, SQLite in
./state, the shipped demo site and rules, the API on 127.0.0.1:8080.

    GRIDGATE_MQTT__HOST=broker.example GRIDGATE_MQTT__PASSWORD=... gridgate run
    gridgate run --config /etc/gridgate/gridgate.yaml      (env still wins over the file)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, SecretStr, ValidationError
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from rules.model import DEFAULT_RULES
from sensors.errors import FileError
from sensors.yamlfile import problems_from, read_yaml

DEFAULT_SITE = Path(__file__).parent / "defaults" / "site.demo.yaml"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MqttSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(1883, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None
    client_id: str = "gridgate-gateway"
    topic_root: str = Field("gridgate", pattern=r"^[A-Za-z0-9_-][A-Za-z0-9_/-]{0,63}$")
    keepalive_s: int = Field(30, ge=5, le=3600)
    qos: Literal[0, 1] = 1
    reconnect_min_s: float = Field(0.5, gt=0, le=60)
    reconnect_max_s: float = Field(30.0, gt=0, le=3600)
    max_payload_bytes: int = Field(64 * 1024, ge=256, le=16 * 1024 * 1024)


class ApiSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)


class WebhookTarget(_Section):
    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    url: AnyHttpUrl
    secret: SecretStr | None = None
    timeout_s: float = Field(10.0, gt=0, le=120)


class OutboxSettings(_Section):
    retry_min_s: float = Field(1.0, gt=0, le=3600)
    retry_max_s: float = Field(300.0, gt=0, le=86400)
    # 0: retry until delivered; otherwise give up (dead letter) after this many tries
    max_attempts: int = Field(0, ge=0, le=10_000)


class LogSettings(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["text", "json"] = "text"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="GRIDGATE_",
        env_nested_delimiter="__",
        extra="forbid",
    )

    mqtt: MqttSettings = MqttSettings()
    api: ApiSettings = ApiSettings()
    outbox: OutboxSettings = OutboxSettings()
    log: LogSettings = LogSettings()
    webhooks: list[WebhookTarget] = []
    state_dir: Path = Path("state")
    site_file: Path = DEFAULT_SITE
    rules_file: Path = DEFAULT_RULES

    @property
    def database_path(self) -> Path:
        return self.state_dir / "gridgate.db"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # init (the config file's values) is the lowest: env vars override a file
        return env_settings, init_settings


def load_settings(config_file: Path | None = None) -> Settings:
    """Settings from the environment over an optional YAML file; FileError names the line."""
    data: dict[str, Any] = {}
    lines: dict[Any, int] = {}
    if config_file is not None:
        raw, lines = read_yaml(config_file)
        if not isinstance(raw, dict):
            raise FileError(config_file, problems_from(_not_a_mapping(), lines))
        data = raw
    try:
        return Settings(**data)
    except ValidationError as exc:
        raise FileError(config_file or "<environment>", problems_from(exc, lines)) from exc


def _not_a_mapping() -> ValidationError:
    try:
        Settings.model_validate("not a mapping")
    except ValidationError as exc:
        return exc
    raise AssertionError("unreachable")  # pragma: no cover


def masked(settings: Settings) -> dict[str, Any]:
    """The settings as JSON-ready values, secrets shown as '**********'."""
    return settings.model_dump(mode="json")
