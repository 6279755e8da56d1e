"""Every hyperparameter out of range or of the wrong type, through the three ways a user sets
one: constructing the config, ``snnviz train --set KEY=VALUE`` and the dashboard's widgets.

The cases are generated from the fields' metadata (``hp(bounds=, choices=)`` and the type
annotation) of every registered algorithm's config and of the train/data/record configs, so a
new field or algorithm is covered without touching this file. Each refusal must name the field
and the offending value and say what is allowed; nothing may be written (no run folder).
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from typing import Any

import pytest
from relutil import assert_one_line_error, run

from snnviz.algorithms import ALGORITHMS
from snnviz.config import DataConfig, RecordSpec, TrainConfig, field_specs

SHARED = (TrainConfig, DataConfig, RecordSpec)


def _base(tp: Any) -> tuple[Any, bool]:
    """(type without ``| None``, optional?)."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        return next(a for a in typing.get_args(tp) if a is not type(None)), True
    return tp, False


def _fmt(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else repr(float(v))


@dataclasses.dataclass(frozen=True)
class Bad:
    """One bad value: ``typed`` for the config constructor (its message must contain every
    string of ``typed_says``), ``text`` for ``--set`` and text widgets (``text_says``);
    ``widget``: a number/choice widget can hold ``typed`` (else it refuses it itself)."""

    typed: Any
    text: str | None
    typed_says: tuple[str, ...]
    text_says: tuple[str, ...]
    widget: bool = True


def bad_values(f: dataclasses.Field, tp: Any) -> list[Bad]:
    """Out-of-range, wrong-type and non-finite values of one field, from its metadata."""
    base, optional = _base(tp)
    meta, name = f.metadata, f.name
    out: list[Bad] = []
    bounds, choices = meta.get("bounds"), meta.get("choices")
    integral = base is int or typing.get_origin(base) is tuple
    if bounds is not None:
        lo, hi = bounds
        rng = f"[{'-inf' if lo is None else lo}, {'inf' if hi is None else hi}]"
        below = [lo - (1 if integral else max(abs(lo), 1e-3))] if lo is not None else []
        above = [hi * 2 + 1] if hi is not None else []
        for v in below + above:
            v = int(v) if integral else float(v)
            typed = (v,) if typing.get_origin(base) is tuple else v
            says = (name, repr(typed), "out of range", rng)
            out.append(Bad(typed, _fmt(v), says, says))
    if choices is not None:
        says = (name, "'no-such-choice'", "is not one of", *map(repr, choices))
        out.append(Bad("no-such-choice", "no-such-choice", says, says))
    if base is int:
        out.append(Bad(1.5, "1.5", (name, "1.5", "an integer"), (name, "'1.5'", "an integer"),
                       widget=False))
        out.append(Bad("12", "twelve", (name, "'12'", "an integer"),
                       (name, "'twelve'", "an integer"), widget=False))
    elif base is float:
        for v in ("nan", "inf", "-inf"):
            out.append(Bad(float(v), v, (name, v, "finite"), (name, v, "finite")))
        out.append(Bad("0.5", "half", (name, "'0.5'", "a number"),
                       (name, "'half'", "a finite number"), widget=False))
    elif base is bool:
        out.append(Bad(1, "maybe", (name, "1", "true or false"), (name, "'maybe'", "true/false"),
                       widget=False))
    elif typing.get_origin(base) is tuple:
        out.append(Bad([1, 2], "1,two", (name, "[1, 2]", "must be a tuple"),
                       (name, "'1,two'", "comma-separated integers"), widget=False))
    elif base is str and choices is None:
        out.append(Bad(5, None, (name, "5", "must be a string"), (), widget=False))
    if not optional and base in (int, float):
        says = (name, "None", "must be")
        out.append(Bad(None, None, says, says))              # e.g. a cleared number widget
    return out


def _config_classes() -> list[tuple[str, type]]:
    seen, out = set(), []
    for algo, mod in ALGORITHMS.items():
        out.append((algo, mod.Config))
    for cls in SHARED:
        if cls not in seen:
            seen.add(cls)
            out.append(("s4nn", cls))
    return out


def _cases(ui_only: bool = False) -> list[Any]:
    cases = []
    for algo, cls in _config_classes():
        for f, tp in field_specs(cls):
            if ui_only and (not f.metadata.get("ui", True) or f.name == "dataset"):
                continue
            bads = bad_values(f, tp)
            if bads:
                cases.append(pytest.param(algo, cls, f.name, bads,
                                          id=f"{algo}-{cls.__name__}-{f.name}"))
    return cases


def test_metadata_generates_cases_for_every_algorithm_and_bounded_field():
    ids = {p.id for p in _cases()}
    for algo, mod in ALGORITHMS.items():
        assert f"{algo}-{mod.Config.__name__}-t_max" in ids
    bounded = [(cls.__name__, f.name) for _, cls in _config_classes()
               for f, _ in field_specs(cls) if f.metadata.get("bounds")]
    assert len(bounded) > 100 and all(any(f"-{c}-{n}" in i for i in ids) for c, n in bounded)


# ------------------------------------------------------------------ 1. config constructor


@pytest.mark.parametrize("algo,cls,name,bads", _cases())
def test_config_refuses(algo, cls, name, bads):
    good = cls()
    for bad in bads:
        with pytest.raises((ValueError, TypeError)) as info:
            dataclasses.replace(good, **{name: bad.typed})
        msg = str(info.value)
        for s in bad.typed_says:
            assert s in msg, f"{s!r} not in {msg!r}"


# ------------------------------------------------------------------ 2. command line --set


def _owner_is_first(algo: str, cls: type, name: str) -> bool:
    """``--set NAME=`` reaches ``cls`` (the algorithm config comes first when two configs
    share a field name, e.g. proxy's ``device``)."""
    order = [ALGORITHMS[algo].Config, *SHARED]
    owner = next(c for c in order if name in {f.name for f, _ in field_specs(c)})
    return owner is cls


@pytest.mark.parametrize("algo,cls,name,bads", _cases())
def test_cli_set_refuses(algo, cls, name, bads, capsys, tmp_path):
    if not _owner_is_first(algo, cls, name):
        pytest.skip(f"--set {name} sets the algorithm config's field of that name")
    out = tmp_path / "run"
    for bad in bads:
        if bad.text is None:
            continue
        code, err = run(capsys, "train", "--algorithm", algo, "--set", f"{name}={bad.text}",
                        "--out", str(out))
        assert code == 2, err
        assert_one_line_error(err, *bad.text_says)
        assert not out.exists(), "a refused run created its output folder"


# ------------------------------------------------------------------ 3. dashboard widgets


@functools.cache
def _form(algo: str):
    pytest.importorskip("panel")
    from snnviz.ui.controls import ConfigForm

    return ConfigForm(algo, "mnist-mini")


@pytest.mark.parametrize("algo,cls,name,bads", _cases(ui_only=True))
def test_widget_refuses(algo, cls, name, bads):
    if not _owner_is_first(algo, cls, name):
        pytest.skip(f"the {name} widget sets the algorithm config's field of that name")
    form = _form(algo)
    w = form.widgets[name]
    kind = next(c.kind for c in form.controls if c.name == name)
    old = w.value
    try:
        for bad in bads:
            if kind == "text":
                if bad.text is None:
                    continue
                value, says = bad.text, bad.text_says
            elif bad.widget:
                value, says = bad.typed, bad.typed_says
            else:
                # the widget itself holds only values of its type: the assignment is refused
                with pytest.raises(ValueError, match="value"):
                    w.value = bad.typed
                assert w.value == old and form.build()[0] is not None
                continue
            w.value = value
            cfg, msg = form.build()
            w.value = old
            assert cfg is None, f"{name}={value!r} was accepted"
            for s in says:
                assert s in msg, f"{s!r} not in {msg!r}"
    finally:
        w.value = old
    assert form.build()[0] is not None
