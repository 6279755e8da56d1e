"""Exploration and classroom tools, independent of any UI.

- :mod:`.urlstate`: the dashboard's state as a URL query string and back (shareable links,
  presenter mode), with hostile values rejected;
- :mod:`.explain`: the "what am I looking at" text of every view;
- :mod:`.drawing`: a hand-drawn digit as a dataset image;
- :mod:`.sandbox`: run one image through an edited copy of a network (threshold, weight,
  input intensity) and compare before/after;
- :mod:`.figures`: Plotly builders of these views, of the evaluation policies and of the run
  library (:mod:`snnviz.runs`).
"""
