"""Small helpers shared by the tests."""
import numpy as np


def weights(model) -> tuple[np.ndarray, float]:
    """A linear-regression model's (w flattened, b) from anything with ``arrays()`` (Model, Session, references)."""
    w, b = model.arrays()[:2]
    return np.asarray(w, dtype=np.float64).reshape(-1), float(np.asarray(b).reshape(-1)[0])
