"""Image-classification data for the classification tasks, as NumPy arrays.

Three data sets, all shaped like the book's ``ToTensor`` output (float32 ``(n, C, H, W)`` in [0, 1], float32 labels):

- ``digits``: scikit-learn's bundled handwritten digits (installs with the package, no download), with a fixed
  stratified train/test split;
- ``fashion-mnist``: read through MXNet's own ``gluon.data.vision.FashionMNIST`` from files already on disk
  (never downloaded: missing or corrupt files are a one-line error);
- ``synthetic``: learnable images at the book's scale (60,000 x 1x28x28) for timing without any data files.

``check_memory`` is the guard every task uses before allocating its data.
"""
from __future__ import annotations

import gzip
import hashlib
import os
import struct
import zlib
from dataclasses import dataclass

import numpy as np
from mxnet import base as mx_base
from mxnet.gluon.data.vision import FashionMNIST

from harness.core.errors import HarnessError

DATASETS = ("digits", "fashion-mnist", "synthetic")

# The official Fashion-MNIST files and their SHA-1s, as in mxnet/gluon/data/vision/datasets.py (v1.9.1).
FASHION_MNIST_SHA1 = {
    "train-images-idx3-ubyte.gz": "0cf37b0d40ed5169c6b3aba31069a9770ac9043d",
    "train-labels-idx1-ubyte.gz": "236021d52f1e40852b06a4c3008d8de8aef1e40b",
    "t10k-images-idx3-ubyte.gz": "626ed6a7c06dd17c0eec72fa3be1740f146a2863",
    "t10k-labels-idx1-ubyte.gz": "17f9ab60e7257a1620f4ad76bbbaf857c3920701",
}
_SPLIT_FILES = {
    True: ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    False: ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
_IDX_IMAGES, _IDX_LABELS = 2051, 2049  # idx magic numbers: unsigned bytes, 3 resp. 1 dimensions


@dataclass(frozen=True)
class ImageData:
    """Train and test splits of an image-classification data set."""

    name: str
    train_images: np.ndarray  # float32, (n, C, H, W), in [0, 1]
    train_labels: np.ndarray  # float32, (n,), class indices
    test_images: np.ndarray
    test_labels: np.ndarray
    classes: int = 10

    @property
    def num_inputs(self) -> int:
        """Features per example once an image is flattened (C*H*W)."""
        return int(np.prod(self.train_images.shape[1:]))


# --- memory guard -------------------------------------------------------------------------------------------------

def available_memory() -> int | None:
    """Bytes of memory available to a new allocation (MemAvailable), or None when the OS does not say."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def format_bytes(num_bytes: float) -> str:
    """``num_bytes`` in GiB/MiB/KiB, e.g. '373 GiB', '1.5 GiB', '200 MiB'."""
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if num_bytes >= size:
            value = num_bytes / size
            return f"{value:.0f} {unit}" if value >= 10 else f"{value:.1f} {unit}"
    return f"{int(num_bytes)} B"


def check_memory(num_bytes: int, what: str) -> None:
    """Raise a one-line HarnessError if allocating ``num_bytes`` for ``what`` would exceed available memory.

    ``what`` names the request as the user typed it, e.g. ``"--num-examples 100000000 --num-inputs 1000"``.
    """
    available = available_memory()
    if available is not None and num_bytes > available:
        raise HarnessError(f"{what} needs {format_bytes(num_bytes)}; "
                           f"this machine has {format_bytes(available)} available")


# --- digits (bundled with scikit-learn) ---------------------------------------------------------------------------

def load_digits() -> ImageData:
    """scikit-learn's 1,797 8x8 handwritten digits (values 0..16 scaled to [0, 1]), shaped (n, 1, 8, 8).

    The 80/20 train/test split is stratified by class and fixed (``random_state=0``), whatever the run's seed,
    so test accuracies are comparable across runs.
    """
    from sklearn.datasets import load_digits as sk_load_digits  # imported here: scikit-learn is slow to import
    from sklearn.model_selection import train_test_split

    bunch = sk_load_digits()
    images = (bunch.images.astype(np.float32) / np.float32(16.0)).reshape(-1, 1, 8, 8)
    labels = bunch.target.astype(np.float32)
    x_train, x_test, y_train, y_test = train_test_split(
        images, labels, test_size=0.2, stratify=bunch.target, random_state=0)
    return ImageData("digits", np.ascontiguousarray(x_train), y_train, np.ascontiguousarray(x_test), y_test)


# --- Fashion-MNIST (through MXNet's own dataset, never downloaded) -------------------------------------------------

def default_fashion_mnist_root() -> str:
    """Where MXNet's FashionMNIST looks by default: $MXNET_HOME/datasets/fashion-mnist (~/.mxnet without it)."""
    return os.path.join(mx_base.data_dir(), "datasets", "fashion-mnist")


class _LocalFashionMNIST(FashionMNIST):
    """MXNet's FashionMNIST, expecting the files and SHA-1s of ``FASHION_MNIST_SHA1``.

    MXNet's ``_get_data`` downloads any file whose SHA-1 differs from the one it expects; ``load_fashion_mnist``
    checks every file against this table first, so that download never starts.
    """

    def _get_data(self) -> None:
        images, labels = _SPLIT_FILES[self._train]
        self._train_data = self._test_data = (images, FASHION_MNIST_SHA1[images])
        self._train_label = self._test_label = (labels, FASHION_MNIST_SHA1[labels])
        super()._get_data()


def _sha1(path: str) -> str:
    digest = hashlib.sha1()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _idx_count(path: str, magic: int) -> int:
    """Number of items in a gzipped idx file, checking its header (MXNet's reader checks nothing)."""
    name = os.path.basename(path)
    dims = 3 if magic == _IDX_IMAGES else 1
    try:
        with gzip.open(path, "rb") as f:
            header = f.read(4 + 4 * dims)
    except (OSError, EOFError, zlib.error) as e:
        raise HarnessError(f"Fashion-MNIST file {path} is corrupt: not a valid gzip file ({e}); "
                           f"replace it with the official {name}") from None
    if len(header) < 4 + 4 * dims or struct.unpack(">I", header[:4])[0] != magic:
        raise HarnessError(f"Fashion-MNIST file {path} is corrupt: not an idx file of "
                           f"{'28x28 images' if dims == 3 else 'labels'}; replace it with the official {name}")
    values = struct.unpack(f">{1 + dims}I", header)
    if dims == 3 and values[2:] != (28, 28):
        raise HarnessError(f"Fashion-MNIST file {path} is corrupt: images are {values[2]}x{values[3]}, "
                           f"expected 28x28; replace it with the official {name}")
    return values[1]


def check_fashion_mnist_files(root: str) -> None:
    """One-line HarnessError unless ``root`` holds the four Fashion-MNIST files, intact (SHA-1 and idx headers)."""
    missing = [name for name in FASHION_MNIST_SHA1 if not os.path.isfile(os.path.join(root, name))]
    if missing:
        raise HarnessError(
            f"Fashion-MNIST needs the files {', '.join(FASHION_MNIST_SHA1)} in {root}; missing: {', '.join(missing)}. "
            "Put them there, set MXNET_HOME (files in $MXNET_HOME/datasets/fashion-mnist) or pass --data-dir DIR; "
            "nothing is downloaded. Without them the default data set is the bundled digits")
    for name, expected in FASHION_MNIST_SHA1.items():
        path = os.path.join(root, name)
        actual = _sha1(path)
        if actual != expected:
            raise HarnessError(f"Fashion-MNIST file {path} is corrupt: SHA-1 {actual}, expected {expected} "
                               f"(the official {name}); replace it")
    for images, labels in _SPLIT_FILES.values():
        n_images = _idx_count(os.path.join(root, images), _IDX_IMAGES)
        n_labels = _idx_count(os.path.join(root, labels), _IDX_LABELS)
        if n_images != n_labels:
            raise HarnessError(f"Fashion-MNIST files {images} ({n_images} images) and {labels} ({n_labels} labels) "
                               f"in {root} do not match; replace them with the official files")


def _read_split(root: str, train: bool) -> tuple[np.ndarray, np.ndarray]:
    try:
        dataset = _LocalFashionMNIST(root=root, train=train)
    except (OSError, EOFError, ValueError, struct.error, zlib.error) as e:
        raise HarnessError(f"Fashion-MNIST files {' and '.join(_SPLIT_FILES[train])} in {root} are corrupt "
                           f"({type(e).__name__}: {e}); replace them") from None
    # the whole split at once: the book's ToTensor, uint8 (n, H, W, C) -> float32 (n, C, H, W) / 255
    images = dataset._data.asnumpy().transpose(0, 3, 1, 2).astype(np.float32) / np.float32(255.0)
    labels = np.asarray(dataset._label, dtype=np.float32)
    return np.ascontiguousarray(images), labels


def load_fashion_mnist(root: str | None = None) -> ImageData:
    """Fashion-MNIST (60,000 + 10,000 images, 1x28x28) read by MXNet's ``FashionMNIST`` from ``root``.

    ``root`` defaults to ``$MXNET_HOME/datasets/fashion-mnist``. The files are checked first, so a missing or
    corrupt file is a one-line HarnessError instead of MXNet trying to download it.
    """
    root = os.path.abspath(os.path.expanduser(root if root is not None else default_fashion_mnist_root()))
    check_fashion_mnist_files(root)
    train_images, train_labels = _read_split(root, train=True)
    test_images, test_labels = _read_split(root, train=False)
    return ImageData("fashion-mnist", train_images, train_labels, test_images, test_labels)


# --- synthetic images ----------------------------------------------------------------------------------------------

# Noise amplitude and how much of each class prototype is shared by all classes: chosen so softmax regression
# (lr 0.1, batch 256) starts near chance and reaches 0.86-0.90 test accuracy after ~400 steps, whatever the seed
# (the book's Fashion-MNIST: 0.80 after 1 epoch, 0.84 after 5).
SYNTHETIC_NOISE = 3.0
SYNTHETIC_SHARED = 0.3


def synthetic_images(num_examples: int = 60000, num_test: int = 10000, shape: tuple[int, int, int] = (1, 28, 28),
                     classes: int = 10, seed: int = 0) -> ImageData:
    """Learnable synthetic images at the book's scale, deterministic in ``seed``.

    Each class has a smooth random prototype (4x4-pixel blocks) mixing a part shared by all classes with its own;
    an image is its class prototype plus uniform noise, clipped to [0, 1]. Classes are balanced.
    """
    if num_examples < 1 or num_test < 1 or classes < 2 or len(shape) != 3 or min(shape) < 1:
        raise HarnessError(f"synthetic images need num_examples >= 1, num_test >= 1, classes >= 2 and a (C, H, W) "
                           f"shape; got {num_examples}, {num_test}, {classes}, {tuple(shape)}")
    c, h, w = (int(d) for d in shape)
    total = num_examples + num_test
    check_memory(2 * total * c * h * w * 4,
                 f"{num_examples} + {num_test} synthetic {c}x{h}x{w} images (float32)")
    rng = np.random.Generator(np.random.PCG64(seed))  # Generator: float32 draws, ~20x faster than RandomState
    coarse = rng.random((classes + 1, c, -(-h // 4), -(-w // 4)), dtype=np.float32)
    smooth = coarse.repeat(4, axis=2).repeat(4, axis=3)[:, :, :h, :w]
    # class parts centred and scaled alike, so every seed poses a problem of the same difficulty
    own = smooth[1:] - smooth[1:].mean(axis=0)
    own *= np.float32(0.2887) / np.sqrt((own ** 2).mean(axis=(1, 2, 3), keepdims=True))  # std of U(0, 1)
    prototypes = SYNTHETIC_SHARED * smooth[0] + (1 - SYNTHETIC_SHARED) * (np.float32(0.5) + own)
    labels = rng.permutation(np.arange(total) % classes)
    images = rng.random((total, c, h, w), dtype=np.float32)
    images -= np.float32(0.5)
    images *= np.float32(SYNTHETIC_NOISE)
    images += prototypes[labels]
    np.clip(images, 0.0, 1.0, out=images)
    # a dark background, as in Fashion-MNIST (about half its pixels are 0)
    images *= (smooth[0] > np.float32(0.5))
    labels = labels.astype(np.float32)
    return ImageData("synthetic", images[:num_examples], labels[:num_examples],
                     images[num_examples:], labels[num_examples:], classes)


# --- digits at LeNet's size (the lenet task) -----------------------------------------------------------------------

def _linear_resize_matrix(src: int, dst: int) -> np.ndarray:
    """``(dst, src)`` weights of linear interpolation between pixel centres (edges held)."""
    pos = np.clip((np.arange(dst) + 0.5) * src / dst - 0.5, 0, src - 1)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, src - 1)
    weights = np.zeros((dst, src))
    np.add.at(weights, (np.arange(dst), lo), 1 - (pos - lo))
    np.add.at(weights, (np.arange(dst), hi), pos - lo)
    return weights


def to_mnist_frame(images: np.ndarray, box: int = 20, size: int = 28) -> np.ndarray:
    """``(n, C, h, w)`` images scaled (bilinear) into a ``box``-pixel square centred in a ``size``-pixel frame.

    MNIST's layout: its digits fill a 20x20 box centred in 28x28.  LeNet (d2l 5.5) needs 28x28 input, and the
    bundled 8x8 digits only become that by resizing: the same strokes at lower detail, no new information.
    """
    n, c, h, w = images.shape
    rows, cols = _linear_resize_matrix(h, box), _linear_resize_matrix(w, box)
    scaled = np.einsum("ih,nchw,jw->ncij", rows, images, cols).astype(np.float32)
    out = np.zeros((n, c, size, size), dtype=np.float32)
    at = (size - box) // 2
    out[:, :, at:at + box, at:at + box] = np.clip(scaled, 0.0, 1.0)
    return out


def digits_28(data: ImageData) -> ImageData:
    """The digits split with every image in :func:`to_mnist_frame` (1x28x28)."""
    return ImageData(data.name, to_mnist_frame(data.train_images), data.train_labels,
                     to_mnist_frame(data.test_images), data.test_labels, data.classes)


# --- dispatch -----------------------------------------------------------------------------------------------------

def _first(data: ImageData, num_examples: int | None) -> ImageData:
    """``data`` with its training split cut to the first ``num_examples`` (all of it when None)."""
    n = len(data.train_labels)
    if num_examples is None:
        return data
    if not 1 <= num_examples <= n:
        raise HarnessError(f"--num-examples {num_examples} is out of range for {data.name}: "
                           f"its training split has {n} examples (valid: 1..{n})")
    return ImageData(data.name, data.train_images[:num_examples], data.train_labels[:num_examples],
                     data.test_images, data.test_labels, data.classes)


def load(name: str, data_dir: str | None = None, num_examples: int | None = None, seed: int = 0) -> ImageData:
    """The data set ``name`` (one of ``DATASETS``).

    ``data_dir`` is where Fashion-MNIST's files are (default $MXNET_HOME/datasets/fashion-mnist);
    ``num_examples`` is the synthetic training-set size (default 60,000), or for a real data set the first that
    many training examples (default all); ``seed`` draws the synthetic images (real splits are fixed).
    """
    if data_dir is not None and name != "fashion-mnist":
        raise HarnessError(f"--data-dir is where fashion-mnist's files are; --dataset {name} reads none (drop it)")
    if name == "digits":
        return _first(load_digits(), num_examples)
    if name == "fashion-mnist":
        return _first(load_fashion_mnist(data_dir), num_examples)
    if name == "synthetic":
        return synthetic_images(60000 if num_examples is None else num_examples, seed=seed)
    raise HarnessError(f"unknown dataset {name!r}; valid: {', '.join(DATASETS)}")


# ---- regression data for chapter 7 (优化算法) -------------------------------------------------

#: ``linreg --dataset``: the seed's synthetic data, the book's airfoil file, or scikit-learn's bundled diabetes data
REGRESSION_DATASETS = ("synthetic", "airfoil", "diabetes")
AIRFOIL_FILE = "airfoil_self_noise.dat"
AIRFOIL_ROWS = 1500  # get_data_ch7 keeps the first 1,500 of the file's 1,503 rows


@dataclass(frozen=True)
class RegressionData:
    """Features ``(n, d)`` and targets ``(n,)``, float32, each column standardised."""

    name: str
    features: np.ndarray
    labels: np.ndarray


def standardize(data: np.ndarray) -> np.ndarray:
    """``(data - data.mean(axis=0)) / data.std(axis=0)``, as ``d2l.get_data_ch7`` does."""
    return (data - data.mean(axis=0)) / data.std(axis=0)


def load_airfoil(path: str) -> RegressionData:
    """NASA's airfoil self-noise data as d2l's ``get_data_ch7`` reads it: ``np.genfromtxt(path, delimiter='\\t')``,
    every column standardised, the first 1,500 rows, the last column the target."""
    if not os.path.isfile(path):
        raise HarnessError(f"airfoil data: no file {path} (give --data-dir, the directory holding {AIRFOIL_FILE}; "
                           "it is never downloaded)")
    try:
        data = np.genfromtxt(path, delimiter='\t', dtype=np.float64, invalid_raise=True)
    except ValueError as exc:
        raise HarnessError(f"airfoil data: {path} is not a tab-separated table of numbers: "
                           f"{str(exc).splitlines()[0]}") from exc
    if data.ndim != 2 or data.shape[1] < 2 or np.isnan(data).any():
        raise HarnessError(f"airfoil data: {path} must hold rows of tab-separated numbers, features then the target")
    if (data.std(axis=0) == 0).any():
        raise HarnessError(f"airfoil data: {path} has a constant column, which cannot be standardised")
    data = standardize(data)[:AIRFOIL_ROWS]
    return RegressionData("airfoil", data[:, :-1].astype(np.float32), data[:, -1].astype(np.float32))


def load_diabetes() -> RegressionData:
    """scikit-learn's bundled diabetes data (442 x 10, no download): a real regression set of the airfoil's
    shape class (hundreds of rows, a handful of features), standardised the same way."""
    from sklearn.datasets import load_diabetes as sklearn_diabetes

    bunch = sklearn_diabetes()
    data = standardize(np.column_stack([bunch.data, bunch.target]).astype(np.float64))
    return RegressionData("diabetes", data[:, :-1].astype(np.float32), data[:, -1].astype(np.float32))


def load_regression(name: str, data_dir: str | None = None) -> RegressionData:
    """A regression data set by name (not ``synthetic``, which the task draws itself)."""
    if name == "airfoil":
        return load_airfoil(os.path.join(data_dir or os.getcwd(), AIRFOIL_FILE))
    if name == "diabetes":
        return load_diabetes()
    raise HarnessError(f"unknown regression data set {name!r}; valid: {', '.join(REGRESSION_DATASETS)}")
