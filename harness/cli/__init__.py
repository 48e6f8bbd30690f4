"""The ``harness`` command: argument parsing and dispatch, nothing else."""
from __future__ import annotations

import argparse
import importlib
import sys
import warnings

from harness import __version__

# Subcommand modules: each has ``add_parser(subparsers, common)`` setting ``func``.
COMMANDS = ("harness.cli.core", "harness.cli.bench", "harness.cli.sweep", "harness.cli.history",
            "harness.cli.ab", "harness.cli.effects")


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit code 2."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _common(top: bool = False) -> argparse.ArgumentParser:
    """Options every subcommand accepts, before or after its name.

    ``-p`` before the name gets its own list (``top``), else the subcommand's would replace it.
    """
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true", default=argparse.SUPPRESS, help="show tracebacks")
    common.add_argument(
        "-p",
        dest="top_plugin_specs" if top else "plugin_specs",
        action="append",
        metavar="MODULE|no:NAME",
        default=argparse.SUPPRESS,
        help="load MODULE as a plugin, or block plugin NAME (repeatable)",
    )
    common.add_argument(
        "--strict-plugins",
        action="store_true",
        default=argparse.SUPPRESS,
        help="a broken plugin is an error, not a warning",
    )
    return common


def build_parser() -> argparse.ArgumentParser:
    common = _common()
    parser = ArgumentParser(
        prog="harness",
        parents=[_common(top=True)],
        description="Benchmark MXNet training pipelines assembled from plugins.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=ArgumentParser)
    for module in COMMANDS:
        importlib.import_module(module).add_parser(sub, common)
    return parser


def _format_warning(message, category, filename, lineno, line=None):
    return f"harness: warning: {message}\n"


class Terminated(KeyboardInterrupt):
    """SIGTERM, handled as Ctrl-C is: finished rows are kept, worker processes ended."""


_SIGNAL = {"number": 0}


def _on_signal(signum, frame):
    from harness.core.timing import Interrupt

    _SIGNAL["number"] = signum
    Interrupt.requested = True  # survives a finalizer swallowing the exception
    raise Terminated


def _install_sigterm():
    """Handle SIGTERM as Ctrl-C; returns what restores the previous handler."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = signal.signal(signal.SIGTERM, _on_signal)
    return lambda: signal.signal(signal.SIGTERM, previous)


def _interrupted_code(code: int) -> int:
    """130 for Ctrl-C; 128 + the signal's number when it was SIGTERM."""
    return 128 + _SIGNAL["number"] if code == 130 and _SIGNAL["number"] else code


def main(argv: list[str] | None = None) -> int:
    from harness.measure import threads

    threads.apply_early(sys.argv[1:] if argv is None else argv)  # before anything imports MXNet
    _SIGNAL["number"] = 0
    parser = build_parser()
    args = parser.parse_args(argv)
    args.debug = getattr(args, "debug", False)
    args.plugin_specs = getattr(args, "top_plugin_specs", []) + getattr(args, "plugin_specs", [])
    args.strict_plugins = getattr(args, "strict_plugins", False)
    warnings.formatwarning = _format_warning
    original = sys.stdout
    if sys.stdout is not None and not isinstance(sys.stdout, _WatchedStdout):
        sys.stdout = _WatchedStdout(sys.stdout)
    restore = _install_sigterm()
    try:
        return _dispatch(args)
    finally:
        restore()
        if sys.stdout is not original and isinstance(sys.stdout, _WatchedStdout):
            sys.stdout = original


def _dispatch(args) -> int:
    from harness import options
    from harness.core.errors import HarnessError

    try:
        options.check(args.command, vars(args))
        code = args.func(args) or 0
        sys.stdout.flush()
        return _interrupted_code(code)
    except HarnessError as exc:
        if args.debug:
            raise
        print(f"harness: error: {exc}", file=sys.stderr)
        return 1 if type(exc).__name__ == "PluginFailure" else 2  # a plugin broke the run; the input was fine
    except KeyboardInterrupt:
        if args.debug:
            raise
        print("harness: interrupted", file=sys.stderr)
        return _interrupted_code(130)
    except BrokenPipeError:
        _quiet_stdout()
        return 0
    except OSError as exc:
        if args.debug or not _stdout_failed(exc):
            raise
        _quiet_stdout()
        print(f"harness: error: cannot write to standard output: {exc.strerror or exc}", file=sys.stderr)
        return 1


class _WatchedStdout:
    """sys.stdout that remembers a failed write, so the failure is reported as one line, not a traceback."""

    def __init__(self, stream):
        self._stream, self.failed = stream, False

    def write(self, text):
        return self._watch(self._stream.write, text)

    def flush(self):
        return self._watch(self._stream.flush)

    def _watch(self, call, *args):
        try:
            return call(*args)
        except OSError:
            self.failed = True
            raise

    def __getattr__(self, name):
        return getattr(self._stream, name)


def _stdout_failed(exc: OSError) -> bool:
    """Whether ``exc`` came from writing our standard output (a full disk, a closed descriptor)."""
    return isinstance(sys.stdout, _WatchedStdout) and sys.stdout.failed


def _quiet_stdout() -> None:
    """Point stdout at /dev/null: the interpreter's final flush would fail again, with a traceback."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
