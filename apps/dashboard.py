"""Live training dashboard (served; see docs/dashboard.md).

    panel serve apps/dashboard.py --address 127.0.0.1 --port 5006 \
        --allow-websocket-origin=localhost:5006 --allow-websocket-origin=127.0.0.1:5006

Open http://localhost:5006/dashboard; ``?algorithm=bs4nn&dataset=fashion-mnist-mini`` picks
the starting algorithm and dataset. Works offline on the embedded datasets.
"""

import panel as pn

from snnviz.ui.panel_app import TrainingApp

pn.extension("plotly", notifications=False)


def _arg(name: str, default: str) -> str:
    values = pn.state.session_args.get(name) if pn.state.session_args else None
    return values[0].decode() if values else default


# Faster views than the command-line defaults: probe the watched sample every 10 steps.
TrainingApp(
    algorithm=_arg("algorithm", "s4nn"),
    dataset=_arg("dataset", "mnist-mini"),
    overrides={"every": 10, "epochs": 20},
).servable()
