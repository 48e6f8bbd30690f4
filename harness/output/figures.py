"""``harness bench --plot`` and ``Benchmark.plot()``: throughput per combination and the loss curves, one PNG.
A view of :class:`harness.output.model.Results`."""
from __future__ import annotations

from harness.output.bench_table import sig
from harness.output.model import Results
from harness.output.render import figure, png_bytes


def _results(results) -> Results:
    return results if isinstance(results, Results) else Results.from_rows(results)


def write(results: Results) -> bytes:
    return png_bytes(render_figure(results))


def write_breakdown(results: Results) -> bytes:
    from harness.output import breakdown

    return breakdown.breakdown_png(results.breakdown)


def render_png(rows) -> bytes:
    return write(_results(rows))


#: plugin -> colour in the role matrix; other plugins take the rest of the palette in order of appearance
PLUGIN_COLOURS = {"scratch": "#f28e2b", "gluon": "#4e79a7", "fast": "#59a14f"}
PALETTE = ["#e15759", "#76b7b2", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"]
REFERENCE_COLOUR = "#d9d9d9"


def plugin_colours(cases) -> dict[str, str]:
    colours = dict(PLUGIN_COLOURS)
    spare = iter(PALETTE)
    for c in cases:
        for plugin in (name.split(":")[0] for name in c.roles.values()):  # "scratch:adam" is scratch's
            if plugin and plugin not in colours:
                colours[plugin] = next(spare, "#000000")
    return colours


def render_figure(results):
    """Epoch time per case (linear from zero, CI whiskers) beside a role matrix saying which plugin gave each
    role, and the time-to-quality curves (loss or accuracy against wall-clock time), as a matplotlib Figure."""
    ok = _results(results).ok()
    fig = figure(15, max(4.5, 0.32 * len(ok) + 2.2))
    grid = fig.add_gridspec(1, 3, width_ratios=[0.9, 5, 5])
    matrix = fig.add_subplot(grid[0])
    bars = fig.add_subplot(grid[1], sharey=matrix)
    curves = fig.add_subplot(grid[2])
    if ok:
        _role_matrix(matrix, ok)
        _time_bars(bars, ok)
        _time_to_quality(curves, ok)
    return fig


def _role_matrix(ax, cases) -> None:
    """One row per case, one column per role, each cell coloured by the plugin that gave the role."""
    from matplotlib.patches import Patch, Rectangle

    from harness.core.roles import ROLES

    colours = plugin_colours(cases)
    n = len(cases)
    for i, c in enumerate(cases):
        y = n - 1 - i
        if c.reference:
            ax.add_patch(Rectangle((-0.5, y - 0.4), len(ROLES), 0.8, color=REFERENCE_COLOUR))
            ax.text(len(ROLES) / 2 - 0.5, y, c.reference, ha="center", va="center", fontsize="small")
            continue
        for j, role in enumerate(ROLES):
            ax.add_patch(Rectangle((j - 0.45, y - 0.4), 0.9, 0.8, color=colours[c.roles[role].split(":")[0]]))
        if c.fused:
            ax.text(len(ROLES) - 0.5, y, "+f", ha="left", va="center", fontsize="x-small")
    ax.set_xlim(-0.5, len(ROLES) - 0.5)
    ax.set_ylim(-0.6, n - 0.4)
    ax.set_xticks(range(len(ROLES)), ROLES, rotation=90, fontsize="small")
    ax.xaxis.tick_top()
    ax.set_yticks([])
    ax.tick_params(length=0)
    for side in ax.spines.values():
        side.set_visible(False)
    used = {p.split(":")[0] for c in cases for p in c.roles.values() if p}
    handles = [Patch(color=colours[p], label=p) for p in colours if p in used]
    if any(c.fused for c in cases):
        handles.append(Patch(color="white", label="+f: fused step"))
    ax.legend(handles=handles, title="plugin",
              loc="upper center", bbox_to_anchor=(0.5, -0.02), fontsize="small", frameon=False)


def _time_bars(ax, cases) -> None:
    """Median epoch time, linear from zero, with the median's CI as whiskers and the ratio to all-scratch."""
    n = len(cases)
    y = [n - 1 - i for i in range(n)]
    medians = [c.median_s * 1e3 for c in cases]
    low = [m - (c.ci_s[0] * 1e3 if c.ci_s else m) for m, c in zip(medians, cases)]
    high = [(c.ci_s[1] * 1e3 if c.ci_s else m) - m for m, c in zip(medians, cases)]
    ax.barh(y, medians, color=["#9d9d9d" if c.reference else "#5f6b7a" for c in cases], height=0.7,
            xerr=[low, high], error_kw={"ecolor": "black", "capsize": 2, "linewidth": 1})
    top = max(m + h for m, h in zip(medians, high))
    for yi, m, h, c in zip(y, medians, high, cases):
        ratio = c.ratios.get("scratch")
        text = f"{sig(m, 3)} ms" + (f"  ×{ratio:.2g}" if ratio is not None else "")
        algorithm = c.roles.get("optimizer", "").partition(":")[2]
        text += f"  {algorithm}" if algorithm else ""  # the optimization algorithm, when not plain SGD
        ax.text(m + h + top * 0.01, yi, text, va="center", fontsize="x-small")
    ax.set_xlim(0, top * 1.25)
    ax.tick_params(axis="y", labelleft=False)
    ax.set_xlabel("epoch time, ms (median; whiskers: its 95% CI; ×: vs all-scratch)")
    ax.set_title("Epoch time (linear, from zero)")
    ax.grid(axis="x", alpha=0.3)


def _time_to_quality(ax, cases, highlight: int = 9) -> None:
    """Loss (or test accuracy) after each epoch against the wall-clock time spent training so far (warm-up
    included): the fastest few cases, all-scratch and the references in colour, the rest in grey."""
    acc = all(c.metrics.get("test_accs") for c in cases)
    key = "test_accs" if acc else "losses"
    baseline = [c for c in cases if not c.reference and c.ratios.get("scratch") == 1.0]
    coloured = {id(c) for c in [*cases[:highlight], *baseline, *[c for c in cases if c.reference]]}
    palette = iter(["#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7",
                    "#9c755f", "#000000"])
    for c in cases:
        seconds, values = c.metrics.get("epoch_seconds") or [], c.metrics.get(key) or []
        elapsed = [sum(seconds[: i + 1]) for i in range(min(len(seconds), len(values)))]
        if not elapsed:
            continue
        if id(c) in coloured:
            ax.plot(elapsed, values[: len(elapsed)], marker="o", markersize=3, color=next(palette, "black"),
                    label=c.label, zorder=3)
        else:
            ax.plot(elapsed, values[: len(elapsed)], color="#c8c8c8", linewidth=1, zorder=1,
                    label="other combinations" if not any(l.get_label() == "other combinations" for l in ax.lines)
                    else "_nolegend_")
    target = cases[0].metrics.get("target") or {}
    if target.get("metric") == ("test_acc" if acc else "loss") and target.get("value") is not None:
        ax.axhline(target["value"], color="black", linestyle="--", linewidth=0.8, label=f"target {target['value']:g}")
    if not acc:
        ax.set_yscale("log")  # the seed's loss falls from 0.04 to 5e-5 in three epochs
    ax.set_xlim(left=0)
    ax.set_xlabel("wall-clock training time, s (each point: one epoch, warm-up included)")
    ax.set_ylabel("test accuracy" if acc else "training loss")
    ax.set_title("Time to quality")
    handles, labels = ax.get_legend_handles_labels()
    order = sorted(range(len(labels)), key=lambda i: labels[i] == "other combinations")
    ax.legend([handles[i] for i in order], [labels[i] for i in order], loc="upper left", bbox_to_anchor=(1.01, 1),
              fontsize="x-small", frameon=False)
    ax.grid(alpha=0.3)


RATIO_TICKS = [0.1, 0.2, 0.25, 0.33, 0.5, 0.67, 0.8, 1, 1.25, 1.5, 2, 3, 4, 5, 10, 20]


def effects_figure(analyses):
    """Each role choice's effect on epoch time as a ratio with its (family-adjusted) interval, one panel per
    workload and context; the line at ×1 is no effect."""
    shown = [a for a in analyses if a.of("time", "main")]
    from matplotlib.ticker import NullLocator

    fig = figure(8, max(2.5, sum(0.3 * len(a.of("time", "main")) + 0.3 * len(a.of("time", "interaction")) + 1
                                 for a in shown)))
    axes = fig.subplots(max(len(shown), 1), 1, squeeze=False)[:, 0]
    for ax, a in zip(axes, shown):
        effects = [e for e in a.of("time", "main") + a.of("time", "interaction") if e.estimate is not None]
        labels = [f"{e.terms[0][0]}: {e.terms[0][1]}" if e.kind == "main"
                  else " × ".join(f"{r} {lv}" for r, lv, _ in e.terms) for e in effects]
        y = list(range(len(effects)))[::-1]
        for yi, e in zip(y, effects):
            colour = "tab:red" if e.real else "tab:grey"
            if e.low is not None:
                ax.plot([e.scaled(e.low), e.scaled(e.high)], [yi, yi], color=colour, linewidth=2)
            ax.plot([e.ratio], [yi], "o", color=colour)
        ax.axvline(1, color="black", linewidth=0.8)
        ax.set_xscale("log")  # ratios: ×2 and ×0.5 are equally far from ×1
        lo, hi = ax.get_xlim()
        ticks = [t for t in RATIO_TICKS if lo <= t <= hi]
        ax.set_xticks(ticks, [f"×{t:g}" for t in ticks])
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_yticks(y, labels)
        refs = sorted({lv[0] for lv in a.factors.values()})
        ax.set_xlabel(f"epoch time ratio against {'/'.join(refs)}, {a.confidence:.0%} CI (Bonferroni per family)")
        ax.set_title(f"Role effects, {a.group} (red: the interval excludes ×1)", fontsize="medium")
    return fig


def training_figure(result):
    """One training run (:class:`harness.core.train.RunResult`): loss by epoch (integer ticks), accuracy by epoch
    where the task measures it, and loss against wall-clock training time."""
    from matplotlib.ticker import MaxNLocator

    epochs = result.epochs
    accs = [k for k in ("train_acc", "test_acc") if epochs and k in epochs[0]]
    fig = figure(5 * (2 + bool(accs)), 3.8)
    axes = list(fig.subplots(1, 2 + bool(accs)))
    numbers = [e["epoch"] for e in epochs]
    elapsed = [sum(e["seconds"] for e in epochs[: i + 1]) for i in range(len(epochs))]
    losses = [e["loss"] for e in epochs]
    axes[0].plot(numbers, losses, marker="o")
    axes[0].set(xlabel="epoch", ylabel="training loss", yscale="log", title=result.combination.label)
    if accs:
        for key in accs:
            axes[1].plot(numbers, [e[key] for e in epochs], marker="o", label=key.replace("_", " "))
        axes[1].set(xlabel="epoch", ylabel="accuracy", title=result.task.name)
        axes[1].legend(loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    for ax in axes[: 1 + bool(accs)]:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    axes[-1].plot(elapsed, losses, marker="o")
    axes[-1].set(xlabel="wall-clock training time, s", ylabel="training loss", yscale="log", title="time to quality")
    axes[-1].set_xlim(left=0)
    axes[-1].grid(alpha=0.3)
    return fig
