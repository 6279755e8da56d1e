r"""What am I looking at: one short explanation per view, with its equation.

All explanation texts of the dashboard (and the notebooks) live here, as Markdown with LaTeX
(``$...$`` inline, ``$$...$$`` display; the dashboard renders them with KaTeX, bundled with
Panel, so they work offline). :func:`explanation` returns the text of a view key;
:data:`EXPLANATIONS` lists them all (a test checks every view of the dashboard has one).
"""

from __future__ import annotations

__all__ = ["EXPLANATIONS", "explanation"]

_IF = (r"$$V_j[k] = \sum_{i:\,t_i \le k} w_{ji}, \qquad "
       r"t_j = \min\{k : V_j[k] > \theta_j\} + d$$")

EXPLANATIONS: dict[str, str] = {
    "curves": (
        "**Training curves.** Left: the loss of each trainer step. Right: the share of "
        "correctly classified samples: per step (grey), the epoch so far (blue), each epoch "
        "(dots) and the validation split (green), which selects the model that is tested. "
        "For S4NN/BS4NN the loss is the squared temporal error "
        r"$$L = \tfrac12 \sum_j e_j^2, \qquad e_j = \frac{T_j - t_j}{t_{max}}$$"
        "with target times $T_j$ relative to the earliest output spike."),
    "race": (
        "**Output race.** Each output neuron is a class; the bar ends at its first spike "
        "time. The first to fire decides: "
        r"$$\hat y = \arg\min_j t_j$$"
        "Green: the label won; red: another class won; amber: several fired first at the "
        "same step (a tie); grey: never fired. Ticks mark the training targets $T_j$."),
    "membrane": (
        "**Membrane potential.** Non-leaky integrate-and-fire neurons add the weight of every "
        "input spike that has arrived; the neuron fires once, when its potential first "
        "crosses the threshold (dashed), one step later (the delay $d$):" + _IF +
        "Weights can be negative, so $V$ can go down again. STiDi-BP neurons integrate "
        "a piecewise-linear kernel instead of a step."),
    "raster": (
        "**Spike raster.** One dot per spike: neuron index against spike time, one row per "
        "layer. With time-to-first-spike coding each neuron fires at most once, so an early "
        "dot is a strong activation. Input pixels fire earlier the brighter they are:"
        r"$$t_i = \left\lfloor t_{max}\,\left(1 - \frac{x_i}{255}\right) \right\rfloor$$"
        "(S4NN; black pixels never fire). Click a dot to trace that neuron."),
    "hist": (
        "**Spike-time histogram.** Over the last validation pass: the share of neurons of "
        "each layer that fire at each time step, and (legend) the share that never fires. "
        "A network that decides early has its output mass on the left. For layer $l$ with "
        "$N_l$ neurons over $n$ samples:"
        r"$$h_l[k] = \frac{\#\{(s, j) : t^{(s)}_j = k\}}{n\,N_l}$$"),
    "confusion": (
        "**Confusion matrix.** Rows: true class, columns: the decision "
        r"$\hat y = \arg\min_j t_j$; "
        "the last column counts samples with no decision (no output spike, or a tie under "
        "the honest policy). Colour is the share of the row: "
        r"$C_{yc} / \sum_{c'} C_{yc'}$."),
    "flips": (
        "**Sign flips.** Binary-weight networks (BS4NN) use $\\alpha_l\\,\\mathrm{sign}(w)$ "
        "in the forward pass and update latent real weights $w$; a flip is a latent weight "
        "crossing zero, the only change the forward pass sees."),
    "input": (
        "**Input.** Left: the image. Right: each pixel's input spike time (latency code: "
        r"brighter is earlier), $t_i = \lfloor t_{max}(1 - x_i/255)\rfloor$; "
        "blank pixels never spike (or have not spiked by the chosen time step)."),
    "weight_hist": (
        "**Weights.** Histogram of one layer's (latent) weights $w_{ji}$; red bars are "
        "negative. For binary weights only the sign matters: "
        r"$w^b = \alpha\,\mathrm{sign}(w)$ with $\mathrm{sign}(0) = +1$."),
    "tiles": (
        "**Weight tiles.** The incoming weights $w_{j,\\cdot}$ of the first hidden neurons "
        "reshaped to the input image: each tile is the pattern of pixels that drives that "
        "neuron to fire early (blue) or holds it back (red)."),
    "decision_time": (
        "**Accuracy vs decision time.** A time-to-first-spike network can answer as soon as "
        "its first output neuron fires. For each step $t$: the share of validation samples "
        "already decided by $t$ and the share decided *correctly* by $t$,"
        r"$$A(t) = \frac{1}{n}\,\#\{s : \min_j t^{(s)}_j \le t,\ "
        r"\arg\min_j t^{(s)}_j = y^{(s)}\}$$"
        "so you can read how long the network needs to think."),
    "displacement": (
        "**STiDi-BP displacement.** STiDi-BP asks each neuron to move its spike by "
        r"$\Delta t_j$ and converts it into a weight step through the slope of the "
        "piecewise-linear PSP at the spike. The view compares the requested displacement "
        "with the one realised after the update, re-running a few samples:"
        r"$$\Delta t_j^{\text{realised}} = t_j(w + \Delta w) - t_j(w)$$"),
    "twin": (
        "**ANN/SNN twins.** Proxy learning trains an ANN and an IF spiking network that "
        "share their weights. Each dot is a neuron: its ANN activation (ReLU) against its "
        "SNN firing rate over $T$ steps; an IF neuron with reset by subtraction fires at "
        r"$$r_j \approx \min\!\left(1, \max\left(0, \frac{a_j}{\theta}\right)\right)$$"
        "so the dots should lie near the diagonal."),
    "ann_snn": (
        "**ANN and SNN accuracy.** The loss is computed on the SNN's output spike counts "
        "but its gradient flows through the ANN twin (the proxy):"
        r"$$\frac{\partial L}{\partial w} \approx "
        r"\frac{\partial L(\text{SNN out})}{\partial\,\text{out}}\,"
        r"\frac{\partial\,\text{ANN out}}{\partial w}$$"
        "Both accuracies are shown: the gap is the price of spiking."),
    "time_steps": (
        "**Accuracy vs time steps.** The rate-coded SNN of proxy learning decides by the "
        "output neuron with the most spikes after $t$ steps, "
        r"$\hat y(t) = \arg\max_j n_j(t)$."
        " Longer simulation gives finer rates and approaches the ANN's accuracy."),
    "draw": (
        "**Draw your own digit.** Your drawing is scaled to the dataset's image size, "
        "encoded with the current algorithm's input code (latency: "
        r"$t_i = \lfloor t_{max}(1 - x_i/255)\rfloor$) and run through the current "
        "weights of the training run (read between two trainer steps, never changed). "
        "The race shows the network's decision, the raster the hidden layer's spikes."),
    "sandbox": (
        "**Neuron sandbox.** Change one neuron's threshold $\\theta_j$, one incoming "
        "weight $w_{ji}$ or one input pixel's intensity $x_i$ and see the neuron's "
        "potential and firing time change:" + _IF +
        "The change then travels downstream: later spike times of this neuron reach the "
        "next layer later, which can change the output race. Edits act on a copy of the "
        "weights; the training run is untouched."),
    "policy": (
        "**Evaluation policy.** Two questions decide an accuracy number: what if *no* output "
        "neuron fires, and what if several fire first at the *same* step? Honest: both are "
        "errors. The reference code counts a tie as correct when the label is among the "
        "tied neurons (optimistic) and decides silent samples by the highest potential "
        r"$\arg\max_j V_j[t_{max} - 3]$. "
        "The same network can look several points better under a lenient protocol."),
    "runs_curves": (
        "**Recorded runs.** Accuracy per epoch of finished command-line runs "
        "(`snnviz train --out runs/NAME`), from their `result.json`. The scrubber replays "
        "the run up to an epoch: curves, and (when the run recorded them) the watched "
        "sample's spikes and the validation confusion of that epoch. Accuracy is under "
        "the run's own evaluation policy: "
        r"$\mathrm{acc} = \frac{1}{n}\,\#\{s : \hat y^{(s)} = y^{(s)}\}$."),
    "runs_compare": (
        "**A/B comparison.** Several runs side by side: validation accuracy per epoch, the "
        "final test accuracy under each evaluation policy, wall time, and (when recorded) "
        "the spiking neurons per sample of the validation split, summed over the layers, "
        r"$\frac{1}{n}\sum_l \#\{(s, j) : t^{(s)}_{lj} < t_{max}\}$, "
        "and the mean first-spike time of the output neurons that fire."),
}


def explanation(view: str) -> str:
    """The Markdown explanation of ``view`` (a key of :data:`EXPLANATIONS`)."""
    try:
        return EXPLANATIONS[view]
    except KeyError:
        raise ValueError(f"no explanation for view {view!r}; known: "
                         f"{', '.join(EXPLANATIONS)}") from None
