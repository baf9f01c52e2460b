"""Data loaders: digits in [0, 1]; MNIST-style IDX (plain and gzipped) and npz from a local path."""

import gzip
import struct

import numpy as np
import pytest

from pyro_drpm.datasets import load_digits_01, load_mnist, read_idx


def _write_idx(path, array, compress=False):
    array = np.asarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(struct.pack(">I", d) for d in array.shape)
    payload = header + array.tobytes()
    if compress:
        with gzip.open(str(path) + ".gz", "wb") as handle:
            handle.write(payload)
    else:
        path.write_bytes(payload)


def _fake_split(rng, n):
    return rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8), rng.integers(0, 10, size=n, dtype=np.uint8)


def test_digits_scaled_to_unit_interval():
    X, y = load_digits_01()
    assert X.shape == (1797, 64) and X.dtype == np.float32
    assert X.min() == 0.0 and X.max() == 1.0
    assert y.shape == (1797,) and set(np.unique(y)) == set(range(10))


@pytest.mark.parametrize("compress", [False, True])
def test_idx_folder(tmp_path, compress):
    rng = np.random.default_rng(0)
    train_x, train_y = _fake_split(rng, 5)
    test_x, test_y = _fake_split(rng, 3)
    _write_idx(tmp_path / "train-images-idx3-ubyte", train_x, compress)
    _write_idx(tmp_path / "train-labels-idx1-ubyte", train_y, compress)
    _write_idx(tmp_path / "t10k-images-idx3-ubyte", test_x, compress)
    _write_idx(tmp_path / "t10k-labels-idx1-ubyte", test_y, compress)
    X, y = load_mnist(tmp_path, split="train")
    assert X.shape == (5, 784) and X.dtype == np.float32
    np.testing.assert_allclose(X, train_x.reshape(5, -1) / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(y, train_y)
    X_all, y_all = load_mnist(tmp_path, split="all")
    assert X_all.shape == (8, 784) and y_all.shape == (8,)
    np.testing.assert_array_equal(y_all[5:], test_y)


def test_npz_file_and_folder(tmp_path):
    rng = np.random.default_rng(1)
    train_x, train_y = _fake_split(rng, 4)
    test_x, test_y = _fake_split(rng, 2)
    archive = tmp_path / "fashion_mnist.npz"
    np.savez(archive, x_train=train_x, y_train=train_y, x_test=test_x, y_test=test_y)
    X, y = load_mnist(archive, split="test")
    assert X.shape == (2, 784) and X.max() <= 1.0
    np.testing.assert_array_equal(y, test_y)
    X2, _ = load_mnist(tmp_path, split="test")
    np.testing.assert_array_equal(X, X2)


def test_missing_files_name_what_is_expected(tmp_path):
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte"):
        load_mnist(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="mnist.npz"):
        load_mnist(tmp_path)
    # only one of the two training files present
    _write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((1, 28, 28)))
    with pytest.raises(FileNotFoundError, match="train-labels-idx1-ubyte"):
        load_mnist(tmp_path)


def test_malformed_inputs(tmp_path):
    bad = tmp_path / "train-images-idx3-ubyte"
    bad.write_bytes(b"\x12\x34\x56\x78rest")
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(bad)
    truncated = tmp_path / "short-idx"
    truncated.write_bytes(bytes([0, 0, 8, 1]) + struct.pack(">I", 10) + b"\x00" * 3)
    with pytest.raises(ValueError, match="payload"):
        read_idx(truncated)
    archive = tmp_path / "x.npz"
    np.savez(archive, images=np.zeros(3))
    with pytest.raises(ValueError, match="lacks the arrays"):
        load_mnist(archive)
    with pytest.raises(ValueError, match="unknown split"):
        load_mnist(archive, split="validation")
