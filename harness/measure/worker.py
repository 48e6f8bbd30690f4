"""Cases measured in a fresh process, round by round, one after another: ``python -m harness.measure.worker``.

Protocol (JSON, one object per line; the worker's lines start with ``HARNESS-RESULT `` so that a plugin
printing on stdout cannot disturb them):

* stdin, first line: the job, ``{"case": case_to_dict(...), "plugin_specs": [...], "strict": false}``.
  The worker loads the plugins, builds the session and runs the workload's warm-up epochs, then answers
  ``{"event": "ready"}``.
* ``{"cmd": "round"}``: one timed epoch (:meth:`harness.core.timing.EpochRunner.epoch`, the synchronised
  clock) and its loss outside the clock; answer ``{"event": "round", "seconds": s}``.
* ``{"cmd": "finish"}`` or end of input: answer ``{"event": "done", "status": "ok", "error": "",
  "metrics": {...}}`` (:func:`harness.measure.measuring.finished_row`'s metrics: every epoch in ``epoch_seconds``,
  warm-up first, and the process's CPU time of each in ``epoch_cpu_seconds``; ``peak_rss_mib`` of this
  case alone).  After ``finish`` the worker reads the next job (plugins stay loaded); at end of input it exits.

Any failure (plugin, divergence, bad job) is answered with ``{"event": "done", "status": "failed", ...}``
and the worker goes on to the next job; a hard crash leaves no answer and :mod:`harness.measure.runner` reports the
exit status.
The runner can thereby alternate the rounds of two workers (A B B A) with neither paying start-up in between.
"""
from __future__ import annotations

import json
import os
import sys

MARK = "HARNESS-RESULT "


def case_to_dict(case) -> dict:
    """A :class:`harness.measure.planning.Case` as JSON-able data (every workload field, whatever it has)."""
    from dataclasses import asdict

    return {
        "combination": case.combo.as_dict() if case.combo is not None else None,
        "reference": case.reference,
        "ctx": case.ctx,
        "workload": asdict(case.workload),
    }


def case_from_dict(data: dict):
    from harness.core.roles import Combination
    from harness.measure.planning import Case
    from harness.measure.workloads import Workload

    combo = Combination(**data["combination"]) if data.get("combination") is not None else None
    return Case(combo, data["ctx"], Workload(**data["workload"]), data.get("reference"))


def _say(message: dict) -> None:
    from harness.core.files import finite

    sys.stdout.write("\n" + MARK + json.dumps(finite(message)) + "\n")
    sys.stdout.flush()


def serve(lines, say=_say) -> None:
    """Run the protocol over ``lines`` (an iterator of command lines), answering with ``say``: one job after
    another until the input ends."""
    registries: dict = {}
    for line in lines:
        if line.strip() and not _case(json.loads(line), lines, say, registries):
            return


def _case(job: dict, lines, say, registries: dict) -> bool:
    """One job: warm up, answer rounds, then the metrics; ``False`` when the input ended meanwhile."""
    from harness.core.loader import load, parse_specs
    from harness.core.timing import EpochRunner
    from harness.measure import measuring, memory

    case = runner = None
    more = False  # the runner asked for ``finish``, so another job may follow
    try:
        case = case_from_dict(job["case"])
        key = (tuple(job.get("plugin_specs", [])), job.get("strict"))
        if key not in registries:  # plugins load once per worker, whatever the number of cases
            extra, blocked = parse_specs(job.get("plugin_specs", []))
            registries[key] = load(extra=extra, blocked=blocked, strict=job.get("strict") or None)
        memory.reset_peak_rss()
        runner = EpochRunner(case.session(registries[key]))
        for _ in range(case.workload.warmup):
            runner.epoch()
            runner.evaluate()
        say({"event": "ready"})
        for line in lines:
            cmd = json.loads(line).get("cmd")
            if cmd != "round":
                more = cmd == "finish"
                break
            runner.epoch()
            runner.evaluate()
            say({"event": "round", "seconds": runner.seconds[-1]})
    except Exception as exc:  # a plugin's bug, a divergence, a bad job: one answer, then the next job
        if case is None:
            say({"event": "done", "status": "failed", "error": f"bad job: {type(exc).__name__}: {exc}", "metrics": {}})
        else:
            row = measuring.failed_row(case, exc)
            say({"event": "done", "status": "failed", "error": row.error, "metrics": row.metrics})
        return True
    if len(runner.seconds) <= case.workload.warmup:
        say({"event": "done", "status": "failed", "error": "no timed round was asked for", "metrics": {}})
        return more
    row = measuring.finished_row(case, runner)
    metrics = {**row.metrics, "epoch_cpu_seconds": runner.cpu_seconds}
    say({"event": "done", "status": "ok", "error": "", "metrics": metrics})
    return more


def main() -> None:
    import warnings

    warnings.simplefilter("ignore")  # plugin warnings were already shown by the parent
    serve(iter(sys.stdin.readline, ""))
    sys.stdout.flush()
    os._exit(0)  # every answer is out; MXNet's engine shutdown would cost each worker ~0.4 s more


if __name__ == "__main__":
    sys.exit(main())
