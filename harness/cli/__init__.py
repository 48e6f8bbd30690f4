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


def main(argv: list[str] | None = None) -> int:
    from harness.core.errors import HarnessError

    from harness.measure import threads

    threads.apply_early(sys.argv[1:] if argv is None else argv)  # before anything imports MXNet
    parser = build_parser()
    args = parser.parse_args(argv)
    args.debug = getattr(args, "debug", False)
    args.plugin_specs = getattr(args, "top_plugin_specs", []) + getattr(args, "plugin_specs", [])
    args.strict_plugins = getattr(args, "strict_plugins", False)
    warnings.formatwarning = _format_warning
    try:
        return args.func(args) or 0
    except HarnessError as exc:
        if args.debug:
            raise
        print(f"harness: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if args.debug:
            raise
        print("harness: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0

