"""Subcommands of ``harness``; each module adds its parsers and the functions they run."""
from __future__ import annotations

import argparse

from ..plugins import Registry, load, parse_specs
from ..roles import ROLES
from ..task import Task
from ..train import Settings


def registry_from_args(args: argparse.Namespace) -> Registry:
    """Load plugins as ``-p`` and ``--strict-plugins`` ask."""
    extra, blocked = parse_specs(args.plugin_specs)
    return load(extra=extra, blocked=blocked, strict=args.strict_plugins or None)


def add_task_options(parser: argparse.ArgumentParser) -> None:
    """The seed's task and hyper-parameters, with its defaults."""
    d, t = Settings(), Task()
    parser.add_argument("--epochs", type=int, default=d.epochs, help="training epochs (default %(default)s)")
    parser.add_argument("--batch-size", type=int, default=d.batch_size, help="examples per step (default %(default)s)")
    parser.add_argument("--lr", type=float, default=d.lr, help="learning rate (default %(default)s)")
    parser.add_argument("--num-examples", type=int, default=t.num_examples, help="N (default %(default)s)")
    parser.add_argument("--num-inputs", type=int, default=t.num_inputs, help="D (default %(default)s)")
    parser.add_argument("--seed", type=int, default=t.seed, help="data, initial parameters and shuffling (default %(default)s)")


def task_from_args(args: argparse.Namespace) -> Task:
    return Task(num_examples=args.num_examples, num_inputs=args.num_inputs, seed=args.seed)


def settings_from_args(args: argparse.Namespace, task: Task) -> Settings:
    settings = Settings(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr)
    settings.check(task)
    return settings


def add_role_options(parser: argparse.ArgumentParser, multiple: bool) -> None:
    """``--data NAME`` etc.; repeatable when a command runs several combinations."""
    for role in ROLES:
        if multiple:
            parser.add_argument(f"--{role}", action="append", metavar="NAME", help=f"{role} implementation; repeat to select several")
        else:
            parser.add_argument(f"--{role}", default="scratch", metavar="NAME", help=f"{role} implementation (default %(default)s)")
