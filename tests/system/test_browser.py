"""The demo's study in optuna-dashboard, looked at in a real headless Chromium.

Runs a small demo, saves the SoTL note and figure the way the demo does, serves the SQLite file
with the ``optuna-dashboard`` command on 127.0.0.1, and drives Debian's Chromium
(``/usr/bin/chromium``, from ``apt-get install chromium``; Playwright never downloads a browser
here) through the pages a user opens. ``OPTUNA_SOTL_SCREENSHOT=docs/dashboard.png`` also writes
the screenshot there.
"""

from __future__ import annotations

from collections.abc import Iterator
import contextlib
import io
import os
import shutil
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.storages import free_port


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
INSTALL_HINT = "apt-get update && apt-get install -y chromium"

pytestmark = pytest.mark.slow


def _missing(message: str) -> None:
    """Fail under CI=true (CI must run this test), skip on a laptop without the browser stack."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message + " (CI=true: the browser test must run)")
    pytest.skip(message)


@pytest.fixture(scope="module")
def chromium() -> str:
    if not os.access(CHROMIUM, os.X_OK):
        _missing(f"{CHROMIUM} is missing; install Debian's package: {INSTALL_HINT}")
    for module in ("playwright", "optuna_dashboard", "plotly", "torch", "sklearn"):
        try:
            __import__(module)
        except ImportError:
            _missing(f"{module} is not installed: pip install -e '.[torch,test]'")
    return CHROMIUM


@contextlib.contextmanager
def dashboard_server(storage_url: str) -> Iterator[str]:
    """``optuna-dashboard URL --host 127.0.0.1 --port FREE``, as users start it; yields its URL."""
    port = free_port()
    command = os.path.join(os.path.dirname(sys.executable), "optuna-dashboard")
    if not os.path.exists(command):
        command = shutil.which("optuna-dashboard") or command
    process = subprocess.Popen(
        [command, storage_url, "--host", "127.0.0.1", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"optuna-dashboard exited: {process.stderr.read().decode()}")
            try:
                with urllib.request.urlopen(f"{base}/api/studies", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("optuna-dashboard did not answer within 60 s") from None
                time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def plot_traces(page, card_title: str) -> dict[str, int]:
    """Name -> point count of each plotly trace in the dashboard card headed ``card_title``."""
    card = page.locator(".MuiCard-root", has=page.get_by_text(card_title, exact=True))
    plot = card.locator(".js-plotly-plot").first
    plot.wait_for(state="attached", timeout=30_000)
    page.wait_for_function("(gd) => gd.data && gd.data.length > 0", arg=plot.element_handle())
    traces = plot.evaluate("(gd) => gd.data.map((trace) => [trace.name || '', trace.x.length])")
    return {name.strip(): count for name, count in traces}


def stack_screenshots(paths: list[str], out: str) -> None:
    """One PNG of the screenshots one under the other, on white, as wide as the widest."""
    from PIL import Image  # Pillow comes with matplotlib

    images = [Image.open(path).convert("RGB") for path in paths]
    stacked = Image.new(
        "RGB", (max(i.width for i in images), sum(i.height for i in images)), "white"
    )
    top = 0
    for image in images:
        stacked.paste(image, (0, top))
        top += image.height
    stacked.save(out, optimize=True)


def test_demo_study_renders_in_optuna_dashboard(chromium: str, tmp_path) -> None:
    from playwright.sync_api import sync_playwright

    from optuna_sotl.demo import run_demo

    storage_url = f"sqlite:///{tmp_path / 'demo.db'}"
    result = run_demo(
        storage=storage_url,
        n_trials=7,
        epochs=3,
        n_startup_trials=2,
        n_warmup_steps=1,
        interval_steps=1,
        show_progress=False,
        file=io.StringIO(),
    )  # the demo saves the SoTL note and figure itself
    study = result.study
    trials = study.get_trials(deepcopy=False)
    pruned = [t.number for t in trials if t.state.name == "PRUNED"]
    assert pruned and result.n_complete >= 3, [t.state.name for t in trials]

    with dashboard_server(storage_url) as base, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            study_url = f"{base}/dashboard/studies/{study._study_id}"

            # The trial list: every trial, and a pruned one with its state, losses and scores.
            page.goto(f"{study_url}/trials")
            page.get_by_text(f"{len(trials)} Trials").wait_for(timeout=30_000)
            listed = page.locator("main").inner_text()
            assert listed.count("Pruned") == len(pruned)
            shown = study.trials[pruned[0]]
            page.get_by_text(f"Trial {shown.number}", exact=True).click()
            title = f"Trial {shown.number} (trial_id="
            page.get_by_role("heading", name=title).wait_for(timeout=30_000)
            detail = page.locator("main").inner_text().split(title, 1)[1]
            assert detail.split("\n")[1] == "Pruned"
            for step, loss in shown.intermediate_values.items():
                assert f"{step} {loss!r}" in detail  # the reported training losses
            assert f"sotl_e {shown.user_attrs['sotl_e']!r}" in detail

            # The study page: one loss curve per trial and the SoTL figure.
            page.goto(study_url)
            curves = plot_traces(page, "Intermediate values")
            assert curves == {f"trial #{t.number}": len(t.intermediate_values) for t in trials}
            assert curves[f"trial #{pruned[0]}"] < 3  # a pruned trial's curve stops early
            page.get_by_text("SoTL ranking, SoTL-E(E=1) at step 1").wait_for(timeout=30_000)
            page.wait_for_timeout(1000)  # let the plots finish drawing for the screenshot
            study_png = str(tmp_path / "study.png")
            page.screenshot(path=study_png, full_page=True)

            # The note: the ranking, its agreement and the epochs saved; the fences stay hidden.
            page.goto(f"{study_url}/note")
            page.get_by_text("SoTL ranking (optuna-sotl)").wait_for(timeout=30_000)
            note = page.locator("main").inner_text()
            assert "Spearman" in note and "epochs saved" in note
            epochs = sum(len(t.intermediate_values) for t in trials)
            assert f"trials trained {epochs} epochs" in note
            assert "[//]" not in note and "optuna-sotl ranking: begin" not in note
            page.set_viewport_size({"width": 1400, "height": 760})
            note_png = str(tmp_path / "note.png")
            page.screenshot(path=note_png)
            assert not errors, errors
        finally:
            browser.close()

    out = os.environ.get("OPTUNA_SOTL_SCREENSHOT") or str(tmp_path / "dashboard.png")
    stack_screenshots([note_png, study_png], out)
    assert os.path.getsize(out) > 50_000
