"""Every CLI mistake is one line naming the file, option or storage, with exit code 2.

Output paths of every command are checked before any work starts; broken input files, storages
that do not answer, missing files and missing extras are named in one line, never a traceback.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
import sys
import zipfile

import numpy as np
import optuna
import pytest

from optuna_sotl._cli import main
from tests.storages import free_port


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line_error(code: int, out: str, err: str, *needles: str) -> None:
    assert code == 2, (out, err)
    assert out == "" and err.count("\n") == 1 and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, err


def curves_file(tmp_path: Path, n_archs: int = 12, name: str = "curves.npz") -> str:
    rng = np.random.default_rng(0)
    train_loss = np.sort(rng.random((n_archs, 5)), axis=1)[:, ::-1] + 0.1
    path = tmp_path / name
    np.savez(
        path,
        train_loss=train_loss,
        val_loss=train_loss + 0.2,
        test_acc=rng.random(n_archs) * 100,
    )
    return str(path)


@pytest.fixture
def no_work(monkeypatch: pytest.MonkeyPatch) -> None:
    """The commands' work: any call fails the test, so a check must come before it."""

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("the command started working before checking its outputs")

    from optuna_sotl.curves import _loader
    from optuna_sotl.curves import _search

    monkeypatch.setattr(_search, "run_search", forbidden)
    monkeypatch.setattr(_loader, "load_curves", forbidden)


# --- output paths, checked before any work (item 3) -------------------------------------------


@pytest.mark.parametrize("option", ["--csv", "--plot"])
def test_curves_search_checks_every_output_before_it_computes(
    tmp_path: Path, capsys, no_work, option: str
) -> None:
    path = curves_file(tmp_path)
    missing = str(tmp_path / "no-such-folder" / "out.file")
    argv = ["curves", "search", path, "--budget", "10", "--seeds", "1", "--no-progress"]
    code, out, err = run_cli(capsys, *argv, option, missing)
    assert_one_line_error(code, out, err, option, "no-such-folder", "does not exist")
    code, out, err = run_cli(capsys, *argv, option, str(tmp_path))
    assert_one_line_error(code, out, err, option, "is a folder")


@pytest.mark.parametrize("option", ["--csv", "--plot"])
def test_curves_rank_checks_its_outputs_before_it_reads(
    tmp_path: Path, capsys, no_work, option: str
) -> None:
    path = curves_file(tmp_path)
    code, out, err = run_cli(capsys, "curves", "rank", path, option, str(tmp_path))
    assert_one_line_error(code, out, err, option, "is a folder")
    missing = str(tmp_path / "absent" / "x")
    code, out, err = run_cli(capsys, "curves", "rank", path, option, missing)
    assert_one_line_error(code, out, err, option, "does not exist")


def test_curves_convert_checks_its_output_before_it_reads(
    tmp_path: Path, capsys, monkeypatch
) -> None:
    from optuna_sotl.curves import _convert

    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("the command started working before checking its output")

    monkeypatch.setattr(_convert, "convert_spikenas", forbidden)
    argv = ["curves", "convert", "spikenas", str(tmp_path), "--no-progress"]
    code, out, err = run_cli(capsys, *argv[:4], str(tmp_path), "--no-progress")
    assert_one_line_error(code, out, err, "OUT", "is a folder")
    code, out, err = run_cli(capsys, *argv[:4], str(tmp_path / "absent" / "x.npz"))
    assert_one_line_error(code, out, err, "OUT", "does not exist")


def test_two_outputs_naming_one_file_are_refused(tmp_path: Path, capsys, no_work) -> None:
    path = curves_file(tmp_path)
    out_file = str(tmp_path / "same")
    code, out, err = run_cli(
        capsys, "curves", "rank", path, "--csv", out_file, "--plot", out_file
    )
    assert_one_line_error(code, out, err, "--csv and --plot name the same file")


def test_report_png_folder_is_refused_before_the_storage_is_opened(
    tmp_path: Path, capsys
) -> None:
    db = tmp_path / "study.db"
    url = f"sqlite:///{db}"
    code, out, err = run_cli(capsys, "report", "--storage", url, "--png", str(tmp_path))
    assert_one_line_error(code, out, err, "--png", "is a folder")
    assert not db.exists()


def test_report_png_writes_exactly_the_file_named(tmp_path: Path, capsys) -> None:
    pytest.importorskip("matplotlib")
    url = f"sqlite:///{tmp_path / 'study.db'}"
    study = optuna.create_study(storage=url)
    study.add_trial(optuna.create_trial(value=1.0, intermediate_values={0: 1.0, 1: 0.5}))
    target = tmp_path / "ranking"  # no .png suffix: matplotlib used to write ranking.png
    code, out, err = run_cli(capsys, "report", "--storage", url, "--png", str(target))
    assert code == 0, err
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not (tmp_path / "ranking.png").exists()
    assert f"Wrote the figure to {target}." in out


# --- broken learning-curve files (items 4 and 6) ----------------------------------------------


def _member(data: bytes, name: str, raw: bytes) -> bytes:
    """``data`` (an .npz) with the member ``name`` replaced by ``raw``."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w") as target:
        for member in source.namelist():
            target.writestr(member, raw if member == name else source.read(member))
    return out.getvalue()


def _huge_header() -> bytes:
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f8", "fortran_order": False, "shape": (10**6, 10**6)}
    )
    return header.getvalue() + bytes(64)


@pytest.mark.parametrize(
    "name, content, message",
    [
        ("empty.npz", lambda good: b"", "is empty (0 bytes)"),
        ("text.npz", lambda good: b"train_loss,val_loss\n1,2\n", "is not an .npz archive"),
        ("random.npz", lambda good: os.urandom(4096), "is not an .npz archive"),
        ("truncated.npz", lambda good: good[: len(good) // 2], "not a readable .npz archive"),
        (
            "huge.npz",
            lambda good: _member(good, "train_loss.npy", _huge_header()),
            "'train_loss' declares shape (1000000, 1000000)",
        ),
    ],
)
def test_a_broken_curves_file_is_one_line_naming_it(
    tmp_path: Path, capsys, name: str, content, message: str
) -> None:
    good = Path(curves_file(tmp_path)).read_bytes()
    path = tmp_path / name
    path.write_bytes(content(good))
    code, out, err = run_cli(capsys, "curves", "rank", str(path))
    assert_one_line_error(code, out, err, name, message)
    assert "pickle" not in err


def test_self_calibrating_on_too_few_architectures_is_named(tmp_path: Path, capsys) -> None:
    path = curves_file(tmp_path, n_archs=2)
    code, out, err = run_cli(capsys, "curves", "rank", path, "--self-calibrating")
    assert_one_line_error(code, out, err, "needs at least 5", "there are 2")
    six = curves_file(tmp_path, n_archs=6, name="six.npz")
    code, out, err = run_cli(
        capsys, "curves", "rank", six, "--self-calibrating", "--calibration-size", "5"
    )
    assert_one_line_error(code, out, err, "--calibration-size 5", "needs at least 7")
    assert main(["curves", "rank", curves_file(tmp_path, n_archs=6, name="six.npz"),
                 "--self-calibrating", "--calibration-seeds", "2", "--budgets", "2"]) == 0


# --- storages (items 4 and 6) -------------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["sqlite:///", "journal://"])
def test_report_on_a_missing_file_does_not_create_it(tmp_path: Path, capsys, scheme: str) -> None:
    path = tmp_path / "absent.store"
    code, out, err = run_cli(capsys, "report", "--storage", f"{scheme}{path}")
    assert_one_line_error(code, out, err, str(path), "does not exist")
    assert not path.exists()


@pytest.mark.parametrize("scheme", ["redis", "grpc"])
def test_report_on_a_server_that_does_not_answer(capsys, scheme: str) -> None:
    url = f"{scheme}://127.0.0.1:{free_port()}" + ("/0" if scheme == "redis" else "")
    code, out, err = run_cli(capsys, "report", "--storage", url)
    assert_one_line_error(code, out, err, f"cannot reach storage {url}")


# --- missing extras (item 7) ---------------------------------------------------------------


def test_demo_without_torch_names_the_extra(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # what an absent package imports as
    db = tmp_path / "demo.db"
    code, out, err = run_cli(capsys, "demo", "--storage", f"sqlite:///{db}", "--no-progress")
    assert_one_line_error(code, out, err, "pip install 'optuna-sotl[torch]'", "torch")
    assert not db.exists()


@pytest.mark.parametrize(
    "url, modules, extra",
    [
        ("postgresql://postgres@127.0.0.1:5432/test", ["psycopg", "psycopg2"], "postgres"),
        ("postgresql+psycopg2://postgres@127.0.0.1:5432/test", ["psycopg2"], "postgres"),
        ("mysql://root@127.0.0.1:3306/test", ["MySQLdb", "pymysql"], "mysql"),
        ("mysql+pymysql://root:pw@127.0.0.1:3306/test", ["pymysql"], "mysql"),
        ("redis://127.0.0.1:6379/0", ["redis"], "redis"),
    ],
)
def test_a_storage_without_its_driver_names_the_extra(
    capsys, monkeypatch, url: str, modules: list[str], extra: str
) -> None:
    for module in modules:
        monkeypatch.setitem(sys.modules, module, None)
    code, out, err = run_cli(capsys, "report", "--storage", url)
    assert_one_line_error(code, out, err, f"pip install 'optuna-sotl[{extra}]'")
    assert "pw@" not in err
