"""Subcommands of ``harness``; each module adds its parsers and the functions they run."""
from __future__ import annotations

import argparse

from harness.core.loader import Registry
from harness.core.roles import ROLES
from harness.core.train import DIVISORS, Settings
from harness.measure.workloads import task_help
from harness.tasks import DEFAULT_TASK
from harness.tasks.builtin import TASKS


def registry_from_args(args: argparse.Namespace) -> Registry:
    """Load plugins as ``-p`` and ``--strict-plugins`` ask."""
    from harness.api import load_plugins

    return load_plugins(args.plugin_specs, args.strict_plugins)


def add_task_choice(parser: argparse.ArgumentParser) -> None:
    """``--task`` and the data options of the image tasks."""
    parser.add_argument("--task", default=DEFAULT_TASK, metavar="NAME",
                        help=f"what to train: {task_help()}, or a plugin's (harness tasks; default %(default)s)")
    parser.add_argument("--dataset", metavar="NAME",
                        help="image tasks: digits (bundled, the default), fashion-mnist (files) "
                        "or synthetic (the book's scale)")
    parser.add_argument("--data-dir", metavar="DIR",
                        help="fashion-mnist: the directory holding its four .gz files "
                        "(default $MXNET_HOME/datasets/fashion-mnist)")


def add_task_options(parser: argparse.ArgumentParser) -> None:
    """The task and its hyper-parameters; unset values take the task's defaults (the seed's for the default task)."""
    add_task_choice(parser)
    d, t = Settings(), next(cls for cls in TASKS if cls.name == DEFAULT_TASK)()
    parser.add_argument("--epochs", type=int, help=f"training epochs (default: the task's; {t.name} {d.epochs})")
    parser.add_argument("--batch-size", type=int,
                        help=f"examples per step (default: the task's; {t.name} {d.batch_size})")
    parser.add_argument("--lr", type=float, help=f"learning rate (default: the task's; {t.name} {d.lr})")
    parser.add_argument("--num-examples", type=int,
                        help=f"N ({t.name}, default {t.num_examples}; synthetic images, default 60000)")
    parser.add_argument("--num-inputs", type=int, help=f"D ({t.name}, default {t.num_inputs})")
    parser.add_argument("--seed", type=int, default=t.seed,
                        help="data, initial parameters and shuffling (default %(default)s)")
    parser.add_argument("--divisor", choices=DIVISORS, default=None,
                        help="a step divides the summed gradient by: book (the fixed batch size, also on a short last "
                        "batch, as d2l's sgd/trainer.step; default) or exact (the batch's real length)")


def task_options(args: argparse.Namespace) -> dict:
    """The task options given on the command line (``None`` where not given)."""
    return {name: getattr(args, name, None) for name in ("num_examples", "num_inputs", "dataset", "data_dir", "seed")}


def task_from_args(registry: Registry, args: argparse.Namespace):
    return registry.make_task(args.task, **task_options(args))


def settings_from_args(args: argparse.Namespace, task) -> Settings:
    return Settings.for_task(task, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                             divisor=getattr(args, "divisor", None))


def add_algorithm_option(parser: argparse.ArgumentParser, multiple: bool) -> None:
    """``--algorithm NAME``: the optimization algorithm the optimizer implementation runs (harness algorithms)."""
    if multiple:
        parser.add_argument("--algorithm", action="append", metavar="NAME",
                            help="optimization algorithm (sgd, momentum, adagrad, rmsprop, adadelta, adam, "
                            "a plugin's); "
                            "repeat to select several; each optimizer runs those it implements (default: sgd)")
    else:
        parser.add_argument("--algorithm", metavar="NAME",
                            help="optimization algorithm the --optimizer runs: sgd (default), momentum, adagrad, "
                            "rmsprop, adadelta, adam, or a plugin's (harness algorithms)")


def add_role_options(parser: argparse.ArgumentParser, multiple: bool) -> None:
    """``--data NAME`` etc.; repeatable when a command runs several combinations."""
    for role in ROLES:
        if multiple:
            parser.add_argument(f"--{role}", action="append", metavar="NAME",
                                help=f"{role} implementation; repeat to select several")
        else:
            parser.add_argument(f"--{role}", metavar="NAME",
                                help=f"{role} implementation (default: the task's, else scratch)")
