"""Recording training events into bounded buffers for live views."""

from snnviz.record.recorder import (
    Derived,
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

__all__ = ["Derived", "EventQueue", "FlipCounter", "Recorder", "Ring", "SampleView", "Snapshot",
           "WeightView", "probe_sample", "weight_view"]
