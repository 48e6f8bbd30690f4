"""harness.tasks.datasets: digits, Fashion-MNIST through MXNet's reader on idx files written here, synthetic images,
the memory guard and the dispatcher."""
import gzip
import hashlib
import socket
import struct

import mxnet.gluon.data.vision.datasets as mx_datasets
import mxnet.gluon.utils as mx_utils
import numpy as np
import pytest

from harness.errors import HarnessError
from harness.tasks import datasets

FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
         "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


# --- digits -------------------------------------------------------------------------------------------------------

def test_digits_shapes_ranges_and_stratified_split():
    data = datasets.load_digits()
    assert data.name == "digits" and data.classes == 10 and data.num_inputs == 64
    assert data.train_images.shape == (1437, 1, 8, 8) and data.test_images.shape == (360, 1, 8, 8)
    for arr in (data.train_images, data.train_labels, data.test_images, data.test_labels):
        assert arr.dtype == np.float32
    assert data.train_images.min() == 0.0 and data.train_images.max() == 1.0  # 0..16 divided by 16
    assert data.test_images.min() >= 0.0 and data.test_images.max() <= 1.0
    # stratified: every class keeps its ~20% share of the test split
    train_counts = np.bincount(data.train_labels.astype(int), minlength=10)
    test_counts = np.bincount(data.test_labels.astype(int), minlength=10)
    assert train_counts.sum() + test_counts.sum() == 1797
    assert np.all(np.abs(test_counts / (train_counts + test_counts) - 0.2) < 0.01)
    # all 1,797 images, none in both splits
    flat = np.concatenate([data.train_images, data.test_images]).reshape(1797, -1)
    from sklearn.datasets import load_digits
    assert sorted(map(bytes, flat * 16)) == sorted(map(bytes, load_digits().data.astype(np.float32)))


def test_digits_split_is_fixed():
    a, b = datasets.load_digits(), datasets.load_digits()
    assert np.array_equal(a.train_images, b.train_images) and np.array_equal(a.test_labels, b.test_labels)
    # independent of the run's seed
    c = datasets.load("digits", seed=7)
    assert np.array_equal(a.test_images, c.test_images)


# --- Fashion-MNIST ------------------------------------------------------------------------------------------------

def _write_idx(path, magic, array):
    header = struct.pack(">II", magic, array.shape[0]) + b"".join(struct.pack(">I", d) for d in array.shape[1:])
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def _sha1(path):
    return hashlib.sha1(path.read_bytes()).hexdigest()


@pytest.fixture
def fmnist(tmp_path, monkeypatch):
    """20 train and 10 test 28x28 images as idx files, with the SHA-1 table pointing at them."""
    rng = np.random.RandomState(0)
    arrays = {
        "train-images-idx3-ubyte.gz": (2051, rng.randint(0, 256, (20, 28, 28))),
        "train-labels-idx1-ubyte.gz": (2049, rng.randint(0, 10, 20)),
        "t10k-images-idx3-ubyte.gz": (2051, rng.randint(0, 256, (10, 28, 28))),
        "t10k-labels-idx1-ubyte.gz": (2049, rng.randint(0, 10, 10)),
    }
    for name, (magic, array) in arrays.items():
        _write_idx(tmp_path / name, magic, array)
        monkeypatch.setitem(datasets.FASHION_MNIST_SHA1, name, _sha1(tmp_path / name))
    return tmp_path, {name: array for name, (_, array) in arrays.items()}


@pytest.fixture
def no_network(monkeypatch):
    """Record and refuse every download MXNet would start and every socket connection."""
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise RuntimeError("network access attempted")

    monkeypatch.setattr(mx_utils.requests, "get", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    return attempts


def test_fashion_mnist_through_mxnets_reader(fmnist, no_network, monkeypatch):
    root, arrays = fmnist
    reads = []
    real_get_data = mx_datasets.MNIST._get_data
    monkeypatch.setattr(mx_datasets.MNIST, "_get_data", lambda self: reads.append(self._train) or real_get_data(self))
    data = datasets.load_fashion_mnist(str(root))
    assert reads == [True, False]  # MXNet's own reader parsed both splits
    assert no_network == []
    assert data.name == "fashion-mnist" and data.num_inputs == 784
    assert data.train_images.shape == (20, 1, 28, 28) and data.test_images.shape == (10, 1, 28, 28)
    assert data.train_images.dtype == np.float32 and data.train_labels.dtype == np.float32
    np.testing.assert_array_equal(data.train_images[:, 0],
                                  arrays["train-images-idx3-ubyte.gz"].astype(np.float32) / 255)
    np.testing.assert_array_equal(data.test_images[:, 0],
                                  arrays["t10k-images-idx3-ubyte.gz"].astype(np.float32) / 255)
    np.testing.assert_array_equal(data.train_labels, arrays["train-labels-idx1-ubyte.gz"])
    np.testing.assert_array_equal(data.test_labels, arrays["t10k-labels-idx1-ubyte.gz"])
    # through the dispatcher, cut to the first examples
    cut = datasets.load("fashion-mnist", data_dir=str(root), num_examples=5)
    assert cut.train_images.shape == (5, 1, 28, 28) and cut.test_images.shape == (10, 1, 28, 28)


def test_mxnets_own_dataset_would_download(tmp_path, no_network):
    """Why the files are checked first: MXNet's FashionMNIST downloads whatever it does not find."""
    with pytest.raises(RuntimeError, match="network access attempted"):
        mx_datasets.FashionMNIST(root=str(tmp_path))
    assert no_network


def test_official_hashes_match_mxnet():
    class Probe(mx_datasets.FashionMNIST):
        def _get_data(self):
            pass

    probe = Probe(root="/nonexistent-not-created")  # never read: _get_data is a no-op
    official = dict([probe._train_data, probe._train_label, probe._test_data, probe._test_label])
    assert datasets.FASHION_MNIST_SHA1 == official


@pytest.mark.parametrize("missing", [FILES, FILES[2:3]])
def test_fashion_mnist_missing_files(fmnist, no_network, missing):
    root, _ = fmnist
    for name in missing:
        (root / name).unlink()
    with pytest.raises(HarnessError) as err:
        datasets.load("fashion-mnist", data_dir=str(root))
    message = str(err.value)
    assert "\n" not in message and str(root) in message and "--data-dir" in message and "MXNET_HOME" in message
    assert all(name in message for name in FILES)
    assert "missing: " + ", ".join(missing) in message and "digits" in message
    assert no_network == []


def test_fashion_mnist_wrong_bytes(fmnist, no_network):
    root, _ = fmnist
    path = root / "t10k-labels-idx1-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-3])  # truncated: SHA-1 no longer the expected one
    with pytest.raises(HarnessError, match=r"t10k-labels-idx1-ubyte\.gz is corrupt: SHA-1") as err:
        datasets.load_fashion_mnist(str(root))
    assert "\n" not in str(err.value)
    assert no_network == []


def test_fashion_mnist_official_hashes_reject_other_files(fmnist, no_network, monkeypatch):
    root, _ = fmnist
    monkeypatch.setattr(datasets, "FASHION_MNIST_SHA1", dict(zip(FILES, (
        "0cf37b0d40ed5169c6b3aba31069a9770ac9043d", "236021d52f1e40852b06a4c3008d8de8aef1e40b",
        "626ed6a7c06dd17c0eec72fa3be1740f146a2863", "17f9ab60e7257a1620f4ad76bbbaf857c3920701"))))
    with pytest.raises(HarnessError, match=r"train-images-idx3-ubyte\.gz is corrupt"):
        datasets.load_fashion_mnist(str(root))
    assert no_network == []


@pytest.mark.parametrize("content, problem", [
    (b"this is not gzip at all", "not a valid gzip file"),
    (gzip.compress(struct.pack(">IIII", 2049, 20, 28, 28)), "not an idx file"),  # label magic in an image file
    (gzip.compress(struct.pack(">IIII", 2051, 20, 32, 32)), "images are 32x32, expected 28x28"),
])
def test_fashion_mnist_invalid_gzip_or_idx(fmnist, no_network, monkeypatch, content, problem):
    root, _ = fmnist
    path = root / "train-images-idx3-ubyte.gz"
    path.write_bytes(content)
    monkeypatch.setitem(datasets.FASHION_MNIST_SHA1, path.name, _sha1(path))  # the hash alone would pass it
    with pytest.raises(HarnessError, match=r"train-images-idx3-ubyte\.gz is corrupt: " + problem):
        datasets.load_fashion_mnist(str(root))
    assert no_network == []


def test_fashion_mnist_truncated_data_caught_from_mxnets_reader(fmnist, no_network, monkeypatch):
    root, arrays = fmnist
    path = root / "t10k-images-idx3-ubyte.gz"
    _write_idx(path, 2051, arrays[path.name][:, :, :27])  # header says 28 columns, data is short
    with gzip.open(path, "rb") as f:
        raw = f.read()
    with gzip.open(path, "wb") as f:  # a valid 28x28 header over too few bytes
        f.write(struct.pack(">IIII", 2051, 10, 28, 28) + raw[16:])
    monkeypatch.setitem(datasets.FASHION_MNIST_SHA1, path.name, _sha1(path))
    with pytest.raises(HarnessError, match=r"t10k-images-idx3-ubyte\.gz and t10k-labels-idx1-ubyte\.gz .* corrupt"):
        datasets.load_fashion_mnist(str(root))
    assert no_network == []


def test_fashion_mnist_mismatched_counts(fmnist, monkeypatch):
    root, arrays = fmnist
    path = root / "train-labels-idx1-ubyte.gz"
    _write_idx(path, 2049, arrays[path.name][:19])
    monkeypatch.setitem(datasets.FASHION_MNIST_SHA1, path.name, _sha1(path))
    with pytest.raises(HarnessError, match=r"\(20 images\) and train-labels-idx1-ubyte\.gz \(19 labels\)"):
        datasets.load_fashion_mnist(str(root))


def test_fashion_mnist_default_root_honours_mxnet_home(fmnist, no_network, monkeypatch, tmp_path_factory):
    root, _ = fmnist
    home = tmp_path_factory.mktemp("mxnet-home")
    monkeypatch.setenv("MXNET_HOME", str(home))
    expected = home / "datasets" / "fashion-mnist"
    assert datasets.default_fashion_mnist_root() == str(expected)
    with pytest.raises(HarnessError, match="missing") as err:
        datasets.load_fashion_mnist()
    assert str(expected) in str(err.value)
    assert not expected.exists()  # nothing created (MXNet's dataset would mkdir it)
    expected.parent.mkdir(parents=True)
    root.rename(expected)
    assert datasets.load("fashion-mnist").train_images.shape == (20, 1, 28, 28)
    assert no_network == []


# --- synthetic ----------------------------------------------------------------------------------------------------

def test_synthetic_shapes_and_determinism():
    data = datasets.synthetic_images(num_examples=600, num_test=100, seed=3)
    assert data.name == "synthetic" and data.num_inputs == 784
    assert data.train_images.shape == (600, 1, 28, 28) and data.test_images.shape == (100, 1, 28, 28)
    assert data.train_images.dtype == np.float32 and data.train_labels.dtype == np.float32
    assert data.train_images.min() >= 0.0 and data.train_images.max() <= 1.0
    both = np.concatenate([data.train_labels, data.test_labels]).astype(int)
    assert np.array_equal(np.bincount(both), [70] * 10)  # balanced overall
    again = datasets.synthetic_images(num_examples=600, num_test=100, seed=3)
    assert np.array_equal(data.train_images, again.train_images) and np.array_equal(data.test_labels, again.test_labels)
    other = datasets.synthetic_images(num_examples=600, num_test=100, seed=4)
    assert not np.array_equal(data.train_images, other.train_images)
    small = datasets.synthetic_images(num_examples=50, num_test=20, shape=(3, 10, 6), classes=4)
    assert small.train_images.shape == (50, 3, 10, 6) and small.classes == 4 and small.num_inputs == 180
    assert set(np.unique(small.train_labels)) == {0, 1, 2, 3}


def test_synthetic_book_scale_via_load():
    data = datasets.load("synthetic", seed=1)
    assert data.train_images.shape == (60000, 1, 28, 28) and data.test_images.shape == (10000, 1, 28, 28)
    assert datasets.load("synthetic", num_examples=1000).train_images.shape == (1000, 1, 28, 28)


def _softmax_regression(data, epochs, lr=0.1, batch=256):
    """The book's softmax regression in NumPy; test accuracy after the first step and after ``epochs``."""
    x, y = data.train_images.reshape(len(data.train_labels), -1), data.train_labels.astype(int)
    xt, yt = data.test_images.reshape(len(data.test_labels), -1), data.test_labels.astype(int)
    w, b = np.random.RandomState(0).normal(0, 0.01, (x.shape[1], 10)).astype(np.float32), np.zeros(10, np.float32)
    accuracy = []
    for _epoch in range(epochs):
        for i in range(0, len(y), batch):
            o = x[i:i + batch] @ w + b
            p = np.exp(o - o.max(1, keepdims=True))
            p /= p.sum(1, keepdims=True)
            p[np.arange(len(p)), y[i:i + batch]] -= 1
            w -= lr * x[i:i + batch].T @ p / len(p)
            b -= lr * p.mean(0)
            if not accuracy:
                accuracy.append(np.mean(np.argmax(xt @ w + b, 1) == yt))
    accuracy.append(np.mean(np.argmax(xt @ w + b, 1) == yt))
    return accuracy


def test_synthetic_is_learnable_but_not_trivial():
    first_step, final = _softmax_regression(datasets.synthetic_images(num_examples=20000, num_test=2000), epochs=5)
    assert first_step < 0.5
    assert 0.8 < final < 0.99


# --- memory guard and dispatch ------------------------------------------------------------------------------------

def test_check_memory(monkeypatch):
    datasets.check_memory(1024, "a small array")  # fits
    monkeypatch.setattr(datasets, "available_memory", lambda: 22 * 2**30)
    with pytest.raises(HarnessError) as err:
        datasets.check_memory(100_000_000 * 1000 * 4, "--num-examples 100000000 --num-inputs 1000 (float32 features)")
    assert str(err.value) == ("--num-examples 100000000 --num-inputs 1000 (float32 features) needs 373 GiB; "
                              "this machine has 22 GiB available")
    monkeypatch.setattr(datasets, "available_memory", lambda: None)  # unknown: no guard
    datasets.check_memory(10**15, "anything")


def test_available_memory_reads_meminfo():
    available = datasets.available_memory()
    assert available is not None and 0 < available
    with open("/proc/meminfo") as f:
        total = int(next(line for line in f if line.startswith("MemTotal:")).split()[1]) * 1024
    assert available <= total


def test_synthetic_too_large_for_memory(monkeypatch):
    monkeypatch.setattr(datasets, "available_memory", lambda: 2**30)
    with pytest.raises(HarnessError,
                       match=r"synthetic 1x28x28 images \(float32\) needs .* GiB; this machine has 1.0 GiB"):
        datasets.load("synthetic", num_examples=10**6)


@pytest.mark.parametrize("name", ["mnist", "Digits", ""])
def test_unknown_dataset(name):
    with pytest.raises(HarnessError) as err:
        datasets.load(name)
    assert str(err.value) == f"unknown dataset {name!r}; valid: digits, fashion-mnist, synthetic"


@pytest.mark.parametrize("num_examples", [0, 1438])
def test_num_examples_out_of_range_for_real_data(num_examples):
    with pytest.raises(HarnessError, match=f"--num-examples {num_examples} is out of range for digits.*1..1437"):
        datasets.load("digits", num_examples=num_examples)
