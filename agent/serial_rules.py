"""Manufacturer serial rules for the camera, read from config/manufacturers/*.toml.

The enrichment side owns those files; the camera consumes only these keys of each:
  id, name                                   (top level)
  [recognise] serial_patterns, gs1_company_prefixes
  [serial]    transform, min_length, max_length
Other keys are the connector's business and ignored here. A missing directory means
no rules (the files may not have landed); a malformed file is an AgentError naming it.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from agent.errors import AgentError
from drivers.camera import CameraError, SerialRule

__all__ = ["SerialRulesError", "load_serial_rules", "rule_from_mapping"]


class SerialRulesError(AgentError):
    """A manufacturer file's serial rules cannot be used."""


def _strs(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise SerialRulesError(f"{where}: expected a list of strings")
    return tuple(value)


def rule_from_mapping(data: dict[str, Any], where: str) -> SerialRule:
    ident = data.get("id")
    if not isinstance(ident, str) or not ident:
        raise SerialRulesError(f"{where}: missing top-level 'id'")
    recog = data.get("recognise", {}) or {}
    serial = data.get("serial", {}) or {}
    if not isinstance(recog, dict) or not isinstance(serial, dict):
        raise SerialRulesError(f"{where}: [recognise] and [serial] must be tables")
    try:
        return SerialRule(
            manufacturer=ident,
            name=str(data.get("name", ident)),
            serial_patterns=_strs(recog.get("serial_patterns"), f"{where}: recognise.serial_patterns"),
            gs1_company_prefixes=_strs(
                recog.get("gs1_company_prefixes"), f"{where}: recognise.gs1_company_prefixes"
            ),
            transform=_strs(serial.get("transform", ["strip", "upper"]), f"{where}: serial.transform"),
            min_length=int(serial.get("min_length", 4)),
            max_length=int(serial.get("max_length", 40)),
        )
    except (CameraError, TypeError, ValueError) as exc:
        raise SerialRulesError(f"{where}: {exc}") from None


def load_serial_rules(directory: Path) -> list[SerialRule]:
    """Rules from every *.toml in `directory`, in file-name order ([] if it is absent)."""
    if not directory.is_dir():
        return []
    rules = []
    for path in sorted(directory.glob("*.toml")):
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise SerialRulesError(f"{path}: cannot read: {exc}") from None
        rule = rule_from_mapping(data, str(path))
        if rule.serial_patterns or rule.gs1_company_prefixes:
            rules.append(rule)
    return rules
