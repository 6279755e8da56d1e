"""Plotly views of training: pure builders (:mod:`.figures`) and in-place patchers
(:mod:`.update`)."""

from snnviz.viz.figures import (
    THEME,
    build_ann_snn_accuracy,
    build_confusion,
    build_curves,
    build_decision_time,
    build_input,
    build_membrane,
    build_race,
    build_raster,
    build_sign_flips,
    build_spike_hist,
    build_stidi_displacement,
    build_twin_scatter,
    build_weight_hist,
    build_weight_tiles,
    tile_rows,
)
from snnviz.viz.update import (
    layer_names,
    patch_ann_snn_accuracy,
    patch_confusion,
    patch_curves,
    patch_decision_time,
    patch_input,
    patch_membrane,
    patch_race,
    patch_raster,
    patch_sign_flips,
    patch_spike_hist,
    patch_stidi_displacement,
    patch_twin_scatter,
    patch_weight_hist,
    patch_weight_tiles,
    race_outcome,
)

__all__ = [
    "THEME", "build_confusion", "build_curves", "build_input", "build_membrane", "build_race",
    "build_raster", "build_sign_flips", "build_spike_hist", "build_weight_hist",
    "build_weight_tiles", "tile_rows", "layer_names", "patch_confusion", "patch_curves",
    "patch_input", "patch_membrane", "patch_race", "patch_raster", "patch_sign_flips",
    "patch_spike_hist", "patch_weight_hist", "patch_weight_tiles", "race_outcome",
    "build_stidi_displacement", "patch_stidi_displacement", "build_twin_scatter",
    "patch_twin_scatter", "build_ann_snn_accuracy", "patch_ann_snn_accuracy",
    "build_decision_time", "patch_decision_time",
]
