"""The public Python API (issue 7): the pinned surface, typing marker, thread safety, and the
README's Embedding examples, run as they are written."""

from __future__ import annotations

import contextlib
import inspect
import io
import re
import shutil
import subprocess
import sys
import threading
import types
import zipfile
from concurrent.futures import ThreadPoolExecutor

import pytest
from conftest import EXAMPLES, ROOT, profile

import advisor

#: The public surface. Changing it is an API change: update README's Embedding section and the
#: CHANGELOG with it.
PUBLIC = [
    "AdvisorError",
    "Assessment",
    "InputError",
    "OutputError",
    "ProbeResult",
    "Problem",
    "Requirements",
    "RulePack",
    "RulePackError",
    "UsageError",
    "__version__",
    "load_requirements",
    "load_rulepack",
    "recommend",
    "recommend_many",
    "render",
    "screen",
]


def test_all_is_pinned():
    assert advisor.__all__ == PUBLIC
    assert dir(advisor) == sorted(PUBLIC)
    for name in PUBLIC:
        assert getattr(advisor, name) is not None, name
    ns: dict[str, object] = {}
    exec("from advisor import *", ns)  # noqa: S102 - the star import a user would write
    assert set(PUBLIC) - {"__version__"} <= set(ns)
    with pytest.raises(AttributeError):
        advisor.assess  # noqa: B018 - internals are not re-exported


def test_public_names_are_never_shadowed_by_modules():
    # Every module is private (advisor/_render.py, ...), so importing any of them can never
    # replace a public name such as `render`: the package needs no module-class trick.
    import importlib
    import pkgutil

    modules = [m.name for m in pkgutil.iter_modules(advisor.__path__) if m.name != "__main__"]
    assert modules and all(m.startswith("_") for m in modules), modules
    for name in modules:
        importlib.import_module(f"advisor.{name}")
    assert type(sys.modules["advisor"]) is types.ModuleType
    for name in PUBLIC:
        assert not isinstance(getattr(advisor, name), types.ModuleType), name
    assert advisor.render is importlib.import_module("advisor._render").render


def test_every_error_class_is_public():
    import advisor._errors as errors

    classes = {
        n
        for n, c in vars(errors).items()
        if inspect.isclass(c) and issubclass(c, advisor.AdvisorError)
    }
    assert classes <= set(PUBLIC)
    for name in classes - {"AdvisorError"}:
        assert issubclass(getattr(advisor, name), advisor.AdvisorError)


def test_signatures_as_documented():
    sig = inspect.signature(advisor.recommend)
    names = list(sig.parameters)
    assert names[:3] == ["requirements", "rulepack", "explain"]
    for name in names[1:]:  # options are keyword-only, so more can be added compatibly
        assert sig.parameters[name].kind is inspect.Parameter.KEYWORD_ONLY, name
    assert sig.parameters["explain"].default is True
    assert inspect.signature(advisor.load_rulepack).parameters["path"].default is None
    assert inspect.signature(advisor.render).parameters["format"].default == "html"
    a = advisor.recommend(profile(), explain=False)
    assert isinstance(a, advisor.Assessment)
    for fmt in ("html", "md", "json", "adr"):
        assert advisor.render(a, format=fmt).strip()
    with pytest.raises(ValueError):
        advisor.render(a, format="pdf")


def test_py_typed_ships_in_the_wheel(tmp_path):
    assert (ROOT / "advisor" / "py.typed").is_file()
    proc = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    names = set(zipfile.ZipFile(next(tmp_path.glob("e2e_advisor-*.whl"))).namelist())
    assert "advisor/py.typed" in names
    assert "advisor/_data/templates/portfolio.html.j2" in names
    for module in ("_batch", "_cli/batch", "_packcheck", "_cli/rules", "_cli/serve", "_server"):
        assert f"advisor/{module}.py" in names


def test_concurrent_recommend_calls_agree_with_sequential_ones(pack):
    docs = [advisor.load_requirements(p) for p in EXAMPLES[:4]]
    expected = [advisor.recommend(d, rulepack=pack).to_json() for d in docs]
    quick = [
        profile(data={"paired_examples": 10**k}, latency={"budget_ms": 5 * 3**k}) for k in range(8)
    ]
    expected_quick = [advisor.recommend(q, rulepack=pack, explain=False).to_json() for q in quick]
    barrier = threading.Barrier(8)

    def work(i: int) -> tuple[str, str]:
        barrier.wait()
        full = advisor.recommend(docs[i % 4], rulepack=pack).to_json()
        fast = advisor.recommend(quick[i], explain=False).to_json()  # the default pack, cached
        return full, fast

    with ThreadPoolExecutor(max_workers=8) as ex:
        results = list(ex.map(work, range(8)))
    for i, (full, fast) in enumerate(results):
        assert full == expected[i % 4]
        assert fast == expected_quick[i]


def test_rule_pack_is_loaded_once_across_threads(tmp_path, monkeypatch):
    import advisor._resources as resources

    folder = tmp_path / "pack"
    shutil.copytree(ROOT / "rules", folder)
    builds = []
    real = resources.build_pack

    def counting(*args, **kwargs):
        builds.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(resources, "build_pack", counting)
    barrier = threading.Barrier(8)

    def load(_: int) -> object:
        barrier.wait()
        return advisor.load_rulepack(folder)

    with ThreadPoolExecutor(max_workers=8) as ex:
        packs = list(ex.map(load, range(8)))
    assert len(builds) == 1
    assert all(p is packs[0] for p in packs)
    assert advisor.load_rulepack() is advisor.load_rulepack()


def readme_python_blocks(section: str) -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    body = text.split(f"## {section}", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", body, re.S)


def test_readme_embedding_examples_run(monkeypatch):
    blocks = readme_python_blocks("Embedding: the Python API")
    assert len(blocks) >= 3
    monkeypatch.chdir(ROOT)
    outputs = []
    for block in blocks:
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(block, "README.md", "exec"), {"__name__": "readme"})  # noqa: S102
        outputs.append(out.getvalue())
    first, errors, threads = outputs[:3]
    assert first.split()[0] in ("end_to_end", "modular", "hybrid")
    assert "must be greater than 0 (got -5)" in errors
    lines = threads.strip().splitlines()
    assert len(lines) == 6
    # The bank pack never gives pure end-to-end to a customer-facing project (odd i).
    for i, line in zip(range(2, 8), lines, strict=True):
        assert line.startswith(f"project {i}: ")
        if i % 2:
            assert "end_to_end" not in line


def test_recommend_many_equals_recommend_on_each_in_order(pack):
    docs = [advisor.load_requirements(p) for p in EXAMPLES[:3]] + [profile(name="mapping")]
    expected = [advisor.recommend(d, rulepack=pack).to_json() for d in docs]
    for jobs in (1, 2, 0):
        got = advisor.recommend_many(docs, rulepack=pack, jobs=jobs)
        assert [a.to_json() for a in got] == expected, jobs
        assert all(isinstance(a, advisor.Assessment) for a in got)
    assert advisor.recommend_many([], jobs=2) == []


def _chunk_noting_pid(items):
    """`many._assess_chunk`, noting which process ran it (a file per call, in $PID_DIR)."""
    import os
    import tempfile

    import advisor._many as many

    tempfile.NamedTemporaryFile(
        dir=os.environ["PID_DIR"], prefix=f"{os.getpid()}-", delete=False
    ).close()
    return many._real_chunk(items)


def test_recommend_many_forks_workers_when_it_can(pack, monkeypatch, tmp_path):
    import os

    import advisor._many as many

    if many.fork_context() is None:
        pytest.skip("no fork here, or other threads run: recommend_many works in-process")
    monkeypatch.setenv("PID_DIR", str(tmp_path))
    monkeypatch.setattr(many, "_real_chunk", many._assess_chunk, raising=False)
    monkeypatch.setattr(many, "_assess_chunk", _chunk_noting_pid)
    docs = [profile(name=f"p{i}", data={"paired_examples": 10 ** (i % 7 + 2)}) for i in range(6)]
    got = advisor.recommend_many(docs, rulepack=pack, explain=False, jobs=2)
    assert [a.name for a in got] == [f"p{i}" for i in range(6)]
    assert [a.to_json() for a in got] == [
        advisor.recommend(d, rulepack=pack, explain=False).to_json() for d in docs
    ]
    pids = {int(p.name.split("-")[0]) for p in tmp_path.iterdir()}
    assert pids and os.getpid() not in pids  # the chunks ran, in forked workers


def test_recommend_many_refuses_bad_items_before_assessing_any():
    bad = profile(latency={"budget_ms": -5})
    with pytest.raises(advisor.InputError) as e:
        advisor.recommend_many([profile(), bad, {"name": "x"}], jobs=2)
    assert e.value.problems[0] == "<item 1>: latency.budget_ms: must be greater than 0 (got -5)"
    assert all(p.startswith(("<item 1>: ", "<item 2>: ")) for p in e.value.problems)
    with pytest.raises(ValueError, match="jobs"):
        advisor.recommend_many([profile()], jobs=-1)


@pytest.mark.parametrize(
    ("item", "kind"), [(5, "got int"), ("name: x", "got str"), ([("name", "x")], "got a list")]
)
def test_an_item_that_is_not_a_mapping_is_refused_with_one_line(item, kind):
    # As a file's top level is refused; dict() of a list of pairs would have taken it.
    with pytest.raises(advisor.InputError) as e:
        advisor.recommend(item)
    assert e.value.problems == [f"<mapping>: (top level): must be a mapping of fields, {kind}"]
    with pytest.raises(advisor.InputError) as e:
        advisor.recommend_many([profile(), item, None])
    assert e.value.problems == [
        f"<item 1>: (top level): must be a mapping of fields, {kind}",
        "<item 2>: (top level): no fields (empty, only comments or null)",
    ]


def _many_in_a_pool_worker(_: int) -> list[str]:
    return [
        a.recommendation
        for a in advisor.recommend_many(
            [profile(name="a"), profile(name="b"), profile(name="c")], explain=False, jobs=2
        )
    ]


def test_recommend_many_inside_a_daemonic_pool_worker_works_in_process():
    import multiprocessing

    if "fork" not in multiprocessing.get_all_start_methods():
        pytest.skip("no fork on this platform")
    with multiprocessing.get_context("fork").Pool(1) as pool:
        got = pool.map(_many_in_a_pool_worker, [0])
    expected = advisor.recommend(profile(), explain=False).recommendation
    assert got == [[expected] * 3]
