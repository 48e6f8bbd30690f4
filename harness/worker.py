"""One case in a fresh process, driven round by round: ``python -m harness.worker``.

Protocol (JSON, one object per line; the worker's lines start with ``HARNESS-RESULT `` so that a plugin
printing on stdout cannot disturb them):

* stdin, first line: the job, ``{"case": case_to_dict(...), "plugin_specs": [...], "strict": false}``.
  The worker loads the plugins, builds the session and runs the workload's warm-up epochs, then answers
  ``{"event": "ready"}``.
* ``{"cmd": "round"}``: one timed epoch (:meth:`harness.timing.EpochRunner.epoch`, the synchronised
  clock) and its loss outside the clock; answer ``{"event": "round", "seconds": s}``.
* ``{"cmd": "finish"}`` or end of input: answer ``{"event": "done", "status": "ok", "error": "",
  "metrics": {...}}`` (:func:`harness.measuring.finished_row`'s metrics: every epoch in ``epoch_seconds``,
  warm-up first, and the process's CPU time of each in ``epoch_cpu_seconds``; ``peak_rss_mib`` of this
  process alone) and exit.

Any failure (plugin, divergence, bad job) is answered with ``{"event": "done", "status": "failed", ...}``
and the worker exits; a hard crash leaves no answer and :mod:`harness.runner` reports the exit status.
The runner can thereby alternate the rounds of two workers (A B B A) with neither paying start-up in between.
"""
from __future__ import annotations

import json
import sys

MARK = "HARNESS-RESULT "


def case_to_dict(case) -> dict:
    """A :class:`harness.planning.Case` as JSON-able data (every workload field, whatever it has)."""
    from dataclasses import asdict

    return {
        "combination": case.combo.as_dict() if case.combo is not None else None,
        "reference": case.reference,
        "ctx": case.ctx,
        "workload": asdict(case.workload),
    }


def case_from_dict(data: dict):
    from .planning import Case
    from .workloads import Workload
    from .roles import Combination

    combo = Combination(**data["combination"]) if data.get("combination") is not None else None
    return Case(combo, data["ctx"], Workload(**data["workload"]), data.get("reference"))


def _say(message: dict) -> None:
    from .report import _finite

    sys.stdout.write("\n" + MARK + json.dumps(_finite(message)) + "\n")
    sys.stdout.flush()


def serve(lines, say=_say) -> None:
    """Run the protocol over ``lines`` (an iterator of command lines), answering with ``say``."""
    from . import measuring, memory
    from .loader import load, parse_specs
    from .timing import EpochRunner

    case = runner = None
    try:
        job = json.loads(next(lines))
        case = case_from_dict(job["case"])
        extra, blocked = parse_specs(job.get("plugin_specs", []))
        registry = load(extra=extra, blocked=blocked, strict=job.get("strict") or None)
        memory.reset_peak_rss()
        runner = EpochRunner(case.session(registry))
        for _ in range(case.workload.warmup):
            runner.epoch()
            runner.evaluate()
        say({"event": "ready"})
        for line in lines:
            if json.loads(line).get("cmd") != "round":
                break
            runner.epoch()
            runner.evaluate()
            say({"event": "round", "seconds": runner.seconds[-1]})
    except Exception as exc:  # a plugin's bug, a divergence, a bad job: one answer, then exit
        if case is None:
            say({"event": "done", "status": "failed", "error": f"bad job: {type(exc).__name__}: {exc}", "metrics": {}})
        else:
            row = measuring.failed_row(case, exc)
            say({"event": "done", "status": "failed", "error": row.error, "metrics": row.metrics})
        return
    if len(runner.seconds) <= case.workload.warmup:
        say({"event": "done", "status": "failed", "error": "no timed round was asked for", "metrics": {}})
        return
    row = measuring.finished_row(case, runner)
    say({"event": "done", "status": "ok", "error": "", "metrics": {**row.metrics, "epoch_cpu_seconds": runner.cpu_seconds}})


def main() -> int:
    import warnings

    warnings.simplefilter("ignore")  # plugin warnings were already shown by the parent
    serve(iter(sys.stdin.readline, ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
