"""Rendering helpers: tabulate tables and matplotlib figures without global state."""
from __future__ import annotations

from tabulate import tabulate


def table(rows: list[dict], headers: list[str], tablefmt: str = "simple", floatfmt: str = "g") -> str:
    """A tabulate table of ``rows`` restricted to ``headers``, in that order."""
    return tabulate([[row.get(h, "") for h in headers] for row in rows], headers=headers, tablefmt=tablefmt,
                    floatfmt=floatfmt)


def figure(width: float, height: float):
    """A matplotlib Figure that needs no display and no global pyplot state."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def png_bytes(fig) -> bytes:
    import io

    out = io.BytesIO()
    fig.savefig(out, format="png", dpi=100)
    return out.getvalue()
