"""Recording training events into bounded buffers for live views."""

from snnviz.record.recorder import (
    EventQueue,
    FlipCounter,
    Recorder,
    Ring,
    SampleView,
    Snapshot,
    WeightView,
    probe_sample,
    weight_view,
)

__all__ = ["EventQueue", "FlipCounter", "Recorder", "Ring", "SampleView", "Snapshot",
           "WeightView", "probe_sample", "weight_view"]
