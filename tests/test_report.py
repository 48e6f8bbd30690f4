"""``harness report``: one self-contained HTML file, rendered by headless Chromium from a file:// URL."""
import json
import re
from pathlib import Path

import numpy as np
import pytest

from harness.analysis import history
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


OTHER = "seed-cpu-gluon-scratch-scratch-scratch"  # the other ok case of the saved runs


def report_data(path: Path) -> dict:
    text = path.read_text()
    found = re.search(r'<script type="application/json" id="report-data">(.*?)</script>', text, re.DOTALL)
    return json.loads(found.group(1))


def test_the_report_is_one_file_that_fetches_nothing(report):
    text = report.read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", text, re.I)
    assert "@import" not in text and "url(" not in text
    assert "<script src" not in text and "<link" not in text
    assert "__SCRIPT__" not in text and "function niceTicks" in text and "#plot-grid{" in text  # www/ inlined
    data = report_data(report)
    assert [r["number"] for r in data["runs"]] == ["0001", "0002"]
    kinds = sorted(r["kind"] for r in data["latest"]["default"]["rows"])
    assert kinds == ["failed"] * 2 + ["ok"] * 2 + ["skipped"] * 4
    assert len(data["breakdown"]) == 2 and data["verify"][0]["ok"] is True


def test_the_latest_table_has_the_terminals_columns(report):
    """The page's table is bench's default table (and --wide behind a click), from the same results model."""
    from harness.output import bench_table
    from harness.output.model import Results

    data = report_data(report)["latest"]
    labels = [c["label"] for c in data["default"]["columns"]]
    assert labels == ["combination", "ctx", "epoch ms (95% CI)", "µs/step", "vs scratch", "status"]
    wide = [c["key"] for c in data["wide"]["columns"]]
    assert "param_error" in wide and "test_acc" not in wide and "median_ci_level" not in wide  # linreg: no accuracy
    doc = json.loads(Path(report_data(report)["runs"][-1]["file"]).read_text())
    assert labels == [c.header for c in bench_table.choose(Results.from_document(doc))]


def test_too_few_rounds_is_said_not_hidden(report):
    """2 vs 2 rounds can never reach p < 0.002: the verdict is "cannot tell", with the rounds it would take."""
    data = report_data(report)
    found = data["changes"]
    verdicts = {r["case"]: r["verdict"] for r in found["rows"]}
    assert verdicts[CASE] == verdicts[OTHER] == "cannot tell"
    assert sorted(verdicts.values()).count("failed") == 2 and sorted(verdicts.values()).count("skipped") == 4
    assert [r["verdict"] for r in found["rows"][:2]] == ["failed", "failed"]  # failures lead
    assert found["rounds_needed"] == 7  # Holm over 2 tested cases at 0.002: p < 0.001 needs 7 rounds a side
    assert "at least 7 rounds a side" in found["unreachable"][0]["why"]
    assert "confirmed changes" not in data["headline"] and "2 cannot tell" in data["headline"]


def test_the_cli_line_says_what_the_page_leads_with(saved, tmp_path):  # noqa: F811
    proc = run_cli("report", "--storage", str(saved), "-o", str(tmp_path / "r.html"))
    assert proc.returncode == 0, proc.stderr
    line = proc.stdout.strip()
    assert line.startswith(f"wrote {tmp_path / 'r.html'}: 2 runs, 8 cases; latest run 0002")
    assert "2 failed, 2 cannot tell, 4 skipped — with 2 vs 2 rounds" in line and "at least 7 rounds a side" in line


def rendered(session, path: Path, timeout: float = 30):
    from selenium.webdriver.support.ui import WebDriverWait

    session.get(path.resolve().as_uri())
    WebDriverWait(session, timeout).until(lambda s: s.execute_script("return document.body.dataset.ready"))
    assert session.execute_script("return document.body.dataset.ready") == "1", session.find_element("id", "error").text


def texts(session, css: str) -> list[str]:
    return [e.text for e in session.find_elements("css selector", css)]


def column(session, label: str, table: str = "latest-table") -> list[str]:
    heads = texts(session, f"#{table} thead th")
    i = heads.index(label) + 1
    return texts(session, f"#{table} tbody tr td:nth-child({i})")


@needs_browser
def test_chromium_leads_with_what_changed_and_says_when_it_cannot_tell(report, tmp_path):
    with browser.chromium(BROWSER, DRIVER) as session:
        rendered(session, report)
        sections = [s.get_attribute("id") for s in session.find_elements("css selector", "section")]
        assert sections[:3] == ["changes", "latest", "history"]
        headline = session.find_element("id", "headline")
        assert "cannot tell" in headline.text and "confirmed changes" not in headline.text
        assert "notice" in headline.get_attribute("class")
        notice = session.find_element("id", "rounds-notice")
        assert notice.is_displayed() and "2 of 8 cases cannot show a change" in notice.text
        assert "harness bench --rounds 7" in notice.text

        rows = session.find_elements("css selector", "#changes-table tbody tr")
        assert {r.get_attribute("data-case") for r in rows[:2]} == {"seed-cpu-scratch-broken-scratch-scratch",
                                                                   "seed-cpu-gluon-broken-scratch-scratch"}
        verdicts = texts(session, "#changes-table tbody td.verdict")
        assert verdicts[:2] == ["failed", "failed"] and verdicts[2:4] == ["cannot tell"] * 2
        scratch = session.find_element("css selector", f'#changes-table tr[data-case="{CASE}"]')
        assert len(scratch.find_elements("css selector", "svg.strip .round.latest")) == 2  # every round drawn
        assert len(scratch.find_elements("css selector", "svg.strip .round.previous")) == 2
        ratio = scratch.find_element("css selector", "td.ratio").text
        assert ratio.startswith("×") and float(ratio[1:]) > 0

        plots = session.find_elements("css selector", "figure.plot")
        assert len(plots) == 2  # the ok cpu cases; the 2 failed and 4 skipped ones are listed instead
        assert len(session.find_elements("css selector", "#never-table tbody tr")) == 6
        ticks = {tuple(t.text for t in p.find_elements("css selector", "text.ytick")) for p in plots}
        assert len(ticks) == 1 and "1×" in next(iter(ticks))  # one shared axis, as a ratio to the first run
        xtick = plots[0].find_element("css selector", "text.xtick").text
        commit = report_data(report)["runs"][0]["commit"][:7]
        assert xtick.startswith("0001") and commit in xtick and re.search(r"\d\d-\d\d \d\d:\d\d", xtick)

        assert len(session.find_elements("css selector", "#breakdown-table tbody tr")) == 2
        assert session.find_element("id", "verify-status").text == "verify: all 3 combinations agree"
        assert not session.find_elements("id", "verify-failures")
        every = session.find_element("css selector", "#verify details")
        assert every.get_attribute("open") is None and not every.find_element("css selector", "tbody tr").is_displayed()
        assert "no factorial of role choices" in session.find_element("id", "effects").text  # 2 combinations
        assert len(session.find_elements("css selector", "#runs-table tbody tr")) == 2
        assert session.execute_script("return performance.getEntriesByType('resource').length") == 0

        assert texts(session, "#latest-table thead th") == ["combination", "ctx", "epoch ms (95% CI)", "µs/step",
                                                            "vs scratch", "status"]
        failed = session.find_elements("css selector", "#latest-table tbody tr.failed")
        skipped = session.find_elements("css selector", "#latest-table tbody tr.skipped")
        assert len(failed) == 2 and len(skipped) == 4 and "FAILED [1]" in failed[0].text  # bench's marks
        assert "[1] RuntimeError: broken model: refuses to build" in session.find_element("id", "latest-foot").text
        assert not session.find_element("id", "latest-wide-table").is_displayed()  # --wide: behind a click
        header = next(th for th in session.find_elements("css selector", "#latest-table thead th")
                      if th.text == "vs scratch")
        header.click()
        up = column(session, "vs scratch")
        assert up[0] == "1×" and up[2:] == [""] * 6  # the all-scratch case is its own baseline; empty last
        header.click()
        assert column(session, "vs scratch")[1] == "1×" and "desc" in header.get_attribute("class")
        session.save_screenshot(str(tmp_path / "report.png"))


def history_with_a_slowdown(saved, tmp_path, factor=1.3, rounds=12, runs=3) -> Path:  # noqa: F811
    """``runs`` runs from a real saved one with ``rounds`` rounds each (1 % noise); CASE ×``factor`` in the last."""
    rng = np.random.RandomState(1)
    base = json.loads(next((saved / history.machine_id()).glob("0002_*.json")).read_text())
    del base["harness"]["saved"]
    storage = tmp_path / "slowdown"
    for i in range(runs):
        doc = json.loads(json.dumps(base))
        doc["datetime"] = f"2026-02-{i + 1:02d}T10:00:00+00:00"
        for b, original in zip(doc["benchmarks"], base["benchmarks"]):
            scale = factor if i == runs - 1 and b["param"] == CASE else 1.0
            median = float(np.median(original["stats"]["data"]))
            data = [median * scale * (1 + 0.01 * rng.standard_normal()) for _ in range(rounds)]
            b["stats"].update(data=data, median=float(np.median(data)), q1=float(np.percentile(data, 25)),
                              q3=float(np.percentile(data, 75)), rounds=rounds)
        history.save(doc, storage)
    return storage


def test_a_slowdown_leads_with_its_ratio_and_verdict(saved, tmp_path):  # noqa: F811
    storage = history_with_a_slowdown(saved, tmp_path)
    out = tmp_path / "slow.html"
    proc = run_cli("report", "--storage", str(storage), "-o", str(out))
    assert proc.returncode == 0, proc.stderr
    assert "1 slower (up to ×1.3" in proc.stdout and "1 no change detected" in proc.stdout, proc.stdout
    data = report_data(out)
    ok = [r for r in data["changes"]["rows"] if r["verdict"] not in ("failed", "skipped")]
    assert [(r["case"], r["verdict"]) for r in ok] == [(CASE, "slower"), (OTHER, "no change detected")]
    slow = ok[0]
    assert 1.25 < slow["ratio"] < 1.35 and 1 < slow["ci"][0] <= slow["ratio"] <= slow["ci"][1]
    assert slow["p_holm"] < 0.002 and not data["changes"]["unreachable"]
    panels = [p["case"] for p in data["history"]["panels"] if p["measured"]]
    assert panels == [CASE, OTHER]  # the history follows the changes' order, not the alphabet


@needs_browser
def test_chromium_shows_the_slowdown_first(saved, tmp_path):  # noqa: F811
    storage = history_with_a_slowdown(saved, tmp_path)
    out = tmp_path / "slow.html"
    assert run_cli("report", "--storage", str(storage), "-o", str(out)).returncode == 0
    with browser.chromium(BROWSER, DRIVER) as session:
        rendered(session, out)
        assert not session.find_elements("id", "rounds-notice")
        rows = [r for r in session.find_elements("css selector", "#changes-table tbody tr")
                if r.get_attribute("class") != "failed" and "skipped" not in r.text]
        assert [r.get_attribute("data-case") for r in rows] == [CASE, OTHER]
        first = rows[0]
        assert first.find_element("css selector", "td.verdict").text == "slower"
        assert first.find_element("css selector", "td.verdict").value_of_css_property("color") == "rgba(209, 36, 47, 1)"
        ratio = float(first.find_element("css selector", "td.ratio").text.lstrip("×"))
        low, high = (float(x) for x in first.find_element("css selector", "td.ci").text.split("–"))
        assert 1 < low <= ratio <= high and 1.25 < ratio < 1.35
        assert rows[1].find_element("css selector", "td.verdict").text == "no change detected"
        latest = rows[0].find_elements("css selector", "svg.strip circle.round.latest")
        previous = rows[0].find_elements("css selector", "svg.strip circle.round.previous")
        assert len(latest) == len(previous) == 12
        assert min(float(c.get_attribute("cx")) for c in latest) > max(float(c.get_attribute("cx")) for c in previous)
        plots = session.find_elements("css selector", "figure.plot")
        assert [f.get_attribute("data-case") for f in plots] == [CASE, OTHER]
        assert "1 slower" in session.find_element("id", "headline").text


@needs_browser
def test_chromium_shows_a_detected_step_on_its_plot(saved, tmp_path):  # noqa: F811
    storage = step_storage(saved, tmp_path)
    out = tmp_path / "steps.html"
    proc = run_cli("report", "--storage", str(storage), "-o", str(out))
    assert proc.returncode == 0 and "step detection over 9 runs: 1 step, 1 confirmed" in proc.stdout, proc.stdout
    with browser.chromium(BROWSER, DRIVER) as session:
        rendered(session, out)
        changed = session.find_elements("css selector", "figure.plot.changed")
        assert [f.get_attribute("data-case") for f in changed] == [CASE]
        marks = changed[0].find_elements("css selector", "svg line.step.confirmed")
        assert len(marks) == 1 and marks[0].get_attribute("stroke") == "#d1242f"  # red: slower
        points = changed[0].find_elements("css selector", "svg circle.point")
        ys = [float(p.get_attribute("cy")) for p in points]
        assert len(ys) == 9 and max(ys[5:]) < min(ys[:5])  # ×1.3 from run 0006 on: higher on the shared axis


def factorial_run(saved, tmp_path, optimizer=0.8, rounds=12) -> Path:  # noqa: F811
    """One run of 2×2 combinations (data × optimizer, scratch/gluon) from the saved one's two ok cases: the
    gluon optimizer copies scale their rounds by ``optimizer``."""
    rng = np.random.RandomState(2)
    doc = json.loads(next((saved / history.machine_id()).glob("0002_*.json")).read_text())
    del doc["harness"]["saved"]
    benchmarks = []
    for b in doc["benchmarks"]:
        median = float(np.median(b["stats"]["data"]))
        for level, scale in (("scratch", 1.0), ("gluon", optimizer)):
            copy = json.loads(json.dumps(b))
            copy["extra_info"]["combination"]["optimizer"] = level
            copy["param"] = copy["param"].rsplit("-", 1)[0] + f"-{level}"
            copy["name"] = f"test_epoch[{copy['param']}]"
            data = [median * scale * (1 + 0.01 * rng.standard_normal()) for _ in range(rounds)]
            copy["stats"].update(data=data, median=float(np.median(data)), rounds=rounds)
            benchmarks.append(copy)
    doc["benchmarks"] = benchmarks
    return history.save(doc, tmp_path / "factorial")


@needs_browser
def test_chromium_shows_what_each_role_choice_costs(saved, tmp_path):  # noqa: F811
    run = factorial_run(saved, tmp_path)
    out = tmp_path / "effects.html"
    assert run_cli("report", str(run), "-o", str(out), "--storage", str(tmp_path / "none")).returncode == 0
    tables = report_data(out)["effects"]["tables"]
    assert [t["title"] for t in tables] == ["seed-cpu: on epoch time (ratio)", "seed-cpu: on final loss (ratio)"]
    with browser.chromium(BROWSER, DRIVER) as session:
        rendered(session, out)
        (first, *_) = session.find_elements("css selector", "#effects-body table")
        rows = [[td.text for td in tr.find_elements("css selector", "td")]
                for tr in first.find_elements("css selector", "tbody tr")]
        mains = rows[:2]
        (role, choice, effect, ci, verdict), = [r for r in mains if r[0] == "optimizer"]
        assert (choice, verdict) == ("gluon instead of scratch", "real")
        low, high = (float(x) for x in ci.split("–"))
        assert 0.77 < float(effect.lstrip("×")) < 0.83 and low < 0.8 < high and high < 1
        assert sorted(r[0] for r in mains) == ["data", "optimizer"] and [r[0] for r in rows[2:]] == ["data×optimizer"]
        assert [bool(r[4]) for r in mains] in ([True, True], [True, False])  # real effects lead
        assert "4 of 4 combinations" in session.find_element("id", "effects").text


@needs_browser
def test_chromium_expands_only_the_verify_failures(report, verify_json, saved, tmp_path):  # noqa: F811
    doc = json.loads(verify_json.read_text())
    doc["ok"] = False
    doc["rows"][1].update(ok=False, max_abs_diff=0.5)
    bad = tmp_path / "bad-verify.json"
    bad.write_text(json.dumps(doc))
    out = tmp_path / "verify.html"
    assert run_cli("report", "--storage", str(saved), "-o", str(out), "--verify", str(bad)).returncode == 0
    with browser.chromium(BROWSER, DRIVER) as session:
        rendered(session, out)
        assert session.find_element("id", "verify-status").text == "verify: 1 of 3 combinations differ or failed"
        (row,) = session.find_elements("css selector", "#verify-failures tbody tr")
        assert row.is_displayed() and "DIFFERS" in row.text and "0.5" in row.text
        every = session.find_element("css selector", "#verify details")
        assert every.get_attribute("open") is None


def test_report_of_run_files_named_on_the_command_line(saved, tmp_path):  # noqa: F811
    folder = next(saved.iterdir())  # the machine folder
    second = next(folder.glob("0002_*.json"))
    proc = run_cli("report", second.name, "-o", str(tmp_path / "one.html"), "--storage", str(tmp_path / "none"),
                   cwd=folder)
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
                           "-w", str(tmp_path / "dist"), str(src)],
                          check=False, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    shipped = set(zipfile.ZipFile(wheel).namelist())
    data = [p for d in ("harness/output/www", "harness/cli/templates") for p in (ROOT / d).rglob("*") if p.is_file()]
    wanted = {p.relative_to(ROOT).as_posix() for p in data if "__pycache__" not in p.parts}
    assert {"harness/output/www/report.js", "harness/cli/templates/newplugin/setup.cfg.tmpl"} <= wanted
    assert wanted - shipped == set()
    assert "harness/output/html_report.py" in shipped and "harness/analysis/stats.py" in shipped
