"""NIBRS master-file record layouts, read from ``decoder/nibrs_layouts.yml``.

The YAML is the only place field positions are written; the decoder and the synthetic
generator both take them from here. It is package data of ``decoder``, found with
importlib.resources, so a checkout and an installed wheel read the same file.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import cache
from importlib import resources
from pathlib import Path

import yaml

LAYOUTS_FILE = "nibrs_layouts.yml"


@dataclass(frozen=True)
class Field:
    name: str
    start: int  # 1-based, as in the FBI documents
    length: int

    @property
    def offset(self) -> int:
        """0-based byte offset of the field within the record."""
        return self.start - 1

    @property
    def end(self) -> int:
        """0-based exclusive end offset."""
        return self.start - 1 + self.length


@dataclass(frozen=True)
class RecordLayout:
    record_type: str  # the two bytes a record starts with: "BH", "01", "W6", ...
    segment: str  # output table
    description: str
    length: int  # record length in real files
    fields: tuple[Field, ...]

    @property
    def width(self) -> int:
        """Bytes covered by fields; a record is right-padded to at least this."""
        return max(f.end for f in self.fields)

    @property
    def field_names(self) -> list[str]:
        return [f.name for f in self.fields]

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"record type {self.record_type} has no field {name!r}")


def _layouts_path() -> Path:
    packaged = resources.files("decoder").joinpath(LAYOUTS_FILE)
    if not packaged.is_file():
        raise FileNotFoundError(
            f"decoder/{LAYOUTS_FILE} is missing from the installed decoder: reinstall it "
            "(pip install crime-warehouse)"
        )
    return Path(str(packaged))


@cache
def _read_yaml(path: Path) -> dict:
    # libyaml's loader when PyYAML has it: the pure-Python one takes a fifth of a second here
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    return yaml.load(path.read_text(), Loader=loader)


@cache
def load_layouts(path: Path | None = None) -> dict[str, RecordLayout]:
    """Record layouts by record type, in file order."""
    path = path or _layouts_path()
    raw = _read_yaml(path)["record_types"]
    layouts: dict[str, RecordLayout] = {}
    for key, spec in raw.items():
        code = str(key)
        fields: list[Field] = []
        if "extends" in spec:
            fields += layouts[str(spec["extends"])].fields
        if "fields_from" in spec:
            base = layouts[str(spec["fields_from"]["record_type"])]
            through = spec["fields_from"]["through"]
            names = base.field_names
            fields += base.fields[: names.index(through) + 1]
        fields += [Field(str(n), int(s), int(ln)) for n, s, ln in spec.get("fields", [])]
        fields.sort(key=lambda f: f.start)
        _check(code, fields)
        layouts[code] = RecordLayout(
            record_type=code,
            segment=spec["segment"],
            description=spec.get("description", ""),
            length=int(spec["length"]),
            fields=tuple(fields),
        )
    return layouts


def _check(code: str, fields: list[Field]) -> None:
    names = [f.name for f in fields]
    if len(names) != len(set(names)):
        raise ValueError(f"layout {code}: duplicate field names")
    ordered = sorted(fields, key=lambda f: f.start)
    for a, b in itertools.pairwise(ordered):
        if a.end > b.offset:
            raise ValueError(f"layout {code}: fields {a.name} and {b.name} overlap")


@dataclass(frozen=True)
class LayoutVariant:
    """A layout some records of one year and state really have, instead of the standard."""

    name: str
    data_year: int
    state_code: str
    layout: RecordLayout


@cache
def load_variants(path: Path | None = None) -> tuple[LayoutVariant, ...]:
    """The ``variants`` of the layouts file, each resolved to a full record layout."""
    path = path or _layouts_path()
    spec = _read_yaml(path).get("variants") or {}
    layouts = load_layouts(path)
    variants = []
    for name, variant in spec.items():
        for record_type in variant["record_types"]:
            base = layouts[str(record_type)]
            variants.append(
                LayoutVariant(
                    name=name,
                    data_year=int(variant["data_year"]),
                    state_code=str(variant["state_code"]),
                    layout=_widened(base, variant["widen"]),
                )
            )
    return tuple(variants)


def _widened(base: RecordLayout, widen: dict[str, int]) -> RecordLayout:
    fields, shift = [], 0
    for f in base.fields:
        fields.append(Field(f.name, f.start + shift, f.length + widen.get(f.name, 0)))
        shift += widen.get(f.name, 0)
    unknown = set(widen) - set(base.field_names)
    if unknown:
        raise ValueError(f"variant of {base.record_type} widens unknown fields {unknown}")
    return RecordLayout(
        record_type=base.record_type,
        segment=base.segment,
        description=base.description,
        length=base.length + shift,
        fields=tuple(fields),
    )
