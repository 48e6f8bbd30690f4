"""docs/writing-plugins.md documents every hook and its arguments, and its tutorial plugin works."""
import inspect
import re

import pytest

from harness import hookspecs
from harness.core import loader as plugins
from harness.testing import check_plugin

from .conftest import ROOT

DOC = (ROOT / "docs" / "writing-plugins.md").read_text()
HOOKSPECS = [f for name, f in inspect.getmembers(hookspecs, inspect.isfunction) if hasattr(f, "harness_spec")]


def test_there_are_hookspecs():
    assert {f.__name__ for f in HOOKSPECS} == {
        "register_data", "register_models", "register_losses", "register_optimizers", "register_fused_steps",
        "register_tasks", "register_algorithms",
    }


def _factory_call(spec) -> str:
    """The factory ``spec``'s docstring tells plugins to register, as it is called: ``data_iter(batch_size, ...)``."""
    doc = inspect.getdoc(spec)
    call = re.search(r"``register\(([^`]*)\)``", doc).group(1)
    factory = [a.strip() for a in call.split(",") if "=" not in a][-1]
    return re.search(rf"``({re.escape(factory)}\([^`]*?\))", doc).group(1)


def undocumented(spec, doc: str) -> list[str]:
    """What ``doc`` fails to say about the hook ``spec``: its section, how each argument is
    called (``register(...)``), and the factory it registers, called as the hookspec says."""
    args = list(inspect.signature(spec).parameters)
    heading = f"### `{spec.__name__}({', '.join(args)})`"
    if heading not in doc:
        return [f"no section {heading}"]
    body = doc.split(heading + "\n", 1)[1].split("\n### ")[0]  # the section without its heading
    prose = doc.replace(heading, "")
    missing = [f"how `{arg}` is called" for arg in args if f"`{arg}(" not in prose]
    factory = _factory_call(spec)
    if f"`{factory}`" not in body:
        missing.append(f"`{factory}` in its section")
    return missing


@pytest.mark.parametrize("spec", HOOKSPECS, ids=lambda f: f.__name__)
def test_every_hook_and_its_arguments_are_documented(spec):
    assert undocumented(spec, DOC) == []


def test_the_documentation_check_notices_what_is_missing():
    spec = hookspecs.register_optimizers
    assert _factory_call(spec) == "make_optimizer(model, lr)"
    heading = "### `register_optimizers(register)`\n"
    body = DOC.split(heading)[1].split("\n### ")[0]
    assert undocumented(spec, DOC.replace(heading + body, heading + "Optimizers.\n")) == [
        "`make_optimizer(model, lr)` in its section"]
    assert undocumented(spec, DOC.replace(heading, "### Optimizers\n")) == ["no section " + heading.strip()]
    assert undocumented(spec, DOC.replace("`register(", "`reg(")) == ["how `register` is called"]


@pytest.mark.parametrize("spec", HOOKSPECS, ids=lambda f: f.__name__)
def test_hookspecs_are_typed_and_explained(spec):
    sig = inspect.signature(spec)
    assert all(p.annotation is not inspect.Parameter.empty for p in sig.parameters.values())
    assert sig.return_annotation is not inspect.Signature.empty
    assert len(inspect.getdoc(spec).splitlines()) >= 5


def test_every_environment_variable_is_documented():
    names = set(re.findall(r"HARNESS_[A-Z_]+", inspect.getsource(plugins)))
    assert names >= {"HARNESS_DISABLE_PLUGIN_AUTOLOAD", "HARNESS_LOAD_PLUGINS", "HARNESS_STRICT_PLUGINS",
                     "HARNESS_TRACE_PLUGINS"}
    assert not [n for n in names if f"`{n}" not in DOC]


def test_the_tutorial_plugin_is_short_and_passes_the_kit(tmp_path):
    code = DOC.split("<!-- tutorial -->\n```python\n")[1].split("```")[0]
    assert len(code.splitlines()) <= 32
    path = tmp_path / "harness_tutorial.py"
    path.write_text(code)
    report = check_plugin(str(path), partners="each")
    assert report.ok, str(report)
    assert {(c.role, c.name) for c in report.cases if c.kind == "contract"} == {("optimizer", "fused_sgd"),
                                                                                ("loss", "half_square")}


def test_readme_points_to_the_guide():
    assert "docs/writing-plugins.md" in (ROOT / "README.md").read_text()
