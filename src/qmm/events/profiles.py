"""Mapping profiles: rename a vendor export's columns and values onto the data contract."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, Final

import duckdb
import yaml

from qmm.errors import InvalidInput, NotFound
from qmm.events.record_types import RECORD_TYPES, ColumnType

PROFILES_DIR: Final = Path(__file__).with_name("profiles")
# A date format keyword: the value is an ISO 8601 timestamp and its UTC calendar date is kept.
TIMESTAMP_DATE: Final = "timestamp"
NAME_PATTERN: Final = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,79}$")
TOP_LEVEL_KEYS: Final = frozenset({"name", "description", "record_types"})
TYPE_KEYS: Final = frozenset({"columns", "values", "date_formats"})


class InvalidProfile(InvalidInput):
    """A mapping profile that cannot be used; the message names every problem in it."""


def fold(text: str) -> str:
    """How headers and vendor values are compared: trimmed and case-insensitive."""
    return text.strip().casefold()


@dataclass(frozen=True)
class TypeMapping:
    """How one record type's vendor export maps onto the contract's columns and values."""

    columns: Mapping[str, str] = field(default_factory=dict)
    values: Mapping[str, Mapping[str, str | None]] = field(default_factory=dict)
    date_formats: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    def target(self, header: str) -> str | None:
        """The contract column a vendor header maps to, matched ignoring case and spaces."""
        wanted = fold(header)
        for vendor, column in self.columns.items():
            if fold(vendor) == wanted:
                return column
        return None


@dataclass(frozen=True)
class Profile:
    """A named set of mappings, one per record type, loaded from a YAML file."""

    name: str
    description: str
    record_types: Mapping[str, TypeMapping]
    path: Path | None = None

    def mapping(self, record_type: str) -> TypeMapping:
        """The mapping for a record type; a type the profile does not mention maps as is."""
        return self.record_types.get(record_type, TypeMapping())


def _scalar_text(value: Any) -> str | None:
    """A YAML scalar as the text it stands for; None for a boolean (it needs quotes)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, str | int | float):
        return str(value)
    return None


def _check_format(fmt: str) -> str | None:
    """Why a date format cannot be used, or None when DuckDB's strptime accepts it."""
    if "%" not in fmt:
        return "has no % directive (see the strptime format codes)"
    with duckdb.connect() as con:
        try:
            con.execute("SELECT try_strptime('', ?)", [fmt])
        except duckdb.Error as exc:
            return str(exc).splitlines()[0]
    return None


def _parse_type_mapping(record_type: str, data: Any, problems: list[str]) -> TypeMapping:
    where = f"record_types.{record_type}"
    if data is None:
        return TypeMapping()
    if not isinstance(data, dict):
        problems.append(f"{where}: must be a mapping with columns, values and date_formats")
        return TypeMapping()
    rt = RECORD_TYPES[record_type]
    known = {c.name: c for c in rt.columns}
    known_list = ", ".join(known)
    for key in sorted(set(map(str, data)) - TYPE_KEYS):
        problems.append(f"{where}: unknown key {key!r} (expected columns, values, date_formats)")

    columns: dict[str, str] = {}
    raw_columns = data.get("columns") or {}
    if not isinstance(raw_columns, dict):
        problems.append(f"{where}.columns: must map vendor headers to contract columns")
        raw_columns = {}
    folded: dict[str, str] = {}
    for vendor, target in raw_columns.items():
        vendor_text = _scalar_text(vendor)
        if vendor_text is None or not vendor_text.strip():
            problems.append(f"{where}.columns: header {vendor!r} must be a non-empty quoted text")
            continue
        if not isinstance(target, str) or target not in known:
            problems.append(
                f"{where}.columns: {vendor_text!r} maps to unknown column {target!r} "
                f"(columns of {record_type}: {known_list})"
            )
            continue
        if fold(vendor_text) in folded:
            problems.append(
                f"{where}.columns: header {vendor_text!r} is listed twice "
                f"(headers are matched ignoring case, as {folded[fold(vendor_text)]!r})"
            )
            continue
        folded[fold(vendor_text)] = vendor_text
        columns[vendor_text] = target

    values: dict[str, dict[str, str | None]] = {}
    raw_values = data.get("values") or {}
    if not isinstance(raw_values, dict):
        problems.append(f"{where}.values: must map contract columns to value maps")
        raw_values = {}
    for column, mapping in raw_values.items():
        if column not in known:
            problems.append(
                f"{where}.values: unknown column {column!r} (columns of {record_type}: "
                f"{known_list})"
            )
            continue
        if not isinstance(mapping, dict):
            problems.append(f"{where}.values.{column}: must map vendor values to contract values")
            continue
        allowed = known[column].allowed
        converted: dict[str, str | None] = {}
        for vendor_value, contract_value in mapping.items():
            vendor_text = _scalar_text(vendor_value)
            if vendor_text is None:
                problems.append(
                    f"{where}.values.{column}: vendor value {vendor_value!r} must be quoted "
                    "(YAML reads yes/no/true/false unquoted as booleans)"
                )
                continue
            if fold(vendor_text) in {fold(v) for v in converted}:
                problems.append(
                    f"{where}.values.{column}: vendor value {vendor_text!r} is listed twice "
                    "(values are matched ignoring case)"
                )
                continue
            if isinstance(contract_value, bool):
                target_text: str | None = "true" if contract_value else "false"
            elif contract_value is None:
                target_text = None
            else:
                target_text = _scalar_text(contract_value)
            if target_text is not None and allowed and target_text not in allowed:
                problems.append(
                    f"{where}.values.{column}: {vendor_text!r} maps to {target_text!r}, "
                    f"which is not one of {', '.join(allowed)}"
                )
                continue
            converted[vendor_text] = target_text
        values[column] = converted

    date_formats: dict[str, tuple[str, ...]] = {}
    raw_formats = data.get("date_formats") or {}
    if not isinstance(raw_formats, dict):
        problems.append(f"{where}.date_formats: must map date or timestamp columns to formats")
        raw_formats = {}
    for column, formats in raw_formats.items():
        kind = known[column].type if column in known else None
        if kind not in (ColumnType.date, ColumnType.timestamp):
            dated = ", ".join(
                c.name for c in rt.columns if c.type in (ColumnType.date, ColumnType.timestamp)
            )
            problems.append(
                f"{where}.date_formats: {column!r} is not a date or timestamp column of "
                f"{record_type} ({dated or 'it has none'})"
            )
            continue
        listed = [formats] if isinstance(formats, str) else formats
        if (
            not isinstance(listed, list)
            or not listed
            or not all(isinstance(f, str) for f in listed)
        ):
            problems.append(f"{where}.date_formats.{column}: must be a format or a list of them")
            continue
        for fmt in listed:
            if fmt == TIMESTAMP_DATE:
                if kind != ColumnType.date:
                    problems.append(
                        f"{where}.date_formats.{column}: {TIMESTAMP_DATE!r} only applies to "
                        "date columns"
                    )
                continue
            why = _check_format(fmt)
            if why:
                problems.append(f"{where}.date_formats.{column}: format {fmt!r} {why}")
        date_formats[column] = tuple(listed)
    return TypeMapping(columns=columns, values=values, date_formats=date_formats)


def parse_profile(data: Any, *, source: str, path: Path | None = None) -> Profile:
    """Validate a profile document, naming every unknown record type, column or bad format."""
    problems: list[str] = []
    if not isinstance(data, dict):
        raise InvalidProfile(f"{source}: a profile must be a mapping with name and record_types")
    for key in sorted(set(map(str, data)) - TOP_LEVEL_KEYS):
        problems.append(f"unknown key {key!r} (expected name, description, record_types)")
    name = data.get("name")
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        problems.append(
            f"name {name!r} must be lower-case letters, digits, '-', '_' or '.', "
            "at most 80 characters"
        )
        name = str(name)
    description = data.get("description") or ""
    if not isinstance(description, str):
        problems.append("description must be text")
        description = str(description)
    raw_types = data.get("record_types")
    record_types: dict[str, TypeMapping] = {}
    if not isinstance(raw_types, dict) or not raw_types:
        problems.append("record_types must map at least one record type to its mapping")
        raw_types = {}
    for record_type, mapping in raw_types.items():
        if record_type not in RECORD_TYPES:
            problems.append(
                f"record_types: unknown record type {record_type!r} "
                f"(known: {', '.join(sorted(RECORD_TYPES))})"
            )
            continue
        record_types[record_type] = _parse_type_mapping(record_type, mapping, problems)
    if problems:
        noun = "problem" if len(problems) == 1 else "problems"
        listed = "\n".join(f"  {p}" for p in problems)
        raise InvalidProfile(f"{source}: {len(problems)} {noun} in the mapping profile:\n{listed}")
    return Profile(name=name, description=description.strip(), record_types=record_types, path=path)


def _read(path: Path) -> Profile:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidProfile(f"{path}: cannot be read ({exc.strerror})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InvalidProfile(f"{path}: not valid YAML: {exc}") from None
    return parse_profile(data, source=str(path), path=path)


def shipped_profile_paths() -> list[Path]:
    """The example profiles that ship with QMM Workbench, by name."""
    return sorted(PROFILES_DIR.glob("*.yaml"))


def list_profiles() -> list[Profile]:
    """Every shipped profile, loaded and validated."""
    return [_read(path) for path in shipped_profile_paths()]


def load_profile(name_or_path: str | Path) -> Profile:
    """A shipped profile by name, or a profile file by path."""
    text = str(name_or_path)
    candidate = Path(text).expanduser()
    looks_like_path = (
        isinstance(name_or_path, Path)
        or candidate.suffix.lower() in (".yaml", ".yml")
        or "/" in text
        or "\\" in text
    )
    if looks_like_path:
        if not candidate.is_file():
            raise NotFound(f"mapping profile file {text} does not exist")
        return _read(candidate)
    shipped = PROFILES_DIR / f"{text}.yaml"
    if shipped.is_file():
        return _read(shipped)
    known = ", ".join(p.stem for p in shipped_profile_paths())
    raise NotFound(
        f"no mapping profile named {text!r}; shipped profiles: {known}; "
        "or give the path of a profile file"
    )
