"""What each role choice costs: main effects and two-way interactions of the roles on log epoch time and on
the final quality metric, from a matrix of combinations (the 16 scratch/gluon ones are a 2⁴ factorial).

Method (docs/statistics.md, "Effects of the role choices"):

* each cell (combination) gives the mean of its replicates' log times and that mean's variance ``s²/n``
  (replicates: the timed rounds, or the worker processes' medians when the rounds came from processes);
* a least-squares fit of main effects + two-way interactions (treatment coding) to the cell means; an effect
  is a contrast of the fitted cell values averaged over the full grid of the other roles' levels (the
  factorial's marginal means), so "model: gluon instead of scratch" is averaged over every data, loss and
  optimizer choice.  Each contrast is a fixed linear combination ``Σ w_c ȳ_c`` of the cell means, so its
  variance is ``Σ w_c² s_c²/n_c`` (each cell its own variance) with Welch–Satterthwaite degrees of freedom;
* the final quality metric has one value per cell (no replicates): its effects come from the same
  contrasts, with the variance of the fit's residual (the three- and four-way interactions) — no CI when the
  fit is saturated;
* confidence intervals are Bonferroni-adjusted over each family (the main effects; the interactions), so
  "real" (the interval excludes ×1) holds for the whole family at once.

Levels other than the reference (``scratch`` where present) are each compared with it; a role with one level
is held fixed and has no effect; a missing or failed cell is reported, and a contrast the remaining cells
cannot identify is reported as not estimable.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np

CONFIDENCE = 0.95
REFERENCE = "scratch"


@dataclass
class Cell:
    """One combination: its role levels, replicate times (seconds), final quality, and status."""

    levels: dict  # role -> level (plugin name)
    times: list = field(default_factory=list)  # replicate epoch times (seconds)
    quality: float | None = None
    status: str = "ok"
    error: str = ""

    @property
    def usable(self) -> bool:
        return self.status == "ok" and len(self.times) >= 1 and all(t > 0 for t in self.times)


@dataclass
class Effect:
    """One contrast: ``terms`` are ``(role, level, reference level)``, one for a main effect, two for an
    interaction; ``estimate``/``low``/``high`` on the analysis scale (log for times and losses)."""

    response: str
    terms: tuple
    estimate: float | None
    low: float | None = None
    high: float | None = None
    p: float | None = None
    df: float | None = None
    log_scale: bool = True
    note: str = ""

    @property
    def kind(self) -> str:
        return "main" if len(self.terms) == 1 else "interaction"

    @property
    def real(self) -> bool:
        """The (family-adjusted) interval excludes no effect."""
        return bool(self.low is not None and (self.low > 0 or self.high < 0))

    def scaled(self, x: float | None) -> float | None:
        return None if x is None else (math.exp(x) if self.log_scale else x)

    @property
    def ratio(self) -> float | None:
        return self.scaled(self.estimate)

    def as_dict(self) -> dict:
        return {"response": self.response, "kind": self.kind,
                "terms": [{"role": r, "level": lv, "reference": ref} for r, lv, ref in self.terms],
                "scale": "ratio" if self.log_scale else "difference",
                "estimate": self.scaled(self.estimate), "low": self.scaled(self.low), "high": self.scaled(self.high),
                "p": self.p, "df": self.df, "real": self.real, "note": self.note}


@dataclass
class Analysis:
    """The effects of one group of cells (one workload and context)."""

    group: str
    factors: dict  # role -> levels (reference first) for roles that vary
    fixed: dict  # role -> level for roles held fixed
    cells: int  # usable cells
    grid: int  # cells in the full grid
    missing: list  # (levels dict, why): cells that failed or were skipped, grid cells never measured
    effects: list
    quality_metric: str | None
    confidence: float = CONFIDENCE
    replicates: str = "rounds"
    outside: list = field(default_factory=list)  # levels of the cells set aside (too few to join the factorial)

    def of(self, response: str, kind: str) -> list[Effect]:
        return [e for e in self.effects if e.response == response and e.kind == kind]

    def as_dict(self) -> dict:
        return {"group": self.group, "factors": self.factors, "fixed": self.fixed, "cells": self.cells,
                "grid": self.grid, "replicates": self.replicates, "confidence": self.confidence,
                "adjustment": "bonferroni per family (main effects; interactions) per response",
                "quality_metric": self.quality_metric,
                "missing": [{"levels": lv, "why": why} for lv, why in self.missing], "outside": self.outside,
                "effects": [e.as_dict() for e in self.effects]}


def factorial(cells: list[Cell]) -> bool:
    """Enough of a factorial to estimate effects: two roles that vary and at least four usable cells."""
    usable = [c for c in cells if c.usable]
    if len(usable) < 4:
        return False
    roles = list(usable[0].levels)
    return sum(len({c.levels[r] for c in usable}) > 1 for r in roles) >= 2


def analyse(cells: list[Cell], group: str = "", confidence: float = CONFIDENCE, reference: str = REFERENCE,
            quality_metric: str | None = None, replicates: str = "rounds") -> Analysis:
    """Main effects and two-way interactions of the roles that vary among ``cells``."""
    roles = list(cells[0].levels) if cells else []
    usable, outside = _factorial_part([c for c in cells if c.usable], roles)
    # levels come from the cells that ran: a level none of whose combinations ran has nothing to compare
    levels = {r: _levels({c.levels[r] for c in usable}, reference) for r in roles}
    factors = {r: lv for r, lv in levels.items() if len(lv) > 1}
    fixed = {r: lv[0] for r, lv in levels.items() if len(lv) == 1}
    names = list(factors)
    grid = [dict(zip(names, combo)) for combo in itertools.product(*factors.values())]
    ran = {_key(c.levels, names) for c in usable}
    missing = [({r: c.levels[r] for r in roles}, f"{c.status}: {c.error}") for c in cells if not c.usable]
    missing += [({**fixed, **g}, "not measured") for g in grid
                if _key(g, names) not in ran and not any(_key(c.levels, names) == _key(g, names) for c in cells)]
    effects = []
    if len(usable) >= 2 and names:
        fit = _Fit(factors, usable, grid)
        effects += fit.contrasts("time", *_time_response(usable), confidence)
        q = [c.quality for c in usable]
        if quality_metric and all(v is not None and math.isfinite(v) for v in q):
            log = quality_metric != "test_acc" and all(v > 0 for v in q)
            y = np.log(q) if log else np.asarray(q, dtype=float)
            effects += fit.contrasts(quality_metric, y, None, confidence, log_scale=log)
    return Analysis(group, factors, fixed, len(usable), len(grid), missing, effects, quality_metric, confidence,
                    replicates, [dict(c.levels) for c in outside])


def _factorial_part(cells: list[Cell], roles: list[str]) -> tuple[list[Cell], list[Cell]]:
    """The cells of the matrix's factorial core, and those left outside it: a level found in fewer than half
    as many combinations as its role's commonest level (the all-``fast`` combination beside the 16
    scratch/gluon ones) would leave most of its grid unmeasured, so its cells are set aside, repeatedly."""
    outside: list[Cell] = []
    while True:
        counts = {r: {} for r in roles}
        for c in cells:
            for r in roles:
                counts[r][c.levels[r]] = counts[r].get(c.levels[r], 0) + 1
        sparse = {(r, lv) for r in roles for lv, n in counts[r].items() if n < max(counts[r].values()) / 2}
        if not sparse:
            return cells, outside
        outside += [c for c in cells if any((r, c.levels[r]) in sparse for r in roles)]
        cells = [c for c in cells if not any((r, c.levels[r]) in sparse for r in roles)]


def _levels(found: set, reference: str) -> list[str]:
    ordered = sorted(found)
    return [reference, *[x for x in ordered if x != reference]] if reference in found else ordered


def _key(levels: dict, names: list[str]) -> tuple:
    return tuple(levels[n] for n in names)


def _time_response(cells: list[Cell]) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """Per cell: mean log time, and (variance of that mean, its degrees of freedom).  A cell with a single
    replicate borrows the pooled within-cell variance."""
    logs = [np.log(np.asarray(c.times, dtype=float)) for c in cells]
    means = np.array([x.mean() for x in logs])
    n = np.array([len(x) for x in logs], dtype=float)
    s2 = np.array([x.var(ddof=1) if len(x) > 1 else np.nan for x in logs])
    dof = n - 1
    if np.isnan(s2).any():
        known = ~np.isnan(s2)
        pooled = float(np.sum(s2[known] * dof[known]) / np.sum(dof[known])) if dof[known].sum() > 0 else 0.0
        s2 = np.where(known, s2, pooled)
        dof = np.where(known, dof, max(float(dof[known].sum()), 1.0))
    return means, (s2 / n, dof)


class _Fit:
    """Least squares of main effects + two-way interactions (treatment coding) on the cells' values."""

    def __init__(self, factors: dict, cells: list[Cell], grid: list[dict]):
        self.factors = factors
        self.columns = [()]  # intercept, then (role, level) and ((role, level), (role, level)) indicators
        for r, lv in factors.items():
            self.columns += [((r, x),) for x in lv[1:]]
        for (r1, l1), (r2, l2) in itertools.combinations(factors.items(), 2):
            self.columns += [((r1, a), (r2, b)) for a in l1[1:] for b in l2[1:]]
        self.X = np.array([self.row(c.levels) for c in cells])
        self.pinv = np.linalg.pinv(self.X)
        self.grid = grid
        self.G = np.array([self.row(g) for g in grid])

    def row(self, levels: dict) -> list[float]:
        return [float(all(levels[r] == x for r, x in col)) for col in self.columns]

    def marginal(self, fixed: dict) -> np.ndarray:
        """The coefficient vector of the fitted value averaged over the grid cells matching ``fixed``."""
        rows = [i for i, g in enumerate(self.grid) if all(g[r] == x for r, x in fixed.items())]
        return self.G[rows].mean(axis=0)

    def contrast_vectors(self):
        """(terms, k) for every main effect and two-way interaction, each level against the reference."""
        out = []
        for r, lv in self.factors.items():
            for x in lv[1:]:
                out.append((((r, x, lv[0]),), self.marginal({r: x}) - self.marginal({r: lv[0]})))
        for (r1, l1), (r2, l2) in itertools.combinations(self.factors.items(), 2):
            for a in l1[1:]:
                for b in l2[1:]:
                    cell = {(p, q): self.marginal({r1: p, r2: q}) for p in (a, l1[0]) for q in (b, l2[0])}
                    k = cell[a, b] - cell[a, l2[0]] - cell[l1[0], b] + cell[l1[0], l2[0]]
                    out.append((((r1, a, l1[0]), (r2, b, l2[0])), k))
        return out

    def contrasts(self, response: str, y: np.ndarray, variance, confidence: float,
                  log_scale: bool = True) -> list[Effect]:
        """Each contrast's estimate and family-adjusted CI.  ``variance``: (per-cell variance of ``y``, its
        degrees of freedom), or ``None`` to use the fit's residual variance."""
        from scipy import stats as sst

        y = np.asarray(y, dtype=float)
        if variance is None:
            beta = self.pinv @ y
            resid = y - self.X @ beta
            df_resid = len(y) - np.linalg.matrix_rank(self.X)
            sigma2 = float(resid @ resid / df_resid) if df_resid > 0 else None
        effects = []
        for terms, k in self.contrast_vectors():
            estimable = np.allclose(k @ self.pinv @ self.X, k, atol=1e-8)
            if not estimable:
                effects.append(Effect(response, terms, None, log_scale=log_scale,
                                      note="not estimable: the cells that ran cannot separate it"))
                continue
            w = k @ self.pinv  # the contrast as weights on the cells' values
            est = float(w @ y)
            if variance is None:
                var, df = (sigma2 * float(w @ w), float(df_resid)) if sigma2 is not None else (None, None)
            else:
                v, dof = variance
                terms_var = w ** 2 * v
                var = float(terms_var.sum())
                df = float(var ** 2 / np.sum(terms_var ** 2 / np.maximum(dof, 1))) if var > 0 else math.inf
            effects.append(Effect(response, terms, est, df=df, log_scale=log_scale,
                                  note="" if var is not None else "no CI: one value per cell and a saturated fit"))
            effects[-1]._var = var
        for kind in (1, 2):  # Bonferroni within each family
            family = [e for e in effects if len(e.terms) == kind and getattr(e, "_var", None) is not None]
            for e in family:
                se = math.sqrt(e._var)
                if se == 0:
                    e.low = e.high = e.estimate
                    e.p = 0.0 if e.estimate != 0 else 1.0
                    continue
                t = sst.t.ppf(1 - (1 - confidence) / (2 * len(family)), e.df)
                e.low, e.high = float(e.estimate - t * se), float(e.estimate + t * se)
                e.p = float(min(1.0, 2 * sst.t.sf(abs(e.estimate) / se, e.df) * len(family)))
        for e in effects:
            e.__dict__.pop("_var", None)
        return effects
