"""Explicit name -> module map of the learning algorithms.

Every module provides ``NAME``, ``TITLE``, ``Config`` (a frozen dataclass), ``Params``,
``init(cfg, gen)``, ``encode(pixels, cfg)``, ``forward``, ``backward``, ``update``,
``train_step(params, t_in, y, cfg, online)``, ``end_epoch``, ``score``, ``silent`` and
``probe`` (see docs/architecture.md).
"""

from __future__ import annotations

from types import ModuleType

from snnviz.algorithms import bs4nn, proxy, s4nn, stidi_bp, stidi_bp_binary, stidi_bp_conv

ALGORITHMS: dict[str, ModuleType] = {s4nn.NAME: s4nn, bs4nn.NAME: bs4nn,
                                     stidi_bp.NAME: stidi_bp, proxy.NAME: proxy,
                                     stidi_bp_conv.NAME: stidi_bp_conv,
                                     stidi_bp_binary.NAME: stidi_bp_binary}


def get_algorithm(name: str) -> ModuleType:
    """The module registered as ``name`` (clear error listing the valid names)."""
    try:
        return ALGORITHMS[name]
    except KeyError:
        raise ValueError(
            f"unknown algorithm {name!r}; choose one of: {', '.join(sorted(ALGORITHMS))}"
        ) from None
