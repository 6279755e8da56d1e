"""Recording training events into bounded buffers for live views."""

from snnviz.record.recorder import EventQueue, Recorder, Ring, SampleView, Snapshot, probe_sample

__all__ = ["EventQueue", "Recorder", "Ring", "SampleView", "Snapshot", "probe_sample"]
