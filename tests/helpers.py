"""Small helpers shared by the tests."""
import signal

import numpy as np


def interruptible() -> None:
    """``preexec_fn`` for a child a test will Ctrl-C: a shell without job control starts background jobs with
    SIGINT ignored, and a Python started that way never raises KeyboardInterrupt; a terminal user's does."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def weights(model) -> tuple[np.ndarray, float]:
    """A linear-regression model's (w flattened, b) from anything with ``arrays()`` (Model, Session, references)."""
    w, b = model.arrays()[:2]
    return np.asarray(w, dtype=np.float64).reshape(-1), float(np.asarray(b).reshape(-1)[0])
