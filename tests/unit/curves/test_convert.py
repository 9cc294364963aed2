"""``optuna-sotl curves convert spikenas``: SpikeNAS-Bench's release files -> the .npz layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from optuna_sotl._cli import main
from optuna_sotl.curves import load_curves
from optuna_sotl.curves._convert import convert_spikenas
from optuna_sotl.curves._convert import SPIKENAS_EDGES
from optuna_sotl.curves._convert import SPIKENAS_OPS


# The layout of docs/data.md: key -> (dtype, rank).
LAYOUT = {
    "arch_id": (np.dtype(np.int64), 1),
    "ops": (np.dtype("<U17"), 2),
    "edges": (np.dtype("<U4"), 1),
    "params": (np.dtype(np.int64), 1),
    "train_seconds": (np.dtype(np.float32), 1),
    "train_loss": (np.dtype(np.float32), 2),
    "train_acc": (np.dtype(np.float32), 2),
    "val_loss": (np.dtype(np.float32), 2),
    "val_acc": (np.dtype(np.float32), 2),
    "test_acc": (np.dtype(np.float32), 1),
}


def run_text(arch_id: int, epochs: int, *, finished: bool = True, params: int = 1234) -> str:
    """A train_process.txt as SpikeNAS-Bench writes it, with numbers that encode id and epoch."""
    lines = [
        f"architecture id: {arch_id}",
        f"model parameters: {params}",
        "epoch, train_acc, train_loss, val_acc, val_loss",
    ]
    for epoch in range(epochs):
        # Distinct per column, epoch and architecture, so a swapped column or row shows.
        train_acc = 10 + epoch + arch_id / 1000
        train_loss = 2.303 - epoch / 100 - arch_id / 100000
        val_acc = 9 + epoch + arch_id / 1000
        val_loss = 2.4 - epoch / 200 - arch_id / 100000
        lines.append(
            f"{epoch:.3f}, {train_acc:.3f}, {train_loss:.3f}, {val_acc:.3f}, {val_loss:.3f}"
        )
    if finished:
        lines += [
            f"test accuracy: {50 + arch_id / 1000:.3f}",
            "firing rate of layers: -1.000, 0.040, 0.073",
            "Elapsed time: 1.0hour2.0minute3.5second",
        ]
    return "\n".join(lines) + "\n"


def write_run(folder: Path, arch_id: int, text: str) -> Path:
    path = folder / str(arch_id) / "train_process.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


@pytest.fixture
def release(tmp_path: Path) -> Path:
    """A data/CIFAR10 folder: five 4-epoch runs, two 6-epoch runs, one unfinished run."""
    folder = tmp_path / "data" / "CIFAR10"
    for arch_id in (0, 7, 31, 3125, 15624):
        write_run(folder, arch_id, run_text(arch_id, 4, params=1000 + arch_id))
    for arch_id in (12, 13):
        write_run(folder, arch_id, run_text(arch_id, 6))
    write_run(folder, 99, run_text(99, 2, finished=False))
    (folder / "README").write_text("not a run")
    return folder


def test_convert_writes_the_documented_layout(release: Path, tmp_path: Path) -> None:
    out = tmp_path / "curves.npz"
    summary = convert_spikenas(release, out)
    assert (summary.n_found, summary.n_written, summary.n_epochs) == (8, 5, 4)
    assert summary.other_schedules == {6: 2}
    assert summary.unfinished == (99,)
    text = summary.describe()
    assert "Wrote 5 of 8 runs (4 epochs each)" in text
    assert "Left out 2 runs on another schedule (6 epochs: 2)" in text
    assert "Left out 1 unfinished run (no test accuracy: 99)" in text

    with np.load(out, allow_pickle=False) as data:
        assert sorted(data.files) == sorted(LAYOUT)
        for key, (dtype, ndim) in LAYOUT.items():
            assert data[key].dtype == dtype, key
            assert data[key].ndim == ndim, key
        ids = [0, 7, 31, 3125, 15624]
        assert data["arch_id"].tolist() == ids  # sorted by id
        assert data["params"].tolist() == [1000 + i for i in ids]
        assert data["edges"].tolist() == list(SPIKENAS_EDGES)
        # id = sum of op_index * 5**edge: 7 = 2 + 1*5, 31 = 1 + 1*5 + 1*25, 15624 = all 4s.
        assert data["ops"][1].tolist() == ["lif_conv3x3_th0.5", "skip_connect"] + ["none"] * 4
        assert data["ops"][2].tolist() == ["skip_connect"] * 3 + ["none"] * 3
        assert data["ops"][3].tolist() == ["none"] * 5 + ["skip_connect"]
        assert data["ops"][4].tolist() == [SPIKENAS_OPS[4]] * 6
        assert data["train_loss"].shape == (5, 4)
        # Each value is the file's text read as float32, column by column.
        assert data["train_acc"][1, 2] == np.float32("12.007")
        assert data["train_loss"][1, 2] == np.float32(f"{2.303 - 0.02 - 7e-5:.3f}")
        assert data["val_acc"][4, 3] == np.float32(f"{12 + 15.624:.3f}")
        assert data["val_loss"][0, 3] == np.float32("2.385")
        assert data["test_acc"][3] == np.float32("53.125")
        assert data["train_seconds"][0] == np.float32(3600 + 120 + 3.5)

    curves = load_curves(out)  # what `curves rank` reads
    assert curves.n_archs == 5 and curves.n_epochs == 4 and curves.result_key == "test_acc"


def test_convert_epochs_option_picks_the_other_schedule(release: Path, tmp_path: Path) -> None:
    summary = convert_spikenas(release, tmp_path / "long.npz", epochs=6)
    assert (summary.n_written, summary.other_schedules) == (2, {4: 5})
    with np.load(tmp_path / "long.npz") as data:
        assert data["arch_id"].tolist() == [12, 13]
        assert data["val_acc"].shape == (2, 6)
    with pytest.raises(ValueError, match=r"epochs=5: no run has that many epochs; found 4"):
        convert_spikenas(release, tmp_path / "none.npz", epochs=5)
    assert not (tmp_path / "none.npz").exists()


def test_convert_tie_takes_the_longer_schedule(tmp_path: Path) -> None:
    for arch_id, epochs in ((1, 3), (2, 3), (3, 5), (4, 5)):
        write_run(tmp_path / "src", arch_id, run_text(arch_id, epochs))
    summary = convert_spikenas(tmp_path / "src", tmp_path / "out.npz")
    assert (summary.n_epochs, summary.n_written) == (5, 2)


def _break(text: str, old: str, new: str) -> str:
    assert old in text
    return text.replace(old, new, 1)


GOOD = run_text(5, 3)


@pytest.mark.parametrize(
    "text, fragment",
    [
        ("", "too short"),
        (_break(GOOD, "architecture id: 5", "arch: 5"), ":1: expected 'architecture id: N'"),
        (_break(GOOD, "architecture id: 5", "architecture id: 6"), "the folder is '5'"),
        (_break(GOOD, "model parameters: 1234", "model parameters: many"), ":2: expected"),
        (_break(GOOD, "epoch, train_acc", "epoch, acc"), ":3: expected the header"),
        (_break(GOOD, "1.000, 11.005", "1.000, eleven"), ":5: expected 5 numbers"),
        (_break(GOOD, "1.000, 11.005", "1.000, nan"), ":5: expected 5 numbers"),
        (_break(GOOD, "1.000, 11.005", "2.000, 11.005"), ":5: expected epoch 1, got '2.000'"),
        (_break(GOOD, "test accuracy: 50.005", "test accuracy: ?"), "expected 'test accuracy: X'"),
        (_break(GOOD, "Elapsed time: 1.0hour", "Elapsed time: soon"), "'Elapsed time:"),
        (_break(GOOD, "Elapsed time: 1.0hour2.0minute3.5second\n", ""), "no 'Elapsed time:'"),
        (GOOD + "0.000, 1, 2, 3, 4\n", "unexpected line after the test accuracy"),
    ],
)
def test_convert_rejects_a_malformed_file_naming_file_and_line(
    tmp_path: Path, text: str, fragment: str
) -> None:
    path = write_run(tmp_path / "src", 5, text)
    with pytest.raises(ValueError, match="train_process.txt") as caught:
        convert_spikenas(tmp_path / "src", tmp_path / "out.npz")
    assert str(path) in str(caught.value)
    assert fragment in str(caught.value)
    assert not (tmp_path / "out.npz").exists()


def test_convert_rejects_two_folders_for_one_id(tmp_path: Path) -> None:
    write_run(tmp_path / "src", 7, run_text(7, 2))
    path = tmp_path / "src" / "007" / "train_process.txt"
    path.parent.mkdir()
    path.write_text(run_text(7, 2))
    with pytest.raises(ValueError, match="two folders for one architecture id"):
        convert_spikenas(tmp_path / "src", tmp_path / "out.npz")


def test_convert_rejects_out_of_range_id(tmp_path: Path) -> None:
    write_run(tmp_path / "src", 15625, run_text(15625, 2))
    with pytest.raises(ValueError, match=r"architecture id 15625 is not in 0\.\.15624"):
        convert_spikenas(tmp_path / "src", tmp_path / "out.npz")


def test_cli_convert(release: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cli.npz"
    assert main(["curves", "convert", "spikenas", str(release), str(out), "--no-progress"]) == 0
    printed = capsys.readouterr()
    assert printed.out.startswith(f"Wrote 5 of 8 runs (4 epochs each) to {out}.")
    assert printed.err == ""  # --no-progress: no bar
    convert_spikenas(release, tmp_path / "api.npz")
    with np.load(out) as cli, np.load(tmp_path / "api.npz") as api:
        for key in LAYOUT:
            np.testing.assert_array_equal(cli[key], api[key])

    assert main(["curves", "rank", str(out), "--budgets", "1,4"]) == 0
    assert "over 5 architectures" in capsys.readouterr().out


@pytest.mark.parametrize(
    "src, extra, fragment",
    [
        ("missing", [], "SRC_DIR"),
        ("root", [], "give a dataset folder such as"),  # the clone, not data/CIFAR10
        ("empty", [], "no <arch id>/train_process.txt directly in SRC_DIR"),
        ("release", ["--epochs", "9"], "epochs=9: no run has that many epochs"),
        ("release", ["--epochs", "0"], "epochs must be at least 1"),
    ],
)
def test_cli_convert_bad_input_is_one_line_exit_2(
    release: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    src: str,
    extra: list[str],
    fragment: str,
) -> None:
    (tmp_path / "empty").mkdir()
    folders = {
        "missing": tmp_path / "missing",
        "root": tmp_path,
        "empty": tmp_path / "empty",
        "release": release,
    }
    out = tmp_path / "out.npz"
    args = ["curves", "convert", "spikenas", str(folders[src]), str(out), "--no-progress"]
    assert main(args + extra) == 2
    err = capsys.readouterr().err
    assert err.startswith("optuna-sotl curves: error: ") and fragment in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not out.exists()


def test_cli_convert_out_folder_missing(
    release: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "no" / "such" / "out.npz"
    assert main(["curves", "convert", "spikenas", str(release), str(out), "--no-progress"]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_raw_sample_gives_the_rows_of_spikenas_cifar10(
    spikenas_path: Path, raw_sample_dir: Path, tmp_path: Path
) -> None:
    """The release's own files give exactly their rows of spikenas_cifar10.npz (docs/data.md)."""
    out = tmp_path / "sample.npz"
    summary = convert_spikenas(raw_sample_dir / "CIFAR10", out)
    # Fifteen files; 3276 and 3277 were trained on the 200-epoch schedule.
    assert (summary.n_found, summary.n_written, summary.n_epochs) == (15, 13, 100)
    assert summary.other_schedules == {200: 2} and summary.unfinished == ()
    with np.load(out, allow_pickle=False) as sample, np.load(spikenas_path) as full:
        assert 3276 not in sample["arch_id"] and 3277 not in sample["arch_id"]
        rows = np.searchsorted(full["arch_id"], sample["arch_id"])
        np.testing.assert_array_equal(full["arch_id"][rows], sample["arch_id"])
        for key, (dtype, _) in LAYOUT.items():
            assert sample[key].dtype == full[key].dtype == dtype, key
            expected = full[key] if key == "edges" else full[key][rows]
            np.testing.assert_array_equal(sample[key], expected, err_msg=key)
