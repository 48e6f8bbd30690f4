"""``harness report``: one self-contained HTML file, rendered by headless Chromium from a file:// URL."""
import json
import re
from pathlib import Path

import pytest

from harness.cli import main
from tests import browser
from tests.conftest import run_cli
from tests.test_history import CASE, saved, step_storage  # noqa: F401  (saved: the two saved runs)

BROWSER, DRIVER, NO_BROWSER = browser.find()
needs_browser = pytest.mark.skipif(bool(NO_BROWSER), reason=NO_BROWSER)


@pytest.fixture(scope="module")
def verify_json(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("verify") / "verify.json"
    proc = run_cli("verify", "--json", "--data", "scratch", "--model", "scratch", "--loss", "scratch",
                   "--optimizer", "scratch", "--optimizer", "gluon")
    assert proc.returncode == 0, proc.stderr
    path.write_text(proc.stdout)
    return path


@pytest.fixture(scope="module")
def report(saved, verify_json, tmp_path_factory) -> Path:  # noqa: F811
    out = tmp_path_factory.mktemp("report") / "report.html"
    proc = run_cli("report", "--storage", str(saved), "-o", str(out), "--verify", str(verify_json))
    assert proc.returncode == 0, proc.stderr
    assert f"wrote {out}: 2 runs" in proc.stdout
    return out


def test_the_report_is_one_file_that_fetches_nothing(report):
    text = report.read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", text, re.I)
    assert "@import" not in text and "url(" not in text
    assert "<script src" not in text and "<link" not in text
    data = json.loads(re.search(r'<script type="application/json" id="report-data">(.*?)</script>', text, re.S).group(1))
    assert [r["number"] for r in data["runs"]] == ["0001", "0002"]
    statuses = sorted(r["status"].split(":")[0] for r in data["latest"]["rows"])
    assert statuses == ["FAILED"] * 2 + ["SKIPPED"] * 4 + ["ok"] * 2
    assert {"us_per_step", "samples_per_s", "final_loss", "param_error", "peak_rss_mib", "time_to_target_s"} <= {
        c["key"] for c in data["latest"]["columns"]}
    assert len(data["breakdown"]) == 2 and data["verify"][0]["ok"] is True


def rendered(session, path: Path, timeout: float = 30):
    from selenium.webdriver.support.ui import WebDriverWait

    session.get(path.resolve().as_uri())
    WebDriverWait(session, timeout).until(lambda s: s.execute_script("return document.body.dataset.ready"))
    assert session.execute_script("return document.body.dataset.ready") == "1", session.find_element("id", "error").text


def column(session, label: str) -> list[str]:
    heads = [th.text for th in session.find_elements("css selector", "#latest-table thead th")]
    i = heads.index(label) + 1
    return [td.text for td in session.find_elements("css selector", f"#latest-table tbody tr td:nth-child({i})")]


@needs_browser
def test_chromium_renders_table_plots_and_sorts(report, tmp_path):
    with browser.chromium(BROWSER, DRIVER) as session:
        rendered(session, report)
        rows = session.find_elements("css selector", "#latest-table tbody tr")
        assert len(rows) == 8
        failed = session.find_elements("css selector", "#latest-table tbody tr.failed")
        skipped = session.find_elements("css selector", "#latest-table tbody tr.skipped")
        assert len(failed) == 2 and len(skipped) == 4
        assert all(r.is_displayed() for r in failed + skipped)
        assert "broken model" in failed[0].text

        plots = session.find_elements("css selector", "figure.plot")
        assert len(plots) == 2  # the ok cpu cases; the 2 failed and 4 skipped ones are listed instead
        never = session.find_elements("css selector", "#never-table tbody tr")
        assert len(never) == 6 and sum("SKIPPED" in r.text for r in never) == 4
        scratch = session.find_element("css selector", f'figure.plot[data-case="{CASE}"]')
        assert len(scratch.find_elements("css selector", "svg circle.point")) == 2
        assert scratch.find_element("css selector", "svg").size["height"] > 100

        assert len(session.find_elements("css selector", "#breakdown-table tbody tr")) == 2
        assert session.find_element("id", "verify-status").text == "verify: all combinations agree"
        assert len(session.find_elements("css selector", "#runs-table tbody tr")) == 2
        assert session.execute_script("return performance.getEntriesByType('resource').length") == 0

        header = next(th for th in session.find_elements("css selector", "#latest-table thead th") if th.text == "epoch med (ms)")
        header.click()
        up = column(session, "epoch med (ms)")
        values = [float(v) for v in up if v]
        assert len(values) == 2 and values == sorted(values) and up[2:] == [""] * 6  # empty (not run) last
        order_up = column(session, "data")[:2]
        header = next(th for th in session.find_elements("css selector", "#latest-table thead th") if th.text == "epoch med (ms)")
        header.click()
        down = [float(v) for v in column(session, "epoch med (ms)") if v]
        assert down == sorted(values, reverse=True) and column(session, "data")[:2] == order_up[::-1]
        assert "desc" in header.get_attribute("class")

        shot = tmp_path / "report.png"
        session.save_screenshot(str(shot))
        assert shot.stat().st_size > 10_000


@needs_browser
def test_chromium_shows_a_detected_change_on_its_plot(saved, tmp_path):  # noqa: F811
    storage = step_storage(saved, tmp_path)
    out = tmp_path / "steps.html"
    proc = run_cli("report", "--storage", str(storage), "-o", str(out))
    assert proc.returncode == 0 and "1 confirmed changes" in proc.stdout, proc.stdout + proc.stderr
    with browser.chromium(BROWSER, DRIVER) as session:
        rendered(session, out)
        changed = session.find_elements("css selector", "figure.plot.changed")
        assert [f.get_attribute("data-case") for f in changed] == [CASE]
        marks = changed[0].find_elements("css selector", "svg line.step.confirmed")
        assert len(marks) == 1 and marks[0].get_attribute("stroke") == "#d1242f"  # red: slower
        (row,) = session.find_elements("css selector", "#changes-table tbody tr")
        assert CASE in row.text and "0006" in row.text and "slower (confirmed)" in row.text
        session.save_screenshot(str(tmp_path / "steps.png"))


def test_report_of_run_files_named_on_the_command_line(saved, tmp_path):  # noqa: F811
    folder = next(saved.iterdir())  # the machine folder
    second = next(folder.glob("0002_*.json"))
    proc = run_cli("report", second.name, "-o", str(tmp_path / "one.html"), "--storage", str(tmp_path / "none"), cwd=folder)
    assert proc.returncode == 0 and "1 runs" in proc.stdout, proc.stderr
    proc = run_cli("report", "0001", "-o", str(tmp_path / "glob.html"), "--storage", str(saved))
    assert proc.returncode == 0 and "1 runs" in proc.stdout, proc.stderr
    text = (tmp_path / "glob.html").read_text()
    assert "0001_" in text and "0002_" not in text


def test_report_bad_input_is_one_line(saved, tmp_path, capsys):  # noqa: F811
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    for args, message in [(["--verify", str(bad)], "is not harness verify --json output"),
                          (["--verify", str(tmp_path / "none.json")], "cannot read"),
                          ([str(bad)], "is not a run"),
                          (["-o", str(tmp_path)], "cannot write")]:
        out = [] if "-o" in args else ["-o", str(tmp_path / "r.html")]
        assert main(["report", "--storage", str(saved), *args, *out]) == 2
        err = capsys.readouterr().err
        assert message in err and err.count("\n") == 1, (args, err)


def test_without_a_browser_the_reason_names_the_packages(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert browser.find() == (None, None, "no chromium and no chromedriver on PATH "
                                          "(Debian: apt-get install chromium chromium-driver)")


def test_a_built_wheel_ships_the_front_end_and_the_scaffold(tmp_path):
    """A non-editable install gets the report's www/ files and new-plugin's templates (setup.cfg package_data)."""
    import importlib.util
    import shutil
    import subprocess
    import sys
    import zipfile

    from tests.conftest import ROOT

    if importlib.util.find_spec("setuptools") is None:
        pytest.skip("setuptools is not installed: cannot build offline")
    src = tmp_path / "src"
    src.mkdir()
    for name in ("setup.cfg", "pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    for folder in ("harness", "plugins"):
        shutil.copytree(ROOT / folder, src / folder, ignore=shutil.ignore_patterns("__pycache__"))
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                           "-w", str(tmp_path / "dist"), str(src)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    shipped = set(zipfile.ZipFile(wheel).namelist())
    data = [p for d in ("harness/output/www", "harness/cli/templates") for p in (ROOT / d).rglob("*") if p.is_file()]
    wanted = {p.relative_to(ROOT).as_posix() for p in data if "__pycache__" not in p.parts}
    assert {"harness/output/www/report.js", "harness/cli/templates/newplugin/setup.cfg.tmpl"} <= wanted
    assert wanted - shipped == set()
    assert "harness/output/html_report.py" in shipped and "harness/analysis/stats.py" in shipped
