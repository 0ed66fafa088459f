"""Image datasets: shapes, ranges, labels, splits, reproducible sampling, offline errors.

Everything runs offline. The torchvision-backed datasets read tiny files written here in the
exact on-disk formats of the official files (IDX files for MNIST/Fashion-MNIST, read by
torchvision's real code; pickled batches for CIFAR-10, also as Python 2 wrote them); the "no
network" tests make a real download attempt (this machine has none).
"""

from __future__ import annotations

import gzip
import io
import os
import pickle
import shlex
import signal
import socket
import struct
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganbench import ConfigError, DataSpec
from ganbench.builtins import image_datasets as images_mod
from ganbench.builtins.image_datasets import (
    cifar10,
    digits,
    digits_split,
    digits_split_indices,
    fashion_mnist,
    mnist,
    stacked_digits,
)
from ganbench.builtins.image_folder import image_folder
from ganbench.config.grid import expand, parse_grid
from ganbench.data import InMemoryDataset, prepare_images, resize, to_unit_range
from ganbench.registry import get_registry
from ganbench.training.trainer import train
from tests.test_cli_errors import assert_one_error_line

CPU = torch.device("cpu")


def gen(seed: int = 0, device: torch.device = CPU) -> torch.Generator:
    return torch.Generator(device).manual_seed(seed)


def one_line_config_error(excinfo) -> str:
    assert type(excinfo.value) is ConfigError
    message = str(excinfo.value)
    assert "\n" not in message and message
    return message


@pytest.fixture
def short_socket_timeout():
    """A download attempt that cannot connect fails within seconds instead of hanging."""
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(3.0)
    yield
    socket.setdefaulttimeout(old)


def network_reachable() -> bool:
    try:
        socket.create_connection(("ossci-datasets.s3.amazonaws.com", 443), timeout=2).close()
    except OSError:
        return False
    return True


# ---------------------------------------------------------------------------- files in torchvision's formats

def write_idx(path: Path, array: np.ndarray, gz: bool = False) -> None:
    """An IDX file (big-endian magic 0x0000 08 <ndim>, big-endian dims, then uint8 data)."""
    assert array.dtype == np.uint8
    payload = struct.pack(">I", 0x0800 | array.ndim)
    payload += b"".join(struct.pack(">I", d) for d in array.shape) + array.tobytes()
    if gz:
        path = path.with_name(path.name + ".gz")
        payload = gzip.compress(payload)
    path.write_bytes(payload)


def fake_mnist(base: Path, folder: str, gz: bool = False) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Train (12 images) and test (5) splits in ``base/<folder>/raw`` as torchvision reads them."""
    raw = base / folder / "raw"
    raw.mkdir(parents=True)
    rng = np.random.RandomState(7)
    splits = {}
    for prefix, n in (("train", 12), ("t10k", 5)):
        pixels = rng.randint(0, 256, size=(n, 28, 28)).astype(np.uint8)
        pixels[0, 0, 0], pixels[0, 0, 1] = 0, 255
        labels = (np.arange(n) % 10).astype(np.uint8)
        write_idx(raw / f"{prefix}-images-idx3-ubyte", pixels, gz)
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", labels, gz)
        splits["train" if prefix == "train" else "test"] = (pixels, labels)
    return splits


def python3_dump(obj: object, file) -> None:
    pickle.dump(obj, file, protocol=2)


class Python2Pickler(pickle._Pickler):
    """Writes what Python 2's cPickle wrote for the official CIFAR-10 batches: protocol 2, every
    ``str``/``bytes`` as a Python 2 string (``U``/``T`` opcodes, read back as ``str`` with
    ``encoding="latin1"``), numpy arrays via ``numpy.core.multiarray._reconstruct``."""

    dispatch = pickle._Pickler.dispatch.copy()

    def save_python2_string(self, obj: str | bytes) -> None:
        data = obj.encode("latin1") if isinstance(obj, str) else obj
        if len(data) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(data)]) + data)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(data)) + data)
        self.memoize(obj)

    dispatch[str] = dispatch[bytes] = save_python2_string


def python2_dump(obj: object, file) -> None:
    buffer = io.BytesIO()
    Python2Pickler(buffer, protocol=2).dump(obj)
    file.write(buffer.getvalue().replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n"))


def bytes_keys_dump(obj: dict, file) -> None:
    """Keys written as ``bytes`` (they stay ``bytes`` on reading, as ``b'data'``, ``b'labels'``)."""
    pickle.dump({key.encode(): value for key, value in obj.items()}, file, protocol=3)


def fake_cifar10(base: Path, per_batch: int = 3,
                 dump=python3_dump) -> dict[str, tuple[np.ndarray, list[int]]]:
    """Five train batches and a test batch in ``base/cifar-10-batches-py``: pickled dicts with
    ``data`` (uint8 rows of 1024 R, 1024 G, 1024 B values) and ``labels``, plus batches.meta,
    each written by ``dump(obj, file)``."""
    folder = base / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.RandomState(3)
    train_rows, train_labels = [], []
    for name in ["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5",
                 "test_batch"]:
        rows = rng.randint(0, 256, size=(per_batch, 3072)).astype(np.uint8)
        labels = [int(v) for v in rng.randint(0, 10, size=per_batch)]
        if name == "data_batch_1":  # first image: pure red
            rows[0] = 0
            rows[0, :1024] = 255
        with open(folder / name, "wb") as f:
            dump({"batch_label": name, "labels": labels, "data": rows,
                  "filenames": [f"{name}_{i}.png" for i in range(per_batch)]}, f)
        if name == "test_batch":
            test = (rows, labels)
        else:
            train_rows.append(rows)
            train_labels += labels
    with open(folder / "batches.meta", "wb") as f:
        dump({"label_names": ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog",
                              "horse", "ship", "truck"], "num_vis": 3072}, f)
    return {"train": (np.concatenate(train_rows), train_labels), "test": test}


# ---------------------------------------------------------------------------- InMemoryDataset, helpers

def test_to_unit_range_and_resize():
    pixels = torch.tensor([0, 51, 255], dtype=torch.uint8)
    assert torch.allclose(to_unit_range(pixels), torch.tensor([-1.0, -0.6, 1.0]))
    assert torch.allclose(to_unit_range(torch.tensor([0.0, 8.0, 16.0]), 16), torch.tensor([-1.0, 0.0, 1.0]))
    x = torch.rand(2, 3, 8, 8) * 2 - 1
    assert resize(x, 8) is x
    big = resize(x, 16)
    assert big.shape == (2, 3, 16, 16) and big.min() >= -1 and big.max() <= 1
    # antialiased shrinking averages: a 1-pixel checkerboard becomes flat grey
    board = (torch.arange(8).view(1, 8) + torch.arange(8).view(8, 1)) % 2 * 2.0 - 1
    assert resize(board.view(1, 1, 8, 8), 2).abs().max() < 0.02
    chunked = prepare_images(torch.randint(0, 256, (10, 1, 6, 6), dtype=torch.uint8), CPU, size=4, chunk=3)
    whole = prepare_images(chunked.new_zeros(0, 1, 6, 6), CPU, size=4)
    assert chunked.shape == (10, 1, 4, 4) and whole.shape == (0, 1, 4, 4)


def test_in_memory_dataset_samples_reproducibly_with_matching_labels():
    spec = DataSpec(kind="image", shape=(1, 2, 2), num_classes=5)
    images = torch.linspace(-1, 1, 5).view(5, 1, 1, 1).expand(5, 1, 2, 2)
    ds = InMemoryDataset(images, torch.arange(5), spec, CPU)
    assert len(ds) == 5 and ds.labels.dtype == torch.long
    a, b = ds.sample(64, gen(1)), ds.sample(64, gen(1))
    assert a.shape == (64, 1, 2, 2) and torch.equal(a, b)
    assert not torch.equal(a, ds.sample(64, gen(2)))
    x, y = ds.sample_labeled(64, gen(1))
    assert torch.equal(x, a)  # same indices as sample() for the same generator state
    assert torch.equal(x[:, 0, 0, 0], images[y, 0, 0, 0])
    with pytest.raises(ValueError, match="no labels"):
        InMemoryDataset(images, None, spec, CPU).sample_labeled(2, gen())
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        InMemoryDataset(images * 3, None, spec, CPU)
    with pytest.raises(ValueError, match="shape"):
        InMemoryDataset(images, torch.arange(4), spec, CPU)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_sampling_on_cuda_stays_on_the_device_without_host_sync():
    device = torch.device("cuda")
    ds = stacked_digits(None, device, count=256)
    assert ds.images.device.type == "cuda" and ds.labels.device.type == "cuda"
    g = gen(0, device)
    torch.cuda.set_sync_debug_mode("error")
    try:
        x = ds.sample(32, g)
        x2, y = ds.sample_labeled(32, g)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    assert x.device.type == "cuda" and y.device.type == "cuda" and x2.shape == (32, 3, 16, 16)
    assert torch.equal(ds.sample(16, gen(5, device)), ds.sample(16, gen(5, device)))


# ---------------------------------------------------------------------------- digits, stacked-digits

def test_digits_split_is_fixed_disjoint_and_complete():
    train_idx, test_idx = digits_split_indices("train"), digits_split_indices("test")
    assert len(train_idx) == 1438 and len(test_idx) == 359
    assert not set(train_idx) & set(test_idx)
    assert sorted(set(train_idx) | set(test_idx)) == list(range(1797))
    # pinned: changing the split would silently change what every digits benchmark measures
    assert test_idx[:8].tolist() == [4, 5, 6, 9, 14, 17, 18, 19]
    assert np.array_equal(digits_split_indices("test"), test_idx)


@pytest.mark.parametrize("size", [16, 32])
def test_digits_shapes_range_labels(size):
    from sklearn.datasets import load_digits

    for split, n in (("train", 1438), ("test", 359)):
        ds = digits(None, CPU, split=split, size=size)
        assert ds.spec == DataSpec(kind="image", shape=(1, size, size), num_classes=10)
        assert ds.images.shape == (n, 1, size, size) and ds.images.dtype == torch.float32
        assert ds.images.min() >= -1 and ds.images.max() <= 1
        assert ds.images.min() == -1  # background is exactly -1
        assert ds.labels.dtype == torch.long and set(ds.labels.tolist()) == set(range(10))
    # the test split holds exactly the digits of the pinned indices, scaled and resized
    bunch = load_digits()
    idx = digits_split_indices("test")
    expected = resize(torch.from_numpy(bunch.images[idx]).float().unsqueeze(1) / 8 - 1, size)
    assert torch.allclose(ds.images, expected, atol=1e-5)
    assert torch.equal(ds.labels, torch.from_numpy(bunch.target[idx]).long())


def test_digits_sample_reproducible_and_on_device():
    ds = digits(None, CPU)
    a = ds.sample(32, gen(3))
    assert a.device == CPU and a.shape == (32, 1, 16, 16)
    assert torch.equal(a, digits(None, CPU).sample(32, gen(3)))  # a fresh build samples the same


def test_digits_rejects_bad_params():
    for kwargs, words in (({"size": 28}, "size must be 16 or 32"), ({"split": "val"}, "split"),
                          ({"size": True}, "integer")):
        with pytest.raises(ConfigError, match=words) as excinfo:
            digits(None, CPU, **kwargs)
        assert one_line_config_error(excinfo).startswith("digits:")
    with pytest.raises(ConfigError, match="count"):
        stacked_digits(None, CPU, count=0)


def test_stacked_digits_has_1000_modes_and_labels_match_channels():
    ds = stacked_digits(None, CPU)  # default count 25,600
    assert ds.spec == DataSpec(kind="image", shape=(3, 16, 16), num_classes=1000)
    assert ds.images.shape == (25600, 3, 16, 16)
    assert ds.images.min() >= -1 and ds.images.max() <= 1
    assert ds.labels.unique().numel() == 1000  # every triple occurs
    assert torch.equal(stacked_digits(None, CPU, count=300).images, ds.images[:300])  # fixed seed
    # each channel is one train digit whose class is that decimal place of the label
    pixels, labels = digits_split("train")
    singles = prepare_images(pixels, CPU, size=16, max_value=16).flatten(1)  # (1438, 256)
    channels = ds.images[:100].reshape(300, 256)  # image 0 red, green, blue, image 1 red, ...
    match = (channels[:, None, :] == singles[None]).all(-1)  # (300, 1438): which digit it is
    assert match.any(1).all()
    places = torch.tensor([100, 10, 1]).repeat(100)
    wanted = ds.labels[:100].repeat_interleave(3) // places % 10
    for row, digit in zip(match, wanted.tolist(), strict=True):
        assert digit in labels[row].tolist()


def test_stacked_digits_size_32_and_sampling():
    ds = stacked_digits(None, CPU, count=64, size=32)
    assert ds.images.shape == (64, 3, 32, 32) and ds.spec.shape == (3, 32, 32)
    x, y = ds.sample_labeled(16, gen(0))
    assert x.shape == (16, 3, 32, 32) and y.shape == (16,) and int(y.max()) < 1000
    assert torch.equal(x, ds.sample(16, gen(0)))


# ---------------------------------------------------------------------------- torchvision-backed

@pytest.mark.parametrize("factory, folder, gz", [(mnist, "MNIST", False),
                                                 (fashion_mnist, "FashionMNIST", True)])
def test_mnist_like_reads_idx_files(tmp_path, factory, folder, gz):
    truth = fake_mnist(tmp_path, folder, gz=gz)  # fashion: only .gz files, extracted on load
    for split in ("train", "test"):
        pixels, labels = truth[split]
        ds = factory(tmp_path, CPU, split=split, download=False)
        assert ds.spec == DataSpec(kind="image", shape=(1, 28, 28), num_classes=10)
        assert torch.allclose(ds.images[:, 0], torch.from_numpy(pixels).float() / 127.5 - 1, atol=1e-6)
        assert ds.images[0, 0, 0, 0] == -1 and ds.images[0, 0, 0, 1] == 1
        assert torch.equal(ds.labels, torch.from_numpy(labels).long())
    small = factory(tmp_path, CPU, size=14, download=True)  # files present: no download attempt
    assert small.images.shape == (12, 1, 14, 14) and small.images.abs().max() <= 1
    assert torch.equal(small.sample(8, gen(4)), small.sample(8, gen(4)))


def test_mnist_corrupt_gz_is_one_config_error(tmp_path):
    fake_mnist(tmp_path, "MNIST", gz=True)
    raw = tmp_path / "MNIST" / "raw"
    (raw / "t10k-labels-idx1-ubyte.gz").write_bytes(b"truncated")
    with pytest.raises(ConfigError, match="cannot extract .*t10k-labels-idx1-ubyte.gz") as excinfo:
        mnist(tmp_path, CPU, download=False)
    one_line_config_error(excinfo)
    assert not list(raw.glob(".*partial"))  # no half-written file left behind
    assert (raw / "train-images-idx3-ubyte").is_file()  # the good ones were extracted


def test_mnist_explicit_path_overrides_root(tmp_path):
    fake_mnist(tmp_path / "elsewhere", "MNIST")
    ds = mnist(tmp_path / "empty-root", CPU, path=str(tmp_path / "elsewhere"), download=False)
    assert len(ds) == 12
    with pytest.raises(ConfigError, match="change path") as excinfo:
        mnist(tmp_path, CPU, path=str(tmp_path / "nothing"), download=False)
    assert str(tmp_path / "nothing" / "MNIST" / "raw") in one_line_config_error(excinfo)


def test_cifar10_reads_python_batches(tmp_path):
    truth = fake_cifar10(tmp_path)
    ds = cifar10(tmp_path, CPU, download=False)
    assert ds.spec == DataSpec(kind="image", shape=(3, 32, 32), num_classes=10)
    rows, labels = truth["train"]
    assert ds.images.shape == (15, 3, 32, 32)
    expected = torch.from_numpy(rows).view(15, 3, 32, 32).float() / 127.5 - 1
    assert torch.allclose(ds.images, expected, atol=1e-6)
    assert ds.labels.tolist() == labels
    red = ds.images[0]
    assert (red[0] == 1).all() and (red[1:] == -1).all()
    test = cifar10(tmp_path, CPU, split="test", size=16)
    assert test.images.shape == (3, 3, 16, 16) and test.labels.tolist() == truth["test"][1]
    assert torch.equal(test.sample(8, gen(1)), test.sample(8, gen(1)))


def test_cifar10_malformed_files_are_one_config_error(tmp_path):
    fake_cifar10(tmp_path)
    (tmp_path / "cifar-10-batches-py" / "data_batch_3").write_bytes(b"not a pickle")
    with pytest.raises(ConfigError, match="could not be read") as excinfo:
        cifar10(tmp_path, CPU)
    assert "cifar-10-batches-py" in one_line_config_error(excinfo)
    (tmp_path / "cifar-10-batches-py" / "batches.meta").unlink()
    with pytest.raises(ConfigError, match="missing batches.meta"):
        cifar10(tmp_path, CPU, download=False)


@pytest.mark.parametrize("dump", [python2_dump, bytes_keys_dump])
def test_cifar10_reads_batches_written_like_the_official_ones(tmp_path, dump):
    truth = fake_cifar10(tmp_path, dump=dump)
    for split, n in (("train", 15), ("test", 3)):
        rows, labels = truth[split]
        ds = cifar10(tmp_path, CPU, split=split, download=False)
        expected = torch.from_numpy(rows).view(n, 3, 32, 32).float() / 127.5 - 1
        assert torch.allclose(ds.images, expected, atol=1e-6)
        assert ds.labels.tolist() == labels


CIFAR_FILES = ["data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5",
               "test_batch", "batches.meta"]


class RunsShell:
    """Unpickling this runs ``touch MARKER``: what a tampered CIFAR-10 batch can do."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {shlex.quote(str(self.marker))}",)


@pytest.mark.parametrize("hostile", CIFAR_FILES)
def test_cifar10_never_unpickles_code(tmp_path, hostile):
    fake_cifar10(tmp_path)
    marker = tmp_path / "PWNED"
    (tmp_path / "cifar-10-batches-py" / hostile).write_bytes(pickle.dumps(RunsShell(marker), protocol=2))
    with pytest.raises(ConfigError) as excinfo:
        cifar10(tmp_path, CPU, split="test" if hostile == "test_batch" else "train", download=False)
    message = one_line_config_error(excinfo)
    assert not marker.exists()
    path = tmp_path / "cifar-10-batches-py" / hostile
    assert f"{path} could not be read: it is not a genuine CIFAR-10 batch" in message
    assert "os.system" in message or "posix.system" in message
    assert "cifar-10-python.tar.gz" in message


def test_tampered_cifar10_folder_runs_no_code_from_the_cli(tmp_path, cli):
    folder = tmp_path / "data" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    marker = tmp_path / "PWNED"
    for name in CIFAR_FILES:
        (folder / name).write_bytes(pickle.dumps(RunsShell(marker), protocol=2))
    (tmp_path / "g.toml").write_text('name = "tampered"\nsteps = 1\nbatch_size = 8\n'
                                     'dataset = { name = "cifar10", download = false, path = "data" }\n')
    proc = cli("prefetch", "g.toml", cwd=tmp_path)
    assert not marker.exists()
    assert_one_error_line(proc, "data_batch_1 could not be read: it is not a genuine CIFAR-10 batch")
    # `run` records a dataset that cannot be built as that run's error (exit code 1), as for
    # any other ConfigError of a dataset
    proc = cli("run", "g.toml", "--out", "out", "--device", "cpu", "--no-report", cwd=tmp_path)
    assert not marker.exists()
    assert proc.returncode == 1 and "Traceback" not in proc.stdout + proc.stderr
    assert len(proc.stderr.splitlines()) == 1, proc.stderr  # "1 run(s) failed: ...", unwrapped
    assert "not a genuine CIFAR-10 batch" in (tmp_path / "out" / "table.csv").read_text()


@pytest.mark.parametrize("factory, folder", [(mnist, "MNIST/raw"), (fashion_mnist, "FashionMNIST/raw"),
                                             (cifar10, "cifar-10-batches-py")])
def test_missing_files_without_download_is_one_config_error(tmp_path, factory, folder):
    with pytest.raises(ConfigError) as excinfo:
        factory(tmp_path, CPU, download=False)
    message = one_line_config_error(excinfo)
    assert f"no data in {tmp_path / folder}" in message and "download = true" in message


@pytest.mark.parametrize("factory, folder", [(mnist, "MNIST/raw"), (fashion_mnist, "FashionMNIST/raw"),
                                             (cifar10, "cifar-10-batches-py")])
def test_download_without_network_is_one_config_error(tmp_path, short_socket_timeout, factory, folder):
    if network_reachable():
        pytest.skip("this machine has internet: the download would succeed")
    with pytest.raises(ConfigError) as excinfo:
        factory(tmp_path, CPU)  # download = true, the default: a real attempt that fails
    message = one_line_config_error(excinfo)
    assert f"no data in {tmp_path / folder} and download failed (no network?)" in message
    assert "--data-root DIR" in message


def test_torchvision_datasets_reject_bad_params(tmp_path):
    for factory, kwargs, words in ((mnist, {"split": "validation"}, "split"),
                                   (cifar10, {"size": 2}, "between 4 and 1024"),
                                   (fashion_mnist, {"download": "no"}, "download must be true or false"),
                                   (mnist, {"path": 3}, "path must be a folder")):
        with pytest.raises(ConfigError, match=words) as excinfo:
            factory(tmp_path, CPU, **kwargs)
        one_line_config_error(excinfo)


# ---------------------------------------------------------------------------- image-folder

def save(path: Path, image: Image.Image) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)


def test_image_folder_recurses_resizes_and_crops(tmp_path):
    wide = Image.new("RGB", (30, 10), (0, 255, 0))  # green, red middle third
    wide.paste((255, 0, 0), (10, 0, 20, 10))
    save(tmp_path / "a_wide.png", wide)
    save(tmp_path / "b" / "blue.png", Image.new("RGB", (40, 40), (0, 0, 255)))  # shrunk to 10x10
    save(tmp_path / "b" / "c" / "grey.JPG", Image.new("L", (10, 25), 255))  # nested, upper case
    save(tmp_path / "b" / ".hidden" / "skip.png", Image.new("RGB", (10, 10)))
    save(tmp_path / "._resource-fork.png", Image.new("RGB", (10, 10)))
    (tmp_path / "notes.txt").write_text("not an image")

    ds = image_folder(None, CPU, path=str(tmp_path), size=10)
    assert ds.spec == DataSpec(kind="image", shape=(3, 10, 10), num_classes=0)
    assert ds.labels is None and ds.images.shape == (3, 3, 10, 10)
    wide_, blue, grey = ds.images  # sorted by path: a_wide.png, b/blue.png, b/c/grey.JPG
    assert torch.equal(wide_, torch.tensor([1.0, -1.0, -1.0]).view(3, 1, 1).expand(3, 10, 10))  # centre crop
    assert torch.equal(blue, torch.tensor([-1.0, -1.0, 1.0]).view(3, 1, 1).expand(3, 10, 10))
    assert (grey - 1).abs().max() < 0.02  # white JPEG, grey converted to RGB
    assert ds.sample(5, gen(0)).shape == (5, 3, 10, 10)

    one = image_folder(None, CPU, path=str(tmp_path), size=6, channels=1)
    assert one.images.shape == (3, 1, 6, 6) and one.spec.shape == (1, 6, 6)
    assert one.images.min() >= -1 and one.images.max() <= 1


def test_image_folder_subfolders_are_classes_when_every_image_is_in_one(tmp_path):
    for cls, colour in (("cats", (255, 0, 0)), ("dogs", (0, 255, 0)), ("birds", (0, 0, 255))):
        for i in range(2):
            save(tmp_path / cls / f"{i}.png", Image.new("RGB", (8, 8), colour))
    save(tmp_path / "dogs" / "puppies" / "p.png", Image.new("RGB", (8, 8), (0, 255, 0)))
    ds = image_folder(None, CPU, path=str(tmp_path), size=8)
    assert ds.spec.num_classes == 3  # birds, cats, dogs: sorted; dogs/puppies is a dog
    assert ds.labels.tolist() == [0, 0, 1, 1, 2, 2, 2]
    x, y = ds.sample_labeled(50, gen(0))
    green = torch.tensor([-1.0, 1.0, -1.0]).view(3, 1, 1)
    is_green = [torch.equal(img, green.expand(3, 8, 8)) for img in x]
    assert is_green == (y == 2).tolist()
    save(tmp_path / "loose.png", Image.new("RGB", (8, 8)))  # one image outside: no classes
    ds = image_folder(None, CPU, path=str(tmp_path), size=8)
    assert ds.spec.num_classes == 0 and ds.labels is None


def test_image_folder_errors_are_one_line(tmp_path):
    cases = [({}, "set path"), ({"path": str(tmp_path / "missing")}, "is not a folder"),
             ({"path": str(tmp_path)}, "no png/jpg/jpeg/bmp/webp images"),
             ({"path": str(tmp_path), "channels": 2}, "channels must be 1")]
    for kwargs, words in cases:
        with pytest.raises(ConfigError, match=words) as excinfo:
            image_folder(None, CPU, **kwargs)
        assert one_line_config_error(excinfo).startswith("image-folder:")
    (tmp_path / "broken.png").write_bytes(b"garbage")
    with pytest.raises(ConfigError, match="cannot read .*broken.png") as excinfo:
        image_folder(None, CPU, path=str(tmp_path))
    one_line_config_error(excinfo)


class StillRunning(Exception):  # not TimeoutError: os.walk swallows OSErrors
    pass


def fail_after(seconds: int):
    """Raise StillRunning in this (the main) thread after ``seconds``, so a hang fails the test."""
    def give_up(signum, frame):
        raise StillRunning(f"still running after {seconds} s")

    signal.signal(signal.SIGALRM, give_up)
    signal.alarm(seconds)


def test_image_folder_with_symlink_loops_finds_each_image_once(tmp_path):
    save(tmp_path / "only.png", Image.new("RGB", (8, 8), (255, 0, 0)))
    (tmp_path / "a").symlink_to(".", target_is_directory=True)
    (tmp_path / "b").symlink_to(".", target_is_directory=True)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "up").symlink_to("..", target_is_directory=True)
    start = time.perf_counter()
    fail_after(10)
    try:
        ds = image_folder(None, CPU, path=str(tmp_path), size=8)
    finally:
        signal.alarm(0)
    assert time.perf_counter() - start < 1.0
    assert ds.images.shape == (1, 3, 8, 8)
    assert torch.equal(ds.images[0], torch.tensor([1.0, -1.0, -1.0]).view(3, 1, 1).expand(3, 8, 8))


# ---------------------------------------------------------------------------- registry and trainer

def test_registered_with_json_defaults():
    registry = get_registry(autoload=False)
    defaults = {
        "digits": {"split": "train", "size": 16},
        "stacked-digits": {"count": 25600, "size": 16},
        "mnist": {"split": "train", "size": 28, "download": True, "path": None},
        "fashion-mnist": {"split": "train", "size": 28, "download": True, "path": None},
        "cifar10": {"split": "train", "size": 32, "download": True, "path": None},
        "image-folder": {"path": None, "size": 64, "channels": 3},
    }
    for name, params in defaults.items():
        component = registry.get("dataset", name)
        assert component.resolve_params({}, ("root", "device")) == params
        assert component.summary
    assert images_mod.__name__ in {c.plugin for c in registry.components("dataset")}


def test_digits_trains_end_to_end_with_mlp():
    grid = {
        "name": "digits-smoke",
        "dataset": {"name": "digits", "size": 16},
        "steps": 5,
        "batch_size": 8,
        "log_every": 5,
        "latent_dim": 8,
        "generator": {"name": "mlp", "width": 16, "depth": 1},
        "discriminator": {"name": "mlp", "width": 16, "depth": 1},
        "evaluation": {"metrics": [], "samples": 16},
    }
    registry = get_registry(autoload=False)
    (spec,) = expand(parse_grid(grid, "test-grid"), registry)
    assert spec.config["dataset"] == {"name": "digits", "params": {"split": "train", "size": 16}}
    result = train(spec.config, registry, CPU)
    assert result.status == "ok" and result.steps_done == 5
    assert result.samples.shape[1:] == (1, 16, 16)
    assert [row["step"] for row in result.history] == [5]
