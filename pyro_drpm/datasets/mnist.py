"""MNIST or Fashion-MNIST from files the user already has; nothing is downloaded.

Either the four IDX files of the original distribution (optionally gzipped) or one ``.npz`` archive with
``x_train, y_train, x_test, y_test`` (the layout of ``keras.datasets``). Pixels are scaled to ``[0, 1]`` and
images flattened to 784 features.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np

__all__ = ["IDX_FILES", "NPZ_NAMES", "load_mnist", "read_idx"]

#: The IDX file names of MNIST and Fashion-MNIST (both use the same names); ``.gz`` versions are accepted too.
IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
#: Archive names looked for when ``path`` is a folder without IDX files.
NPZ_NAMES = ("mnist.npz", "fashion_mnist.npz", "fashion-mnist.npz")
_SPLITS = ("train", "test", "all")
_IDX_DTYPES = {0x08: np.uint8, 0x09: np.int8, 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path) -> np.ndarray:
    """Read one IDX file (the MNIST container format), gzipped or not, into a numpy array.

    :raises ValueError: if the header is not a valid IDX header or the payload has the wrong size.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        data = handle.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise ValueError(f"{path} is not an IDX file (bad magic number {data[:4].hex()})")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(f"{path}: truncated IDX header")
    shape = tuple(int.from_bytes(data[4 + 4 * d : 8 + 4 * d], "big") for d in range(ndim))
    dtype = np.dtype(_IDX_DTYPES[data[2]])
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) - header != expected:
        raise ValueError(f"{path}: IDX payload has {len(data) - header} bytes, header says {expected}")
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(shape)


def _find_idx(folder: Path, name: str) -> Path | None:
    for candidate in (folder / name, folder / (name + ".gz")):
        if candidate.is_file():
            return candidate
    return None


def _expected_files_message(path: Path) -> str:
    idx = ", ".join(f"{n}[.gz]" for pair in IDX_FILES.values() for n in pair)
    return (
        f"no MNIST / Fashion-MNIST files found at {path}. Expected either a folder holding the IDX files "
        f"{idx}, or an .npz archive (a file, or a folder holding one of {', '.join(NPZ_NAMES)}) with arrays "
        "x_train, y_train, x_test, y_test. pyro_drpm never downloads data: fetch the files yourself."
    )


def _load_split_idx(folder: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    image_name, label_name = IDX_FILES[split]
    image_path, label_path = _find_idx(folder, image_name), _find_idx(folder, label_name)
    missing = [n for n, p in ((image_name, image_path), (label_name, label_path)) if p is None]
    if missing:
        raise FileNotFoundError(
            f"{folder}: missing {', '.join(m + '[.gz]' for m in missing)} for the {split!r} split. "
            + _expected_files_message(folder)
        )
    return read_idx(image_path), read_idx(label_path)


def _load_split_npz(archive: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    with np.load(archive) as data:
        keys = (f"x_{split}", f"y_{split}")
        missing = [k for k in keys if k not in data.files]
        if missing:
            raise ValueError(
                f"{archive} lacks the arrays {missing}; expected x_train, y_train, x_test, y_test "
                f"(found {sorted(data.files)})"
            )
        return np.asarray(data[keys[0]]), np.asarray(data[keys[1]])


def load_mnist(path, split: str = "train"):
    """MNIST or Fashion-MNIST from a local path, as float32 features in ``[0, 1]`` and int64 labels.

    :param path: a folder with the IDX files (names in :data:`IDX_FILES`, optionally ``.gz``), a folder with an
        ``.npz`` archive named as in :data:`NPZ_NAMES`, or the ``.npz`` file itself.
    :param split: ``"train"`` (60000 images), ``"test"`` (10000) or ``"all"`` (both, train first).
    :returns: ``(X, y)``, ``X`` of shape ``(N, 784)``.
    :raises FileNotFoundError: if the files are absent (the message names the expected files).
    :raises ValueError: for an unknown split or malformed files.
    """
    if split not in _SPLITS:
        raise ValueError(f"unknown split {split!r}; expected one of {_SPLITS}")
    path = Path(path).expanduser()
    if not path.exists():
        raise FileNotFoundError(_expected_files_message(path))
    splits = ("train", "test") if split == "all" else (split,)
    if path.is_file():
        if path.suffix != ".npz":
            raise ValueError(f"{path}: expected a folder of IDX files or an .npz archive")
        loaded = [_load_split_npz(path, s) for s in splits]
    elif any(_find_idx(path, n) for pair in IDX_FILES.values() for n in pair):
        loaded = [_load_split_idx(path, s) for s in splits]
    else:
        archives = [path / n for n in NPZ_NAMES if (path / n).is_file()]
        if not archives:
            raise FileNotFoundError(_expected_files_message(path))
        loaded = [_load_split_npz(archives[0], s) for s in splits]
    images = np.concatenate([x for x, _ in loaded])
    labels = np.concatenate([y for _, y in loaded])
    if images.ndim < 2 or images.shape[0] != labels.shape[0] or labels.ndim != 1:
        raise ValueError(
            f"{path}: images {images.shape} and labels {labels.shape} do not match (expected (N, 28, 28) and (N,))"
        )
    X = images.reshape(images.shape[0], -1).astype(np.float32)
    if X.size and X.max() > 1.0:
        X /= 255.0
    return X, labels.astype(np.int64)
