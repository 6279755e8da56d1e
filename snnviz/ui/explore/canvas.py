"""A freehand drawing canvas for Panel that reports a 28x28 grid of ink values.

A small :class:`panel.reactive.ReactiveHTML` component (plain HTML canvas and pointer events,
no external library, so it works offline). White ink on black, like MNIST. When a stroke ends
the browser shrinks the drawing to 28x28 (area-averaged by the canvas) and sets
:attr:`DrawCanvas.pixels` to the 784 ink values (0..255, row-major); Python watches it.
"""

from __future__ import annotations

import param
from panel.reactive import ReactiveHTML

__all__ = ["DrawCanvas"]

SIZE = 28


class DrawCanvas(ReactiveHTML):
    """Draw with the mouse, a pen or a finger; ``pixels`` holds the drawing (``[]``: empty).

    Setting ``clear_count`` to a new value clears the drawing (:meth:`clear`).
    """

    pixels = param.List(default=[], doc="28x28 ink values 0..255, row-major; [] when empty")
    clear_count = param.Integer(default=0, doc="increment to clear the canvas")
    pen = param.Integer(default=22, bounds=(4, 60), doc="stroke width on the 280 px canvas")

    _template = """
<canvas id="canvas" class="snnviz-draw" width="280" height="280"
        style="width: 280px; height: 280px; background: #000; border: 2px solid #9ca3af;
               border-radius: 6px; touch-action: none; cursor: crosshair;"></canvas>
"""

    _scripts = {
        "render": """
            const ctx = canvas.getContext('2d');
            state.ctx = ctx;
            state.drawing = false;
            self.blank();
            const pos = (e) => {
              const r = canvas.getBoundingClientRect();
              return [(e.clientX - r.left) * canvas.width / r.width,
                      (e.clientY - r.top) * canvas.height / r.height];
            };
            canvas.addEventListener('pointerdown', (e) => {
              state.drawing = true;
              try { canvas.setPointerCapture(e.pointerId); } catch (err) {}
              state.last = pos(e);
              state.from = state.last; state.to = state.last;
              self.stroke();
              e.preventDefault();
            });
            canvas.addEventListener('pointermove', (e) => {
              if (!state.drawing) return;
              const p = pos(e);
              state.from = state.last; state.to = p;
              self.stroke();
              state.last = p;
              e.preventDefault();
            });
            const end = (e) => {
              if (!state.drawing) return;
              state.drawing = false;
              self.send();
            };
            canvas.addEventListener('pointerup', end);
            canvas.addEventListener('pointercancel', end);
            canvas.addEventListener('pointerleave', end);
        """,
        "blank": """
            state.ctx.fillStyle = '#000';
            state.ctx.fillRect(0, 0, canvas.width, canvas.height);
        """,
        "stroke": """
            const a = state.from, b = state.to;
            const ctx = state.ctx;
            ctx.strokeStyle = '#fff';
            ctx.lineWidth = data.pen;
            ctx.lineCap = 'round';
            ctx.lineJoin = 'round';
            ctx.beginPath();
            ctx.moveTo(a[0], a[1]);
            ctx.lineTo(b[0] + 0.01, b[1]);
            ctx.stroke();
        """,
        "send": """
            const small = document.createElement('canvas');
            small.width = 28; small.height = 28;
            const sctx = small.getContext('2d');
            sctx.imageSmoothingEnabled = true;
            sctx.imageSmoothingQuality = 'high';
            sctx.drawImage(canvas, 0, 0, 28, 28);
            const d = sctx.getImageData(0, 0, 28, 28).data;
            const out = new Array(784);
            for (let i = 0; i < 784; i++) out[i] = d[4 * i];
            data.pixels = out;
        """,
        "clear_count": """
            self.blank();
            data.pixels = [];
        """,
    }

    def clear(self) -> None:
        """Clear the drawing (in the browser and here)."""
        self.pixels = []
        self.clear_count += 1

