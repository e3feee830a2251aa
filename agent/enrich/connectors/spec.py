"""The connector file format (config/manufacturers/*.toml), validated with pydantic:
the ONE loader of those files.

The camera gets plain `SerialRule` objects from it (`load_serial_rules`,
`Connector.serial_rule`), and enrichment recognises serials with the same rules and
the same matching functions (`drivers.camera.serials`), so a serial one side
recognises the other never refuses. Credentials are references only (`env:NAME` or
`file:/path`), never inline values. See docs/enrich.md for every key.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from agent.enrich.errors import ConnectorConfigError
from drivers.camera.serials import SerialRule

__all__ = [
    "ApiMethod",
    "AuthSpec",
    "Connector",
    "FormMethod",
    "ManualMethod",
    "Method",
    "Recognise",
    "RequestSpec",
    "ResponseSpec",
    "SerialRules",
    "load_connector",
    "load_connectors",
    "load_serial_rules",
]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _credential_ref(v: str | None) -> str | None:
    if v is not None and not v.startswith(("env:", "file:")):
        raise ValueError("credentials must be references ('env:NAME' or 'file:/path'), never inline")
    return v


class Recognise(_Spec):
    serial_patterns: list[str] = Field(
        default_factory=list, description="regexes over the transformed serial"
    )
    gs1_company_prefixes: list[str] = Field(default_factory=list)

    @field_validator("serial_patterns")
    @classmethod
    def _compiles(cls, v: list[str]) -> list[str]:
        for p in v:
            re.compile(p)
        return v


class SerialRules(_Spec):
    transform: list[str] = Field(default_factory=lambda: ["strip", "upper"])
    min_length: int = Field(1, ge=1)
    max_length: int = Field(64, ge=1)

    @field_validator("transform")
    @classmethod
    def _known(cls, v: list[str]) -> list[str]:
        for step in v:
            if step not in ("strip", "upper", "lower") and not step.startswith("remove:"):
                raise ValueError(f"unknown transform {step!r} (strip, upper, lower, remove:CHARS)")
        return v


class AuthSpec(_Spec):
    type: Literal["none", "oauth2_client_credentials", "api_key", "basic"] = "none"
    token_url: str | None = None
    client_id: str | None = None
    client_secret: str | None = None
    scope: str | None = None
    header: str = "X-Api-Key"
    key: str | None = None
    username: str | None = None
    password: str | None = None

    _refs = field_validator("client_id", "client_secret", "key", "username", "password")(
        classmethod(lambda cls, v: _credential_ref(v))
    )


class RequestSpec(_Spec):
    method: Literal["GET", "POST"] = "GET"
    path: str
    query: dict[str, str] = Field(default_factory=dict, description="templates: {serial}, {serials}, ...")
    json_items: dict[str, str] | None = Field(None, description="one JSON object per product")
    json_wrap: str | None = Field(None, description="wrap the item list as {json_wrap: [...]}")
    headers: dict[str, str] = Field(default_factory=dict)


class ResponseSpec(_Spec):
    items: str = Field("", description="dotted path to the list of per-product results ('' = root)")
    match: str = Field(description="key in each item that holds the serial")
    fields: dict[str, str] = Field(default_factory=dict, description="our name -> dotted path in an item")
    required: list[str] = Field(default_factory=list, description="missing -> PARTIAL_SUCCESS")


class ApiMethod(_Spec):
    type: Literal["api"]
    base_url: str
    auth: AuthSpec = AuthSpec()
    request: RequestSpec
    response: ResponseSpec
    batch_size: int = Field(1, ge=1, le=1000)
    timeout_s: float = Field(10.0, gt=0)


class FormMethod(_Spec):
    type: Literal["form"]
    url: str
    fields: dict[str, str]
    success_text: str
    error_text: str | None = None
    timeout_s: float = Field(10.0, gt=0)


class ManualMethod(_Spec):
    type: Literal["manual"]
    url: str
    steps: list[str] = Field(min_length=1)


Method = Annotated[ApiMethod | FormMethod | ManualMethod, Field(discriminator="type")]


class Connector(_Spec):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,31}$")
    name: str
    priority: Literal["high", "normal", "low"] = "normal"
    recognise: Recognise = Recognise()
    serial: SerialRules = SerialRules()
    methods: list[Method] = Field(min_length=1, description="tried in this order")

    def serial_rule(self) -> SerialRule:
        """This connector's recognition rules as the camera's plain data."""
        return SerialRule(
            manufacturer=self.id,
            name=self.name,
            serial_patterns=tuple(self.recognise.serial_patterns),
            gs1_company_prefixes=tuple(self.recognise.gs1_company_prefixes),
            transform=tuple(self.serial.transform),
            min_length=self.serial.min_length,
            max_length=self.serial.max_length,
        )

    @property
    def recognises_anything(self) -> bool:
        return bool(self.recognise.serial_patterns or self.recognise.gs1_company_prefixes)


def load_connector(path: Path) -> Connector:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        return Connector.model_validate(data)
    except OSError as exc:
        raise ConnectorConfigError(f"{path}: cannot be read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConnectorConfigError(f"{path}: not valid TOML: {exc}") from None
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise ConnectorConfigError(f"{path}: {where}: {err['msg']}") from None


def load_serial_rules(directory: Path) -> list[SerialRule]:
    """The camera's serial rules from every connector in `directory` that recognises
    something ([] when the directory is absent: doctor warns about that)."""
    if not directory.is_dir():
        return []
    return [c.serial_rule() for c in load_connectors(directory).values() if c.recognises_anything]


def load_connectors(directory: Path) -> dict[str, Connector]:
    """Every *.toml in `directory`, by id (sorted by file name; duplicate ids are errors)."""
    out: dict[str, Connector] = {}
    for path in sorted(directory.glob("*.toml")):
        c = load_connector(path)
        if c.id in out:
            raise ConnectorConfigError(f"{path}: duplicate connector id {c.id!r}")
        out[c.id] = c
    return out
