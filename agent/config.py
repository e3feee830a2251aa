"""Agent configuration: TOML file + `BAYGATE__SECTION__KEY` environment overrides.

Loaded from `--config PATH`, else `/etc/baygate/agent.toml`. Unknown keys are errors,
and every error names the dotted key path and what was expected, so `load_config`
raises `ConfigError` and the CLI exits 2 with one line, never a traceback.
Secrets are `Secret` values (agent/secret.py): given inline or as `file:/path` /
`env:NAME` references, resolved at use, and never printed (`repr` hides them). Making
the state dir and proving it writable is agent/state_dir.py.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from agent.errors import ConfigError
from agent.secret import Secret, SecretStr, to_secret
from sync.redact import redact

__all__ = [
    "DEFAULT_CONFIG_PATH",
    "ENV_PREFIX",
    "EXAMPLE_CONFIG",
    "SHIPPED_MANUFACTURERS",
    "AgentConfig",
    "AgentSection",
    "ApiSection",
    "CameraConfig",
    "Config",
    "DongleConfig",
    "EnrichSection",
    "MqttSection",
    "NhtsaSection",
    "ObdSection",
    "UiSection",
    "load_config",
    "merge_tables",
]

DEFAULT_CONFIG_PATH = Path("/etc/baygate/agent.toml")
# The commented reference config and the manufacturer connector definitions ship
# inside the package (package data), so an installed `baygate demo`/`doctor`/`scan`
# finds them; `config/` in the repository is where a reader looks for them.
_DEFAULTS = Path(__file__).resolve().parent / "defaults"
EXAMPLE_CONFIG = _DEFAULTS / "agent.example.toml"
SHIPPED_MANUFACTURERS = _DEFAULTS / "manufacturers"
ENV_PREFIX = "BAYGATE__"
_ID = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"  # safe as one MQTT topic level


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, arbitrary_types_allowed=True)


class AgentSection(_Section):
    shop_id: str = Field(pattern=_ID)
    agent_id: str = Field(pattern=_ID)
    state_dir: Path = Path("/var/lib/baygate")
    # Disk pressure on the state dir's filesystem (see docs/reliability.md).
    disk_low_mb: float = Field(64.0, ge=0, description="below this free: telemetry is shed")
    disk_critical_mb: float = Field(16.0, ge=0, description="below this free: new scans are refused")
    disk_reserve_mb: float = Field(
        4.0, ge=0, le=1024, description="preallocated for alerts, acks and the link on a full disk"
    )

    @model_validator(mode="after")
    def _disk_order(self) -> AgentSection:
        if self.disk_critical_mb > self.disk_low_mb:
            raise ValueError("disk_critical_mb must not exceed disk_low_mb")
        return self


class DongleConfig(_Section):
    name: str = Field(pattern=_ID)
    url: str = Field(
        description="tcp://host:port, serial:///dev/ttyUSB0[?baud=N], ble://ADDR or ble://name=NAME"
    )
    profile: str | None = None
    bay: str | None = Field(None, pattern=_ID, description="the bay it serves (default: the agent's)")

    @field_validator("url")
    @classmethod
    def _scheme(cls, v: str) -> str:
        if not re.match(r"^(tcp|serial|ble)://.+", v):
            raise ValueError("expected tcp://host:port, serial:///dev/ttyX or ble://ADDRESS")
        return v


class ObdSection(_Section):
    dongles: list[DongleConfig] = []
    command_timeout_s: float = Field(2.0, gt=0, le=60)
    telemetry_pids: list[str] = ["RPM", "SPEED", "COOLANT_TEMP", "ENGINE_LOAD", "THROTTLE_POS"]
    telemetry_hz: float = Field(1.0, gt=0, le=10)

    @field_validator("telemetry_pids")
    @classmethod
    def _known_pids(cls, v: list[str]) -> list[str]:
        # `run` would fail on the first poll; doctor and run must refuse it at load.
        from drivers.obd2.errors import DecodeError
        from drivers.obd2.pids import lookup

        for name in v:
            try:
                lookup(name)
            except DecodeError:
                raise ValueError(
                    f"unknown PID {name!r} (a name such as RPM, SPEED or COOLANT_TEMP, or a hex "
                    "code such as 0C: `baygate obd watch --help` lists them)"
                ) from None
        return v


class CameraConfig(_Section):
    name: str = Field(pattern=_ID)
    source: str = Field(
        description="V4L2 index or /dev/videoN, file path, rtsp:// or http:// URL, dir:PATH or sim:"
    )
    width: int = Field(1280, gt=0)
    height: int = Field(720, gt=0)
    fps: float = Field(15.0, gt=0, le=120)
    # The driver's DEFAULT_FORMATS (drivers/camera/symbology.py): every format a shop meets.
    formats: list[str] = [
        "QRCode", "DataMatrix", "PDF417", "Code128", "Code39", "ITF", "EAN13", "EAN8", "UPCA", "UPCE"
    ]  # fmt: skip
    dedupe_window_s: float = Field(10.0, ge=0)
    bay: str | None = Field(None, pattern=_ID, description="the bay it watches (default: the agent's)")

    @field_validator("formats")
    @classmethod
    def _known_formats(cls, v: list[str]) -> list[str]:
        from drivers.camera.errors import CameraError  # OpenCV: only when cameras exist
        from drivers.camera.symbology import zxing_formats

        try:
            zxing_formats(v)
        except CameraError as exc:
            raise ValueError(str(exc)) from None
        return v


class NhtsaSection(_Section):
    """Each URL is the base of its own service, laid out as the real one: requests go
    to `{vpic_url}DecodeVinValues/...` and `{recalls_url}recalls/recallsByVehicle`."""

    vpic_url: str = "https://vpic.nhtsa.dot.gov/api/vehicles/"
    recalls_url: str = "https://api.nhtsa.gov/"
    rate_per_s: float = Field(5.0, gt=0)
    timeout_s: float = Field(10.0, gt=0)

    def serving_both_at(self, root: str) -> NhtsaSection:
        """Both services on one host laid out like the real ones (the NHTSA simulator)."""
        root = root.rstrip("/")
        return self.model_copy(update={"vpic_url": f"{root}/api/vehicles/", "recalls_url": f"{root}/"})


class EnrichSection(_Section):
    enabled: bool = True
    nhtsa: NhtsaSection = NhtsaSection()
    manufacturers_dir: Path = Path("/etc/baygate/manufacturers")
    manufacturer_base_url: str | None = Field(
        None, description="override every connector's base URL (used by the demo's fake server)"
    )
    cache_max_entries: int = Field(100_000, gt=0)
    # Resilience shared by every remote call (see docs/enrich.md).
    breaker_failure_threshold: int = Field(5, ge=1, description="consecutive failures that open a breaker")
    breaker_open_timeout_s: float = Field(30.0, gt=0, description="seconds before a half-open probe")
    retry_attempts: int = Field(4, ge=1, le=10)
    call_deadline_s: float = Field(20.0, gt=0, description="one call, retries included")
    batch_window_ms: float = Field(20.0, ge=0, le=1000, description="vPIC decode coalescing window")
    manufacturer_rate_per_s: float = Field(2.0, gt=0, description="per manufacturer host")
    queue_retry_max_s: float = Field(600.0, gt=0, description="cap on the durable queue's backoff")
    probe_every_s: float = Field(
        300.0, ge=0, description="health check of NHTSA and each manufacturer API, seconds (0: off)"
    )


class MqttSection(_Section):
    url: str = "mqtt://127.0.0.1:1883"
    client_id: str | None = None
    username: str | None = None
    password: SecretStr | None = None
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: SecretStr | None = None
    # The per-agent authentication key (64 hex digits) from `baygate broker add-agent`:
    # records are signed with it, and only acks/commands signed with it are obeyed.
    auth_key: SecretStr | None = None
    keepalive_s: int = Field(30, ge=5, le=3600)
    inflight: int = Field(100, ge=1, le=65535)
    ack_retention_s: float | None = Field(
        None, ge=0, description="delete broker-acked rows after this long when the backend does not ack"
    )

    @field_validator("url")
    @classmethod
    def _scheme(cls, v: str) -> str:
        if not re.match(r"^mqtts?://[^/:]+(:\d+)?/?$", v):
            raise ValueError("expected mqtt://host[:port] or mqtts://host[:port]")
        return v

    @field_validator("password", "key_file", "auth_key", mode="before")
    @classmethod
    def _secret(cls, v: Any, info: ValidationInfo) -> Secret | None:
        return None if v is None else to_secret(v, f"mqtt.{info.field_name}")


class ApiSection(_Section):
    bind: str = "127.0.0.1"
    port: int = Field(9310, ge=0, le=65535)


class UiSection(_Section):
    """The bay screen (docs/ui.md). Served with the local web when `baygate run` serves it."""

    enabled: bool = True
    # Unset: the screen is served by the [api] server. Set (e.g. bind 0.0.0.0, port 9320)
    # to reach it from the shop LAN on its own port while /health and /metrics stay on
    # the loopback [api] server.
    bind: str | None = Field(None, description="0.0.0.0 to reach it from the shop LAN")
    port: int | None = Field(None, ge=0, le=65535)
    public_url: str | None = Field(
        None, description="base URL `baygate ui url` prints (default: http://<this host>:<port>/)"
    )
    visit_idle_end_s: float = Field(
        900.0, gt=0, description="a visit ends when its car was not heard of for this long"
    )

    @field_validator("public_url")
    @classmethod
    def _http(cls, v: str | None) -> str | None:
        if v is not None and not re.match(r"^https?://[^/\s]+/?$", v):
            raise ValueError("expected http://host[:port]/")
        return v


class Config(_Section):
    """The whole agent configuration. See config/agent.example.toml."""

    agent: AgentSection
    obd: ObdSection = ObdSection()
    cameras: list[CameraConfig] = []
    enrich: EnrichSection = EnrichSection()
    mqtt: MqttSection = MqttSection()
    api: ApiSection = ApiSection()
    ui: UiSection = UiSection()
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


AgentConfig = Config  # the name other modules read best with


def _env_sources(environ: Mapping[str, str]) -> dict[str, str]:
    """Dotted config key -> the `BAYGATE__` variable that set it (errors name the variable)."""
    return {
        ".".join(p.lower() for p in key[len(ENV_PREFIX) :].split("__") if p): key
        for key in environ
        if key.startswith(ENV_PREFIX)
    }


def _env_overrides(environ: Mapping[str, str]) -> dict[str, Any]:
    """`BAYGATE__MQTT__URL=...` -> {"mqtt": {"url": "..."}}. Values are parsed as TOML
    scalars when they parse (numbers, booleans, arrays), else taken as strings."""
    out: dict[str, Any] = {}
    for key, raw in environ.items():
        if not key.startswith(ENV_PREFIX):
            continue
        parts = [p.lower() for p in key[len(ENV_PREFIX) :].split("__") if p]
        if not parts:
            continue
        try:
            value: Any = tomllib.loads(f"v = {raw}")["v"]
        except tomllib.TOMLDecodeError:
            value = raw
        if tuple(parts) in _secret_paths():
            value = raw  # a password "007" is the string 007, not the number 7
        node = out
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ConfigError(key, "conflicts with another BAYGATE__ variable")
        node[parts[-1]] = value
    return out


def _secret_paths(model: type[BaseModel] | None = None, prefix: tuple[str, ...] = ()) -> set[tuple[str, ...]]:
    """Dotted paths of every Secret field (("mqtt", "password"), ...): their values
    are never shown, and taken verbatim from the environment."""
    out: set[tuple[str, ...]] = set()
    for name, f in (model or Config).model_fields.items():
        ann = f.annotation
        if ann is not None and "Secret" in str(ann):
            out.add((*prefix, name))
        elif isinstance(ann, type) and issubclass(ann, BaseModel):
            out |= _secret_paths(ann, (*prefix, name))
    return out


def merge_tables(base: dict[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """`over` on top of `base`: tables merge key by key, anything else is replaced."""
    merged = dict(base)
    for k, v in over.items():
        if isinstance(v, Mapping) and isinstance(merged.get(k), dict):
            merged[k] = merge_tables(merged[k], v)
        else:
            merged[k] = v
    return merged


def _describe(err: Mapping[str, Any]) -> tuple[str, str]:
    path = ".".join(str(p) for p in err["loc"])
    kind = err["type"]
    if kind == "extra_forbidden":
        return path, "unknown key (check the spelling against config/agent.example.toml)"
    if kind == "missing":
        return path, "required key is missing"
    msg = str(err["msg"]).removeprefix("Value error, ")
    got = err.get("input")
    if tuple(str(p) for p in err["loc"]) in _secret_paths():
        return path, msg + " (value hidden: it is a secret)"
    if got is not None and not isinstance(got, dict | list):
        msg = f"{msg} (got {redact(repr(got))})"
    return path, redact(msg)


def parse_config(data: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> Config:
    """Validate a config mapping (+ env overrides). Raises ConfigError naming the key."""
    env = os.environ if environ is None else environ
    merged = merge_tables(dict(data), _env_overrides(env))
    try:
        return Config.model_validate(merged)
    except ValidationError as exc:
        errors = exc.errors()
        path, msg = _describe(errors[0])
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        sources = _env_sources(env)
        var = next((v for k, v in sources.items() if path == k or path.startswith(k + ".")), None)
        if var is not None:  # the file is not at fault: name what the admin must fix
            raise ConfigError(path, msg + more, var) from None
        raise ConfigError(path, msg + more) from None


def load_config(path: Path | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """Read and validate the TOML file at `path` (default /etc/baygate/agent.toml)."""
    path = path or DEFAULT_CONFIG_PATH
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("", f"config file {path} not found (pass --config PATH)") from None
    except OSError as exc:
        raise ConfigError("", f"config file {path} cannot be read: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            "", f"config file {path} is not UTF-8 text (byte {exc.start}): save it as UTF-8"
        ) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("", f"{path} is not valid TOML: {exc}") from None
    return parse_config(data, environ)
