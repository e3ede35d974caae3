"""Settings: environment variables (prefix GRIDGATE_, sections with __) and a YAML file.

Built once in the entry point and passed down; nothing else reads the environment.
Unset, everything has a default that runs the demo: a local broker on 1883, SQLite in
./state, the shipped demo site and rules, the API on 127.0.0.1:8080.

    GRIDGATE_MQTT__HOST=broker.example GRIDGATE_MQTT__PASSWORD=... gridgate run
    gridgate run --config /etc/gridgate/gridgate.yaml      (env still wins over the file)
"""

from __future__ import annotations

import json
import os
import string
from collections.abc import Iterator
from datetime import time as dt_time
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import (
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from pydantic_settings import SettingsError as PydanticSettingsError

from rules.model import DEFAULT_RULES, Severity
from sensors.errors import FileError, Problem
from sensors.kinds import Kind
from sensors.yamlfile import Loc, dotted, error_places, line_of, problems_from, read_yaml

DEFAULT_SITE = Path(__file__).parent / "defaults" / "site.demo.yaml"
# the demo community's people (gridgate simulate site --seed 7 --roster ...); the demo uses it
DEFAULT_ROSTER = Path(__file__).parent / "defaults" / "roster.demo.yaml"


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
    # TLS: on with `tls`; `ca_file` verifies the broker, cert/key files for client certs
    tls: bool = False
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    # skip the check that the broker's certificate names the host (tests, never production)
    tls_insecure: bool = False
    # false: read through paho's public API only, not gateway/ingest/client.py's fast path
    # (which start-up also turns off by itself when paho's internals are not as expected)
    fast_path: bool = True


class StoreSettings(_Section):
    # how long a write waits for a lock another process holds before it fails (and retries)
    busy_timeout_s: float = Field(5.0, gt=0, le=300)
    # a ceiling on the database size in pages (4 KiB); for tests of a full disk, 0: none
    max_pages: int = Field(0, ge=0)


class ApiSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    # how people reach the gateway (for links in messages); unset: http://host:port
    public_url: AnyHttpUrl | None = None
    # larger request bodies get 413 before they are read (a CSV of ~20,000 devices fits)
    max_body_bytes: int = Field(2 * 1024 * 1024, ge=1024, le=1024 * 1024 * 1024)


class WebhookTarget(_Section):
    name: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    url: AnyHttpUrl
    secret: SecretStr | None = None
    timeout_s: float = Field(10.0, gt=0, le=120)
    # 1: one alert event per POST; 2: the events due together, up to max_alerts per POST
    version: Literal[1, 2] = 1
    max_alerts: int = Field(100, ge=1, le=1000)
    max_in_flight: int = Field(4, ge=1, le=64)  # POSTs at once to this receiver


class OutboxSettings(_Section):
    retry_min_s: float = Field(1.0, gt=0, le=3600)
    retry_max_s: float = Field(300.0, gt=0, le=86400)
    # 0: retry until delivered; otherwise give up (dead letter) after this many tries
    max_attempts: int = Field(0, ge=0, le=10_000)


# ---- channels (gateway/channels/*, docs/channels.md); GRIDGATE_CHANNELS='[{...}]' ----

ChannelName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]


class _Robot(_Section):
    name: ChannelName
    url: AnyHttpUrl  # holds the robot's key or access_token: never logged unmasked
    per_minute: int = Field(20, ge=1, le=1000)
    window_s: float = Field(60.0, gt=0, le=3600)  # the budget's window; tests shorten it
    timeout_s: float = Field(10.0, gt=0, le=120)


class WecomChannel(_Robot):
    type: Literal["wecom"]


class DingtalkChannel(_Robot):
    type: Literal["dingtalk"]
    secret: SecretStr


class QuietHours(_Section):
    start: dt_time = dt_time(22, 0)  # wall clock in the site's timezone
    end: dt_time = dt_time(7, 0)


class SmsChannel(_Section):
    type: Literal["sms"]
    name: ChannelName
    url: AnyHttpUrl
    access_key_id: str = Field(min_length=1)
    access_key_secret: SecretStr
    sign_name: str = Field(min_length=1)
    template_code: str = Field(min_length=1)
    region_id: str = "cn-hangzhou"
    per_number_per_hour: int = Field(3, ge=1, le=1000)
    quiet_hours: QuietHours = QuietHours()
    timeout_s: float = Field(10.0, gt=0, le=120)


MQTT_TOPIC_FIELDS = frozenset(
    {"district_id", "street_id", "community_id", "grid_id", "severity", "event", "rule"}
)


class MqttChannel(_Section):
    type: Literal["mqtt"]
    name: ChannelName
    host: str = Field(min_length=1)
    port: int = Field(1883, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None
    tls: bool = False
    ca_file: Path | None = None
    client_id: str | None = None
    topic_template: str = "district/{district_id}/alerts/{severity}"
    qos: Literal[0, 1] = 1
    timeout_s: float = Field(5.0, gt=0, le=120)

    @field_validator("topic_template")
    @classmethod
    def _known_fields(cls, value: str) -> str:
        used = {f for _, f, _, _ in string.Formatter().parse(value) if f is not None}
        if unknown := used - MQTT_TOPIC_FIELDS:
            raise ValueError(f"unknown {sorted(unknown)}; known: {sorted(MQTT_TOPIC_FIELDS)}")
        return value


ChannelSettings = Annotated[
    WecomChannel | DingtalkChannel | SmsChannel | MqttChannel, Field(discriminator="type")
]


class SeverityTimesSettings(_Section):
    ack_within_s: float = Field(gt=0, le=30 * 86400)
    resolve_within_s: float = Field(gt=0, le=365 * 86400)
    reminder_first_s: float = Field(gt=0, le=30 * 86400)
    reminder_max_s: float = Field(gt=0, le=30 * 86400)


class EscalationSettings(_Section):
    """Deadlines per severity (gateway/alerts/escalation.py has the defaults)."""

    times: dict[Severity, SeverityTimesSettings] = {}
    reopen_within_s: float = Field(600.0, ge=0, le=30 * 86400)


class AuthSettings(_Section):
    # acts as a person with the admin role; people get tokens with `gridgate token create`
    admin_token: SecretStr | None = None
    # signs action links in notifications; unset: a random key kept in the state folder
    link_secret: SecretStr | None = None


class LogSettings(_Section):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    format: Literal["text", "json"] = "text"


TelemetryMode = Annotated[str, Field(pattern=r"^(all|changes|sampled:[0-9]{1,6}(\.[0-9]{1,3})?)$")]


class TelemetrySettings(_Section):
    """Readings to InfluxDB (gateway/sinks/telemetry.py). Off while `url` is unset."""

    url: AnyHttpUrl | None = None
    token: SecretStr | None = None
    org: str = Field("gridgate", min_length=1)
    bucket: str = Field("gridgate", min_length=1)
    batch_size: int = Field(500, ge=1, le=50_000)
    flush_interval_s: float = Field(1.0, gt=0, le=3600)
    buffer_capacity: int = Field(50_000, ge=1, le=10_000_000)
    timeout_s: float = Field(5.0, gt=0, le=120)
    retry_min_s: float = Field(1.0, gt=0, le=3600)
    retry_max_s: float = Field(60.0, gt=0, le=86400)
    shutdown_flush_s: float = Field(5.0, ge=0, le=300)
    # kind -> all | changes | sampled:<seconds>; kinds not named here: all
    per_kind: dict[Kind, TelemetryMode] = {}
    # added to every point, e.g. {"gateway": "edge-01"}
    tags: dict[Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")], str] = {}

    @field_validator("per_kind")
    @classmethod
    def _sampled_is_positive(cls, value: dict[Kind, str]) -> dict[Kind, str]:
        for kind, mode in value.items():
            if mode.startswith("sampled:") and float(mode.split(":", 1)[1]) <= 0:
                raise ValueError(f"{kind.value}: sampled needs a period above 0 s")
        return value

    @property
    def is_enabled(self) -> bool:
        return self.url is not None


def _check_unique(channels: list[tuple[str, str]]) -> None:
    seen: dict[str, str] = {}
    for type_, name in channels:
        if name in seen:
            raise ValueError(f"channel name {name!r} is used twice ({seen[name]} and {type_})")
        seen[name] = type_


class HomeAssistantSettings(_Section):
    """MQTT discovery for a Home Assistant on the same broker (gateway/sinks/homeassistant.py,
    docs/topics.md). Off unless `enabled`."""

    enabled: bool = False
    # Home Assistant's discovery prefix (its MQTT integration's setting)
    discovery_prefix: str = Field("homeassistant", pattern=r"^[A-Za-z0-9_-][A-Za-z0-9_/-]{0,63}$")
    # names this gateway in discovery topics and unique ids: one per gateway on a broker
    node_id: str = Field("gridgate", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    # how often the open alerts per grid are counted and, when changed, published
    alert_count_every_s: float = Field(5.0, gt=0, le=3600)


class CasesSettings(_Section):
    """Cases (事件, docs/cases.md): the files that describe them, photo and abuse limits."""

    # unset: the shipped gateway/defaults/categories.yaml and calendar.yaml
    categories_file: Path | None = None
    calendar_file: Path | None = None
    departments_file: Path | None = None  # none: no departments
    photo_max_bytes: int = Field(4 * 1024 * 1024, ge=16 * 1024, le=64 * 1024 * 1024)
    photos_per_request: int = Field(4, ge=0, le=20)
    # the public report page (居民随手拍): reports per client address and per phone
    reports_per_ip: int = Field(10, ge=1, le=10_000)
    reports_per_ip_window_s: float = Field(3600.0, gt=0, le=30 * 86400)
    reports_per_phone: int = Field(5, ge=1, le=10_000)
    reports_per_phone_window_s: float = Field(86400.0, gt=0, le=30 * 86400)


_GATEWAY_ID = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


class CitySettings(_Section):
    """The city (docs/city.md). A community gateway with `gateway_id` set sends its
    lifecycle events to `topic`/<gateway_id>, through the edge broker (bridged to the city's
    by Mosquitto) or straight to `broker` (`host:port`). `gridgate city` reads them from
    `broker` into PostgreSQL (`database_url`) and serves the city's API on `api_port`."""

    gateway_id: str | None = Field(None, pattern=_GATEWAY_ID)
    topic: str = Field("gridgate/city", pattern=r"^[A-Za-z0-9_-][A-Za-z0-9_/-]{0,63}$")
    # unset: the edge broker (GRIDGATE_MQTT__HOST/PORT), whose bridge carries the topic on
    broker: str | None = Field(None, pattern=r"^[A-Za-z0-9_.-]+:[0-9]{1,5}$")
    username: str | None = None
    password: SecretStr | None = None
    # a device health summary every this many seconds: also the city's sign of life
    heartbeat_s: float = Field(60.0, ge=1, le=3600)
    # rows of the feed per send (each waits for its PUBACK, all on one connection, in order)
    batch: int = Field(200, ge=1, le=10_000)
    timeout_s: float = Field(10.0, gt=0, le=120)
    # after a cut, how soon the gateway finds the city's broker back (reconnect backoff cap)
    reconnect_max_s: int = Field(5, ge=1, le=300)
    # the city's side
    database_url: SecretStr | None = None  # postgresql://user@host:port/db
    client_id: str = "gridgate-city"
    api_host: str = "127.0.0.1"
    api_port: int = Field(8090, ge=0, le=65535)
    admin_token: SecretStr | None = None
    # a gateway whose last event is older than this is shown offline
    online_within_s: float = Field(180.0, gt=0, le=86400)
    # events after a missing number wait this long for it, then are applied without it
    hold_s: float = Field(30.0, ge=0, le=86400)

    @property
    def broker_address(self) -> tuple[str, int] | None:
        if self.broker is None:
            return None
        host, _, port = self.broker.rpartition(":")
        return host, int(port)

    @field_validator("broker")
    @classmethod
    def _port_in_range(cls, value: str | None) -> str | None:
        if value is not None and not 1 <= int(value.rpartition(":")[2]) <= 65535:
            raise ValueError("the port must be 1-65535")
        return value


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
    auth: AuthSettings = AuthSettings()
    escalation: EscalationSettings = EscalationSettings()
    store: StoreSettings = StoreSettings()
    roster_file: Path | None = None
    # who is told about an alert (docs/routing.md); unset: the shipped routing
    # (gateway/defaults/routes.yaml with a roster, routes.no-roster.yaml without)
    routes_file: Path | None = None
    # wall: the machine's clock. event: time follows the readings' event_at and the
    # simulator's clock ticks, for accelerated simulations and replays (docs/simulator.md)
    clock: Literal["wall", "event"] = "wall"
    # folders of site-local adapter files (*.yaml), loaded after the shipped ones
    adapter_dirs: list[Path] = []
    telemetry: TelemetrySettings = TelemetrySettings()
    homeassistant: HomeAssistantSettings = HomeAssistantSettings()
    cases: CasesSettings = CasesSettings()
    city: CitySettings = CitySettings()
    webhooks: list[WebhookTarget] = []
    channels: list[ChannelSettings] = []
    state_dir: Path = Path("state")
    site_file: Path = DEFAULT_SITE
    rules_file: Path = DEFAULT_RULES

    @field_validator("webhooks")
    @classmethod
    def _unique_webhooks(cls, webhooks: list[WebhookTarget]) -> list[WebhookTarget]:
        _check_unique([("webhook", w.name) for w in webhooks])
        return webhooks

    @field_validator("channels")
    @classmethod
    def _unique_channels(
        cls, channels: list[ChannelSettings], info: ValidationInfo
    ) -> list[ChannelSettings]:
        # outbox rows and idempotency keys carry the name alone: one name, one channel
        hooks = [("webhook", w.name) for w in info.data.get("webhooks", [])]
        _check_unique(hooks + [(c.type, c.name) for c in channels])
        return channels

    @property
    def database_path(self) -> Path:
        return self.state_dir / "gridgate.db"

    @property
    def channel_types(self) -> dict[str, str]:
        """Every channel instance by name, with its type (webhooks included)."""
        out = {w.name: "webhook" for w in self.webhooks}
        out.update({c.name: c.type for c in self.channels})
        return out

    @property
    def channel_names(self) -> frozenset[str]:
        """What a roster entry's `channels:` may name, as routing resolves it: a channel's
        name or its type; a webhook of GRIDGATE_WEBHOOKS by its name, or `webhook`."""
        names = {c.name for c in self.channels} | {c.type for c in self.channels}
        names |= {w.name for w in self.webhooks} | ({"webhook"} if self.webhooks else set())
        return frozenset(names)

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


class SettingsError(Exception):
    """Settings that cannot be used: one line per problem, each naming its place, the
    environment variable (`GRIDGATE_MQTT__PORT: Input should be a valid integer`) or the
    --config file's line (`gridgate.yaml:3: mqtt.port: ...`)."""

    def __init__(self, problems: list[tuple[str, Problem]]) -> None:
        self.problems = problems
        super().__init__("\n".join(problem.render(place) for place, problem in problems))


ENV_PREFIX = "GRIDGATE_"


def load_settings(config_file: Path | None = None) -> Settings:
    """Settings from the environment over an optional YAML file.

    A file that cannot be read or parsed is a FileError; values that do not validate are a
    SettingsError naming each variable or file line.
    """
    data: dict[str, Any] = {}
    lines: dict[Any, int] = {}
    if config_file is not None:
        raw, lines = read_yaml(config_file)
        if not isinstance(raw, dict):
            raise FileError(config_file, problems_from(_not_a_mapping(), lines))
        data = raw
    env = {k.upper(): v for k, v in os.environ.items() if k.upper().startswith(ENV_PREFIX)}
    if bad_json := _json_problems(env):
        raise SettingsError(bad_json)
    try:
        return Settings(**data)
    except ValidationError as exc:
        raise SettingsError(_places(exc, env, config_file, lines)) from exc
    except PydanticSettingsError as exc:  # what the JSON check above did not foresee
        raise SettingsError([("<environment>", Problem(None, "", _one_line(exc)))]) from exc


def _env_loc(name: str) -> Loc:
    return tuple(name[len(ENV_PREFIX) :].lower().split("__"))


def _env_name(loc: Loc) -> str:
    return ENV_PREFIX + "__".join(str(part) for part in loc).upper()


def _json_problems(env: dict[str, str]) -> list[tuple[str, Problem]]:
    """Variables whose setting takes JSON (a list, a mapping, a section) but hold none."""
    problems = []
    for name, value in sorted(env.items()):
        shape = _json_shape(_env_loc(name))
        if shape is None:
            continue
        try:
            json.loads(value)
        except json.JSONDecodeError as exc:
            reason = (
                f"invalid JSON at line {exc.lineno} column {exc.colno} (char {exc.pos}): "
                f"{exc.msg}; this setting takes {shape}"
            )
            problems.append((name, Problem(None, "", reason)))
    return problems


def _json_shape(loc: Loc) -> str | None:
    """'a JSON list' or 'a JSON object' when the setting at `loc` is read as JSON, else None.

    Mirrors pydantic-settings: a variable naming a section, a list or a mapping is parsed
    as JSON (a key inside a mapping is read leniently and left to validation)."""
    model: type[BaseModel] = Settings
    for i, part in enumerate(loc):
        info = model.model_fields.get(str(part))
        if info is None:
            return None
        annotation = _unwrapped(info.annotation)
        is_last = i == len(loc) - 1
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            if is_last:
                return "a JSON object"
            model = annotation
            continue
        if not is_last:
            return None
        origin = get_origin(annotation)
        if origin is dict:
            return "a JSON object"
        if origin in (list, tuple, set, frozenset):
            return "a JSON list"
        return None
    return None


def _unwrapped(annotation: Any) -> Any:
    """`X` from `Annotated[X, ...]` and `X | None`."""
    while get_origin(annotation) is Annotated:
        annotation = get_args(annotation)[0]
    if get_origin(annotation) in (Union, UnionType):
        members = [a for a in get_args(annotation) if a is not type(None)]
        if len(members) == 1:
            return _unwrapped(members[0])
    return annotation


def _places(
    error: ValidationError,
    env: dict[str, str],
    config_file: Path | None,
    lines: dict[Loc, int],
) -> list[tuple[str, Problem]]:
    """Each validation error at the variable or the file line it came from (env wins)."""
    owned: dict[Loc, str] = {}  # every location an environment variable sets -> that variable
    sections: set[Loc] = set()  # the sections those variables fall in
    for name, value in env.items():
        loc = _env_loc(name)
        sections.update(loc[:i] for i in range(1, len(loc)))
        owned[loc] = name
        if _json_shape(loc) is not None:
            owned.update(dict.fromkeys(_inner_locs(json.loads(value), loc), name))
    file = str(config_file) if config_file is not None else "<environment>"
    out = []
    for loc, is_missing, reason in error_places(error, {*owned, *sections, *lines}):
        prefix = next((loc[:i] for i in range(len(loc), 0, -1) if loc[:i] in owned), None)
        in_file = loc in lines or (is_missing and loc[:-1] in lines)
        if prefix is None and not in_file:
            prefix = next((loc[:i] for i in range(len(loc), 0, -1) if loc[:i] in sections), None)
        if prefix is not None:
            name = owned.get(prefix, _env_name(prefix))
            out.append((name, Problem(None, dotted(loc[len(_env_loc(name)) :]), reason)))
        else:
            out.append((file, Problem(line_of(lines, loc), dotted(loc), reason)))
    return out


def _inner_locs(value: Any, loc: Loc) -> Iterator[Loc]:
    yield loc
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from _inner_locs(inner, (*loc, key))
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            yield from _inner_locs(inner, (*loc, i))


def _one_line(exc: Exception) -> str:
    cause = f": {exc.__cause__}" if exc.__cause__ is not None else ""
    return f"{exc}{cause}".replace("\n", " ")


def _not_a_mapping() -> ValidationError:
    try:
        Settings.model_validate("not a mapping")
    except ValidationError as exc:
        return exc
    raise AssertionError("unreachable")  # pragma: no cover


def masked(settings: Settings) -> dict[str, Any]:
    """The settings as JSON-ready values, secrets shown as '**********'.

    URLs lose their query values too: chat robots carry their key there (`?key=...`).
    """
    data = settings.model_dump(mode="json")
    for section in ("channels", "webhooks"):
        for entry in data.get(section, []):
            if isinstance(entry.get("url"), str):
                entry["url"] = _mask_query(entry["url"])
    return data


def _mask_query(url: str) -> str:
    base, sep, query = url.partition("?")
    if not sep:
        return url
    pairs = [p.partition("=") for p in query.split("&")]
    return base + "?" + "&".join(f"{k}=**********" if eq else k for k, eq, _ in pairs)
