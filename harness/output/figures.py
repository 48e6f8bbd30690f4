"""``harness bench --plot`` and ``Benchmark.plot()``: throughput per combination and the loss curves, one PNG.
A view of :class:`harness.output.model.Results`."""
from __future__ import annotations

from harness.output.model import Results
from harness.output.render import figure, png_bytes


def _results(results) -> Results:
    return results if isinstance(results, Results) else Results.from_rows(results)


def write(results: Results) -> bytes:
    return png_bytes(render_figure(results))


def write_breakdown(results: Results) -> bytes:
    from harness.measure import breakdown

    return breakdown.breakdown_png(results.breakdown)


def render_png(rows) -> bytes:
    return write(_results(rows))


def render_figure(results):
    """Throughput bars and training-loss curves of the ok cases, as a matplotlib Figure."""
    ok = _results(results).ok()
    fig = figure(12, max(4.0, 0.35 * len(ok) + 1.5))
    bars, curves = fig.subplots(1, 2)
    labels = [f"{c.label} ({c.ctx}, {c.workload_label})" for c in ok]
    bars.barh(labels[::-1], [c.metric("samples_per_s") for c in ok][::-1], color="tab:blue")
    bars.set_xscale("log")
    bars.set_xlabel("samples/s (median epoch, log scale)")
    bars.set_title("Throughput")
    for c, label in zip(ok, labels):
        losses = c.metrics["losses"]
        curves.plot(range(1, len(losses) + 1), losses, marker=".", label=label)
    if ok:
        target = ok[0].metrics.get("target_loss")
        if target is not None:
            curves.axhline(target, color="grey", linestyle="--", label=f"target {target:g}")
        curves.legend(fontsize="x-small")
    curves.set_yscale("log")
    curves.set_xlabel("epoch (warm-up included)")
    curves.set_ylabel("training loss")
    curves.set_title("Loss curves")
    return fig


def effects_figure(analyses):
    """Each role choice's effect on epoch time as a ratio with its (family-adjusted) interval, one panel per
    workload and context; the line at ×1 is no effect."""
    shown = [a for a in analyses if a.of("time", "main")]
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
        ax.set_yticks(y, labels)
        ax.set_xlabel(f"epoch time ratio (instead of the reference level), {a.confidence:.0%} simultaneous CI")
        ax.set_title(f"Role effects, {a.group} (red: the interval excludes ×1)", fontsize="medium")
    return fig
