"""User interfaces: widgets generated from config metadata and the Panel dashboard.

Panel and ipywidgets are imported only by the modules that need them:
``snnviz.ui.controls`` (both, lazily) and ``snnviz.ui.dashboard`` (Panel).
"""
