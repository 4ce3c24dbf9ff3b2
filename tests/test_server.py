"""The JSON service (issue 7): endpoints, content negotiation, limits and errors through FastAPI's
TestClient, and one real uvicorn on loopback. Skipped when the `server` extra is not installed."""

from __future__ import annotations

import json
import os
import socket
import threading
import time
import warnings
from pathlib import Path

import pytest
from conftest import ROOT

pytest.importorskip("fastapi", reason="the server extra is not installed: pip install '.[server]'")
pytest.importorskip("uvicorn", reason="the server extra is not installed: pip install '.[server]'")
pytest.importorskip("httpx", reason="httpx (FastAPI's TestClient) is not installed")

with warnings.catch_warnings():
    # Recent Starlette warns (a UserWarning) that its TestClient is moving from httpx to httpx2.
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from advisor._cli.main import main  # noqa: E402
from advisor._requirements import Requirements  # noqa: E402
from advisor._server import MAX_BODY, create_app, negotiate  # noqa: E402

VOICE = ROOT / "examples" / "realtime-voice-agent.yaml"
GOOD = {
    "name": "svc",
    "task": {"modality": "text"},
    "data": {"paired_examples": 20000},
    "latency": {"budget_ms": 250},
}


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app()) as c:
        yield c


def test_healthz_schema_and_openapi(client):
    r = client.get("/healthz")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok" and body["rulepack"]["name"] == "default"
    assert len(body["rulepack"]["sha256"]) == 64
    r = client.get("/v1/schema")
    assert r.json() == {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "urn:e2e-advisor:schema:requirements:1",
        **Requirements.model_json_schema(),
    }  # as `advisor schema` prints it
    doc = client.get("/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    post = doc["paths"]["/v1/assessments"]["post"]
    assert post["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Requirements"
    }
    for code in ("200", "400", "413", "415", "422", "500"):
        assert code in post["responses"], code
    schemas = doc["components"]["schemas"]
    assert {"Requirements", "Assessment", "Range"} <= set(schemas)
    assert "/healthz" in doc["paths"] and "/v1/schema" in doc["paths"]


def test_assessment_json_is_byte_identical_to_the_cli(client, tmp_path):
    import yaml

    doc = yaml.safe_load(VOICE.read_text())
    r = client.post("/v1/assessments", json=doc)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/json")
    out = tmp_path / "voice.json"
    with pytest.raises(SystemExit) as e:
        main(["recommend", str(VOICE), "-o", str(out)])
    assert e.value.code == 0
    assert r.content == out.read_bytes()
    data = json.loads(r.content)
    assert data["attributions"] and data["recommendation"] in ("end_to_end", "modular", "hybrid")


def test_content_negotiation(client):
    r = client.post("/v1/assessments?explain=false", json=GOOD, headers={"accept": "text/html"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert r.text.startswith("<!DOCTYPE html>") and "svc" in r.text
    r = client.post("/v1/assessments?explain=false", json=GOOD, headers={"accept": "text/markdown"})
    assert r.headers["content-type"].startswith("text/markdown")
    r = client.post(
        "/v1/assessments?explain=false",
        json=GOOD,
        headers={"accept": "text/html;q=0.5, application/json"},
    )
    assert r.headers["content-type"].startswith("application/json")
    assert json.loads(r.content)["attributions"] == []
    assert negotiate(None) == "json" and negotiate("*/*") == "json"
    assert negotiate("text/html,application/xhtml+xml,*/*;q=0.8") == "html"


def test_invalid_input_is_422_with_field_paths(client):
    bad = {
        "name": "x",
        "data": {"paired_examples": -1},
        "latency": {"budget_ms": -5},
        "regulation": {"criticality": "very"},
        "colour": "red",
    }
    r = client.post("/v1/assessments", json=bad)
    assert r.status_code == 422
    detail = r.json()["detail"]
    fields = {d["field"]: d for d in detail}
    assert fields["latency.budget_ms"] == {
        "loc": ["body", "latency", "budget_ms"],
        "field": "latency.budget_ms",
        "msg": "must be greater than 0 (got -5)",
    }
    assert set(fields) == {
        "data.paired_examples",
        "latency.budget_ms",
        "regulation.criticality",
        "colour",
    }
    r = client.post("/v1/assessments", json=[1, 2])
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "(top level)"


def test_unreadable_bodies(client):
    r = client.post(
        "/v1/assessments", content=b'{"name": ', headers={"content-type": "application/json"}
    )
    assert r.status_code == 400 and "not valid JSON" in r.json()["detail"]
    r = client.post(
        "/v1/assessments",
        content=b'{"name": "a", "name": "b"}',
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 400 and "duplicate key 'name'" in r.json()["detail"]
    r = client.post(
        "/v1/assessments", content=b'{"name": NaN}', headers={"content-type": "application/json"}
    )
    assert r.status_code == 400
    r = client.post("/v1/assessments", content=b"name: x", headers={"content-type": "text/yaml"})
    assert r.status_code == 415


def test_bodies_over_1_mb_are_413(client):
    big = b'{"name": "' + b"x" * 1_000_001 + b'"}'
    r = client.post("/v1/assessments", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413 and "larger than 1 MB" in r.json()["detail"]

    def chunks():  # no Content-Length: the limit holds while streaming
        for _ in range(20):
            yield b"x" * 100_000

    r = client.post(
        "/v1/assessments", content=chunks(), headers={"content-type": "application/json"}
    )
    assert r.status_code == 413


def test_internal_error_is_500_without_traceback(monkeypatch):
    import advisor._engine

    def boom(*args, **kwargs):
        raise RuntimeError("secret internals at /srv/app/engine.py line 3")

    monkeypatch.setattr(advisor._engine, "assess", boom)
    with TestClient(create_app(), raise_server_exceptions=False) as c:
        r = c.post("/v1/assessments", json=GOOD)
    assert r.status_code == 500
    assert r.json() == {"detail": "internal error"}
    assert "secret" not in r.text and "Traceback" not in r.text


def test_serve_binds_loopback_by_default(monkeypatch):
    import uvicorn

    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(kw))
    with pytest.raises(SystemExit) as e:
        main(["serve"])
    assert e.value.code == 0
    assert seen["host"] == "127.0.0.1" and seen["port"] == 8000


def test_real_uvicorn_on_loopback():
    import httpx
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(), log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.started
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, timeout=60) as http:
            assert http.get("/healthz").json()["status"] == "ok"
            r = http.post("/v1/assessments", params={"explain": "false"}, json=GOOD)
            assert r.status_code == 200 and r.json()["name"] == "svc"
            r = http.post(
                "/v1/assessments",
                content=b"x" * 1_100_000,
                headers={"content-type": "application/json"},
            )
            assert r.status_code == 413
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        sock.close()


# ---------------------------------------------------------------------------------------------
# Hostile bodies: whatever arrives, the service answers 200 or a 4xx with a JSON detail, never a
# 500 (a bug) and never a traceback.

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from strategies import profiles  # noqa: E402
from test_fuzz import spliced  # noqa: E402

_CLIENT = TestClient(create_app(), raise_server_exceptions=False)
_TYPES = st.sampled_from(
    [
        "application/json",
        "application/json; charset=utf-8",
        "text/plain",
        "application/x-www-form-urlencoded",
        "",
        "application/JSON",
    ]
)
_FUZZ = settings(
    max_examples=300, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck)
)


def _answered(r) -> None:
    assert r.status_code in (200, 400, 413, 415, 422), (r.status_code, r.text[:300])
    assert "Traceback" not in r.text
    if r.status_code != 200:
        assert "detail" in r.json()


@_FUZZ
@given(body=st.binary(max_size=600), content_type=_TYPES)
def test_fuzz_service_bytes(body, content_type):
    r = _CLIENT.post(
        "/v1/assessments?explain=false",
        content=body,
        headers={"content-type": content_type} if content_type else {},
    )
    _answered(r)


@_FUZZ
@given(doc=profiles(), data=st.data())
def test_fuzz_service_spliced_json(doc, data):
    text = data.draw(spliced(json.dumps(doc)))
    r = _CLIENT.post(
        "/v1/assessments?explain=false",
        content=text.encode("utf-8", "surrogatepass"),
        headers={"content-type": "application/json"},
    )
    _answered(r)


# ---------------------------------------------------------------------------------------------
# Hostile bodies by class (issue 15): each answered 200 or 4xx with a JSON detail, never 500.

_SURROGATES = [
    '{"name": "x", "task": {"modality": "text"}, "data": {"paired_examples": 20000}, '
    '"latency": {"budget_ms": 250}, "regulation": {"regimes": ["\\ud800"]}}',
    '{"name": "\\udfff", "task": {"modality": "text"}, "data": {"paired_examples": 20000}, '
    '"latency": {"budget_ms": 250}}',
    '{"name": "x", "description": "a \\ud83d b", "task": {"modality": "text"}, '
    '"data": {"paired_examples": 20000}, "latency": {"budget_ms": 250}}',
    '{"\\ud800": 1}',
]


def _with(**section):
    doc = json.loads(json.dumps(GOOD))
    doc.update(section)
    return json.dumps(doc)


_HOSTILE = {
    "lone surrogates": _SURROGATES,
    "deep nesting": [
        "[" * 100_000 + "]" * 100_000,
        '{"a":' * 5_000 + "1" + "}" * 5_000,
        _with(task={"modality": "text", "x": json.loads("[" * 40 + "]" * 40)}),
    ],
    "underflowing ranges": [
        _with(latency={"budget_ms": {"low": 1e-200, "high": 1e-170}}),
        _with(data={"paired_examples": {"low": 5e-324, "high": 1e-300}}),
    ],
    "overflowing numbers": [
        _with(latency={"budget_ms": "1e309 ms"}),
        _with(latency={"budget_ms": 1e308}),
        _with(data={"paired_examples": "1e308k"}),
        '{"name": "x", "latency": {"budget_ms": 1e309}}',
    ],
    "wrong shapes": [
        "[]",
        '"x"',
        "null",
        "1",
        _with(latency=[1, 2]),
        _with(task="text"),
        _with(regulation={"regimes": {"a": 1}}),
    ],
}


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b, id=f"{k}-{i}")
        for k, bodies in _HOSTILE.items()
        for i, b in enumerate(bodies)
    ],
)
@pytest.mark.parametrize("accept", ["application/json", "text/html", "text/markdown"])
def test_hostile_bodies_are_4xx_with_a_detail(body, accept):
    r = _CLIENT.post(
        "/v1/assessments?explain=false",
        content=body.encode("utf-8"),
        headers={"content-type": "application/json", "accept": accept},
    )
    _answered(r)


def test_lone_surrogates_are_refused_by_name():
    r = _CLIENT.post(
        "/v1/assessments",
        content=_SURROGATES[0].encode(),
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 400
    assert r.json() == {
        "detail": "a lone UTF-16 surrogate (\\ud800) is not a character; send valid Unicode text"
    }
    # A proper pair is one character, and fine.
    ok = _with(name="smile \\ud83d\\ude00").replace("\\\\", "\\")
    r = _CLIENT.post(
        "/v1/assessments?explain=false",
        content=ok.encode(),
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 200 and r.json()["name"] == "smile \U0001f600"


def test_huge_bodies_are_413_with_or_without_a_length():
    big = ('{"name": "' + "x" * MAX_BODY + '"}').encode()
    r = _CLIENT.post("/v1/assessments", content=big, headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["detail"] == "the body is larger than 1 MB"
    r = _CLIENT.post(
        "/v1/assessments",
        content=iter([big[:600_000], big[600_000:]]),
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 413
    r = _CLIENT.post(
        "/v1/assessments",
        content=b"{}",
        headers={"content-type": "application/json", "content-length": "ten"},
    )
    assert r.status_code == 400 and r.json() == {"detail": "invalid Content-Length"}


def test_every_advisor_error_is_422_never_500(monkeypatch):
    # Whatever step raises it (assessment, rendering), an AdvisorError is about the input.
    import importlib

    import advisor._engine
    from advisor._errors import InputError, Problem, RulePackError

    def refuse(*args, **kwargs):
        # Structured problems (issue 13): the service reads their fields, never their text.
        raise RulePackError(
            [
                Problem(
                    "<body>",
                    "latency.budget_ms",
                    "out of the pack's range",
                    ("latency", "budget_ms"),
                ),
                "pack.yaml: something the body did not say",
            ]
        )

    monkeypatch.setattr(advisor._engine, "assess", refuse)
    with TestClient(create_app(), raise_server_exceptions=False) as c:
        r = c.post("/v1/assessments", json=GOOD)
    assert r.status_code == 422
    assert r.json() == {
        "detail": [
            {
                "loc": ["body", "latency", "budget_ms"],
                "field": "latency.budget_ms",
                "msg": "out of the pack's range",
            },
            {
                "loc": ["body"],
                "field": "(request)",
                "msg": "pack.yaml: something the body did not say",
            },
        ]
    }
    monkeypatch.undo()

    def bad_render(*args, **kwargs):
        raise InputError(Problem("<body>", "name", "cannot be shown", ("name",)))

    # the module behind the public `render` function
    monkeypatch.setattr(importlib.import_module("advisor._render"), "render", bad_render)
    with TestClient(create_app(), raise_server_exceptions=False) as c:
        r = c.post("/v1/assessments?explain=false", json=GOOD, headers={"accept": "text/html"})
    assert r.status_code == 422
    assert r.json()["detail"] == [
        {"loc": ["body", "name"], "field": "name", "msg": "cannot be shown"}
    ]


# ---------------------------------------------------------------------------------------------
# Schema and service items of issue 16.


def _resolve(schema, doc):
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        schema = doc["components"]["schemas"][name]
    return schema


def _conforms(value, schema, doc) -> bool:
    # Enough JSON Schema for the error bodies: $ref, type, properties, required, items, anyOf.
    schema = _resolve(schema, doc)
    if "anyOf" in schema:
        return any(_conforms(value, s, doc) for s in schema["anyOf"])
    kind = schema.get("type")
    types = {"object": dict, "array": list, "string": str, "integer": int}
    if kind in types and (not isinstance(value, types[kind]) or isinstance(value, bool)):
        return False
    if kind == "object":
        if not set(schema.get("required", [])) <= set(value):
            return False
        props = schema.get("properties", {})
        return all(_conforms(v, props[k], doc) for k, v in value.items() if k in props)
    if kind == "array":
        return all(_conforms(v, schema.get("items", {}), doc) for v in value)
    return True


def test_openapi_error_schemas_match_the_real_bodies(client):
    doc = client.get("/openapi.json").json()
    responses = doc["paths"]["/v1/assessments"]["post"]["responses"]
    assert "HTTPValidationError" not in json.dumps(doc)

    def schema_of(code):
        return responses[code]["content"]["application/json"]["schema"]

    bad = {"name": "x", "latency": {"budget_ms": -5}, "colour": "red"}
    seen = {
        "422": [
            client.post("/v1/assessments", json=bad),
            client.post("/v1/assessments?explain=maybe", json=GOOD),
            client.post("/v1/assessments", json=[1]),
        ],
        "400": [
            client.post(
                "/v1/assessments", content=b"{", headers={"content-type": "application/json"}
            )
        ],
        "413": [
            client.post(
                "/v1/assessments",
                content=b" " * (MAX_BODY + 1),
                headers={"content-type": "application/json"},
            )
        ],
        "415": [
            client.post("/v1/assessments", content=b"a: 1", headers={"content-type": "text/yaml"})
        ],
    }
    for code, answers in seen.items():
        for r in answers:
            assert str(r.status_code) == code, r.text
            assert _conforms(r.json(), schema_of(code), doc), (code, r.json())
    # A body of the other shape does not conform: the check can fail.
    assert not _conforms({"detail": "text"}, schema_of("422"), doc)
    assert not _conforms(
        {"detail": [{"loc": ["query"], "msg": "x", "type": "t"}]}, schema_of("422"), doc
    )
    assert not _conforms({"detail": []}, schema_of("400"), doc)
    assert "Retry-After" in responses["503"]["headers"]


def test_explain_maybe_gets_the_services_own_422(client):
    r = client.post("/v1/assessments?explain=maybe", json=GOOD)
    assert r.status_code == 422
    assert r.json() == {
        "detail": [
            {
                "loc": ["query", "explain"],
                "field": "explain",
                "msg": "must be true or false (got 'maybe')",
            }
        ]
    }


def test_head_healthz_and_no_docs_pages(client):
    r = client.head("/healthz")
    assert r.status_code == 200 and r.content == b""
    assert r.headers["content-type"] == "application/json"
    # FastAPI's /docs and /redoc load their scripts from a CDN (a blank page offline): left
    # out; the OpenAPI document is served.
    assert client.get("/docs").status_code == 404
    assert client.get("/redoc").status_code == 404
    assert client.get("/openapi.json").status_code == 200


# ---------------------------------------------------------------------------------------------
# Work off the event loop, time limits, slow clients (issue 15), on a real uvicorn on loopback.
# Nothing here asserts a duration: a blocked request is held by an Event until the test lets it
# go, so what is checked is what answers while it is held.

import contextlib  # noqa: E402

from advisor._server import Limits  # noqa: E402
from advisor._server_http import HeadTimeoutH11Protocol, uvicorn_settings  # noqa: E402

WAIT = 60  # seconds: a safety net for a wedged test, never a measurement


@contextlib.contextmanager
def serving(app, protocol=HeadTimeoutH11Protocol):
    """Run `app` on uvicorn (advisor serve's settings) on a free loopback port; give its URL."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", **uvicorn_settings(protocol))
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + WAIT
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.started
        yield f"http://127.0.0.1:{port}", port
    finally:
        server.should_exit = True
        thread.join(timeout=WAIT)
        sock.close()


class Gate:
    """A stand-in for engine.assess that blocks the requests named "slow" until opened."""

    def __init__(self, real):
        self.real, self.entered, self.opened = real, threading.Event(), threading.Event()

    def __call__(self, req, *args, **kwargs):
        if req.name == "slow":
            self.entered.set()
            assert self.opened.wait(WAIT)
        return self.real(req, *args, **kwargs)


@pytest.fixture
def gate(monkeypatch):
    import advisor._engine

    g = Gate(advisor._engine.assess)
    monkeypatch.setattr(advisor._engine, "assess", g)
    yield g
    g.opened.set()


SLOW = {**GOOD, "name": "slow"}


def _post_in_background(base, body, results, **kw):
    import httpx

    def run():
        results.append(
            httpx.post(
                f"{base}/v1/assessments?explain=false",
                timeout=WAIT,
                **(
                    {"json": body}
                    if not isinstance(body, bytes)
                    else {"content": body, "headers": {"content-type": "application/json"}}
                ),
                **kw,
            )
        )

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def test_healthz_and_others_answer_while_a_request_computes(gate):
    import httpx

    with serving(create_app()) as (base, _):
        results: list = []
        t = _post_in_background(base, SLOW, results)
        assert gate.entered.wait(WAIT)
        # The slow request holds a worker thread; the event loop still answers.
        r = httpx.get(f"{base}/healthz", timeout=WAIT)
        assert r.status_code == 200 and r.json()["in_progress"] == 1
        r = httpx.post(f"{base}/v1/assessments?explain=false", json=GOOD, timeout=WAIT)
        assert r.status_code == 200 and r.json()["name"] == "svc"
        assert t.is_alive() and not results  # still held
        gate.opened.set()
        t.join(WAIT)
        assert results[0].status_code == 200 and results[0].json()["name"] == "slow"


def test_a_request_over_its_time_limit_gets_503_with_retry_after(gate):
    import httpx

    with serving(create_app(limits=Limits(request_timeout=0.5))) as (base, _):
        r = httpx.post(f"{base}/v1/assessments?explain=false", json=SLOW, timeout=WAIT)
        assert r.status_code == 503
        assert r.headers["retry-after"] == "5"
        assert r.json() == {"detail": "the request took longer than 0.5 s; retry later"}
        assert not gate.opened.is_set()  # answered while the work was still held
        gate.opened.set()
        # The held work ends on its own and frees its thread: the next request is served.
        r = httpx.post(f"{base}/v1/assessments?explain=false", json=GOOD, timeout=WAIT)
        assert r.status_code == 200


def test_a_full_lane_answers_503_at_once_and_large_bodies_have_their_own(gate):
    import httpx

    limits = Limits(threads=1, queue=0, heavy_body=2_000, heavy_threads=1, heavy_queue=0)
    with serving(create_app(limits=limits)) as (base, _):
        results: list = []
        t = _post_in_background(base, SLOW, results)
        assert gate.entered.wait(WAIT)
        r = httpx.post(f"{base}/v1/assessments?explain=false", json=GOOD, timeout=WAIT)
        assert r.status_code == 503 and r.headers["retry-after"] == "5"
        assert r.json() == {"detail": "busy: every worker is taken; retry later"}
        # A large body goes to the heavy lane, whose thread is free.
        padded = json.dumps({**GOOD, "description": "x" * 3_000}).encode()
        r = httpx.post(
            f"{base}/v1/assessments?explain=false",
            content=padded,
            timeout=WAIT,
            headers={"content-type": "application/json"},
        )
        assert r.status_code == 200
        gate.opened.set()
        t.join(WAIT)
        assert results[0].status_code == 200


def test_a_slow_heavy_request_leaves_ordinary_ones_served(gate):
    import httpx

    limits = Limits(heavy_body=2_000, heavy_threads=1, heavy_queue=0)
    with serving(create_app(limits=limits)) as (base, _):
        results: list = []
        slow_big = json.dumps({**SLOW, "description": "x" * 3_000}).encode()
        t = _post_in_background(base, slow_big, results)
        assert gate.entered.wait(WAIT)
        r = httpx.post(
            f"{base}/v1/assessments?explain=false",
            content=slow_big,
            timeout=WAIT,
            headers={"content-type": "application/json"},
        )
        assert r.status_code == 503  # the heavy lane is full...
        assert r.headers["connection"] == "close"  # ...refused before its body was read
        r = httpx.post(f"{base}/v1/assessments?explain=false", json=GOOD, timeout=WAIT)
        assert r.status_code == 200  # ...and ordinary requests do not wait behind it
        gate.opened.set()
        t.join(WAIT)
        assert results[0].status_code == 200


def test_a_body_with_many_items_goes_to_the_heavy_lane(gate):
    # Small in bytes, but many members or list items (costly to validate): the heavy lane, by
    # a count of commas made before parsing; ordinary requests keep their own lane.
    import httpx

    limits = Limits(heavy_items=100, heavy_threads=1, heavy_queue=0)
    with serving(create_app(limits=limits)) as (base, _):
        results: list = []
        t = _post_in_background(base, {**SLOW, "description": "a, " * 200}, results)
        assert gate.entered.wait(WAIT)
        many_unknown = {**GOOD, **{f"unknown_{i}": i for i in range(200)}}
        assert len(json.dumps(many_unknown)) < limits.heavy_body
        r = httpx.post(f"{base}/v1/assessments?explain=false", json=many_unknown, timeout=WAIT)
        assert r.status_code == 503 and r.headers["retry-after"] == "5"  # the heavy lane is full
        r = httpx.post(f"{base}/v1/assessments?explain=false", json=GOOD, timeout=WAIT)
        assert r.status_code == 200 and r.json()["name"] == "svc"  # the ordinary lane is free
        assert httpx.get(f"{base}/healthz", timeout=WAIT).json()["in_progress"] == 1
        gate.opened.set()
        t.join(WAIT)
        assert results[0].status_code == 200 and results[0].json()["name"] == "slow"
        # With the heavy lane free again, the many-fields body is validated there: 422.
        r = httpx.post(f"{base}/v1/assessments?explain=false", json=many_unknown, timeout=WAIT)
        assert r.status_code == 422
        assert r.json()["detail"][0]["field"] == "unknown_0"


def test_a_streamed_large_body_stops_being_read_while_the_heavy_lane_is_full(gate):
    # No Content-Length to refuse it by: once it streams past the large-body size with the
    # heavy lane full, 503 and the connection closed (the rest is never read).
    import httpx

    limits = Limits(heavy_body=2_000, heavy_threads=1, heavy_queue=0)
    headers = {"content-type": "application/json"}
    padded = json.dumps({**GOOD, "description": "x" * 3_000}).encode()

    def pieces(body: bytes):
        for i in range(0, len(body), 500):
            yield body[i : i + 500]

    with serving(create_app(limits=limits)) as (base, _):
        results: list = []
        t = _post_in_background(
            base, json.dumps({**SLOW, "description": "x" * 3_000}).encode(), results
        )
        assert gate.entered.wait(WAIT)
        url = f"{base}/v1/assessments?explain=false"
        r = httpx.post(url, content=pieces(padded), headers=headers, timeout=WAIT)
        assert "content-length" not in r.request.headers  # streamed (chunked)
        assert r.status_code == 503 and r.headers["connection"] == "close"
        assert r.json() == {"detail": "busy: every worker is taken; retry later"}
        small = json.dumps(GOOD).encode()
        r = httpx.post(url, content=pieces(small), headers=headers, timeout=WAIT)
        assert r.status_code == 200  # a streamed ordinary body is read and served
        gate.opened.set()
        t.join(WAIT)
        assert results[0].status_code == 200
        r = httpx.post(url, content=pieces(padded), headers=headers, timeout=WAIT)
        assert r.status_code == 200  # the heavy lane has room again: read whole and served


def test_lanes_count_each_held_place_once():
    # The one bookkeeping path: a place is taken by submit and given back when the future is
    # done, whether it ran, raised or was cancelled in the queue.
    from advisor._server import _Lane

    lane = _Lane("test", threads=1, queue=1)
    go = threading.Event()
    running = lane.submit(go.wait, WAIT)
    queued = lane.submit(lambda: 1 / 0)
    assert running is not None and queued is not None
    assert lane.held == 2 and not lane.has_room()
    assert lane.submit(print) is None  # full: refused, not counted
    assert lane.held == 2
    go.set()
    assert running.result(WAIT) is True
    assert isinstance(queued.exception(WAIT), ZeroDivisionError)
    deadline = time.monotonic() + WAIT  # done callbacks run just after the result is set
    while lane.held and time.monotonic() < deadline:
        time.sleep(0.01)
    assert lane.held == 0 and lane.has_room()
    go.clear()
    started = threading.Event()

    def hold() -> bool:
        started.set()
        return go.wait(WAIT)

    blocker = lane.submit(hold)
    waiting = lane.submit(print)
    assert blocker is not None and waiting is not None
    assert started.wait(WAIT)  # running, not queued: close leaves it to end on its own
    lane.close()  # drops the queued one: its place is given back
    assert waiting.cancelled()
    go.set()
    blocker.result(WAIT)
    deadline = time.monotonic() + WAIT
    while lane.held and time.monotonic() < deadline:
        time.sleep(0.01)
    assert lane.held == 0
    assert lane.submit(print) is None and not lane.has_room()  # closed


class _QuickHead(HeadTimeoutH11Protocol):
    head_timeout = 0.3


def _closed_by_server(conn: socket.socket) -> bytes:
    # Read until the server closes the connection; give what it sent.
    conn.settimeout(WAIT)
    got = b""
    while chunk := conn.recv(65536):
        got += chunk
    return got


def test_slow_loris_connections_are_closed():
    with serving(create_app(), protocol=_QuickHead) as (base, port):
        # A request head that never completes: closed, nothing sent.
        with socket.create_connection(("127.0.0.1", port)) as conn:
            conn.sendall(b"POST /v1/assessments HTTP/1.1\r\nHost: x\r\nX-a: ")
            assert _closed_by_server(conn) == b""
        # After a first answer on a keep-alive connection, the next head gets its own deadline.
        with socket.create_connection(("127.0.0.1", port)) as conn:
            conn.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\nGET /hea")
            got = _closed_by_server(conn)
            assert got.startswith(b"HTTP/1.1 200 ") and got.count(b"HTTP/1.1") == 1


def test_a_body_that_does_not_arrive_gets_408():
    with serving(create_app(limits=Limits(body_timeout=0.3))) as (base, port):
        with socket.create_connection(("127.0.0.1", port)) as conn:
            conn.sendall(
                b"POST /v1/assessments HTTP/1.1\r\nHost: x\r\n"
                b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"
            )
            got = _closed_by_server(conn)
        head, _, body = got.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 408 ")
        assert json.loads(body) == {"detail": "the body did not arrive within 0.3 s"}


def test_serve_passes_uvicorn_its_limits(monkeypatch):
    import uvicorn

    seen: dict = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(kw, app=app))
    with pytest.raises(SystemExit) as e:
        main(["serve", "--port", "0"])
    assert e.value.code == 0
    assert seen["http"] is HeadTimeoutH11Protocol
    assert (
        seen["timeout_keep_alive"],
        seen["limit_concurrency"],
        seen["h11_max_incomplete_event_size"],
    ) == (5, 200, 16_384)
    assert seen["workers"] == 1 and seen["factory"] is False
    monkeypatch.delenv("ADVISOR_SERVE_RULES", raising=False)
    monkeypatch.delenv("ADVISOR_SERVE_TIMEOUT", raising=False)
    with pytest.raises(SystemExit) as e:
        main(
            [
                "serve",
                "--port",
                "0",
                "--workers",
                "3",
                "--timeout",
                "2.5",
                "--rules",
                str(ROOT / "rules"),
            ]
        )
    assert e.value.code == 0
    # uvicorn's own worker processes import the app by name and build it from the environment.
    assert seen["app"] == "advisor._server:app_from_environment" and seen["factory"] is True
    assert seen["workers"] == 3
    import os

    assert os.environ["ADVISOR_SERVE_TIMEOUT"] == "2.5"
    assert os.environ["ADVISOR_SERVE_RULES"] == str(ROOT / "rules")
    from advisor._server import app_from_environment

    assert TestClient(app_from_environment()).get("/healthz").status_code == 200


def test_a_port_in_use_is_exit_2_with_one_line(monkeypatch, capsys):
    import uvicorn

    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: pytest.fail("uvicorn started"))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(SystemExit) as e:
            main(["serve", "--port", str(port)])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert err == (
        f"error: --port {port}: already in use on 127.0.0.1; stop the other server "
        "or choose another port\n"
    )


def test_uvicorn_failing_to_start_is_exit_2(monkeypatch, capsys):
    import uvicorn

    def fail(*a, **kw):
        raise SystemExit(3)  # what uvicorn does when it cannot start

    monkeypatch.setattr(uvicorn, "run", fail)
    with pytest.raises(SystemExit) as e:
        main(["serve", "--port", "0"])
    assert e.value.code == 2
    assert capsys.readouterr().err == (
        "error: the server on 127.0.0.1:0 could not start (see the log above)\n"
    )


@pytest.mark.skipif(not os.path.exists("/proc/self/task"), reason="reads /proc for child pids")
def test_serve_workers_runs_uvicorns_worker_processes():
    import subprocess
    import sys

    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "advisor", "serve", "--port", str(port), "--workers", "2"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 180  # two workers import the engine on a busy machine
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, "did not start"
            time.sleep(0.5)
        r = httpx.post(
            f"http://127.0.0.1:{port}/v1/assessments?explain=false", json=GOOD, timeout=WAIT
        )
        assert r.status_code == 200 and r.json()["name"] == "svc"
        children = Path("/proc") / str(proc.pid) / "task" / str(proc.pid) / "children"
        kids = children.read_text().split()
        workers = [k for k in kids if b"spawn_main" in (Path("/proc") / k / "cmdline").read_bytes()]
        assert len(workers) == 2, kids
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=WAIT)
    assert proc.returncode == 0, err.decode()[-2000:]


def _wait_heavy_ready(base):
    import httpx

    deadline = time.monotonic() + 180  # a spawned process imports the engine: slow when busy
    while httpx.get(f"{base}/healthz", timeout=WAIT).json()["large_bodies"] != "ready":
        assert time.monotonic() < deadline, "the heavy lane did not start"
        time.sleep(0.2)


def test_large_bodies_in_a_worker_process_and_killed_over_the_time_limit(monkeypatch):
    # advisor serve's heavy lane: large bodies run in a spawned process; one over its time limit
    # has that process killed and a fresh one started (no thread left running on).
    import httpx
    import slow_work

    import advisor._server

    padded = json.dumps({**GOOD, "description": "x" * 3_000}).encode()
    headers = {"content-type": "application/json"}
    limits = Limits(heavy_body=2_000, heavy_processes=True, request_timeout=2, kill_after=0.5)
    with serving(create_app(limits=limits)) as (base, _):
        _wait_heavy_ready(base)
        r = httpx.post(f"{base}/v1/assessments", content=padded, headers=headers, timeout=WAIT)
        assert r.status_code == 200
        assert (
            r.content == _CLIENT.post("/v1/assessments", content=padded, headers=headers).content
        )  # as on a thread
        # Work that never ends, run in the worker process (imported there by name).
        monkeypatch.setattr(advisor._server, "_process_work", slow_work.forever)
        r = httpx.post(f"{base}/v1/assessments", content=padded, headers=headers, timeout=WAIT)
        assert r.status_code == 503 and r.headers["retry-after"] == "5"
        assert r.json() == {"detail": "the request took longer than 2 s; retry later"}
        deadline = time.monotonic() + WAIT  # killed kill_after (0.5 s) later: the lane restarts
        while httpx.get(f"{base}/healthz", timeout=WAIT).json()["large_bodies"] != "starting":
            assert time.monotonic() < deadline, "the stuck worker was not killed"
            time.sleep(0.05)
        r = httpx.post(f"{base}/v1/assessments", content=padded, headers=headers, timeout=WAIT)
        assert r.status_code == 503  # while the fresh process starts: at once, not queued
        assert r.json() == {"detail": "busy: every worker is taken; retry later"}
        r = httpx.post(f"{base}/v1/assessments?explain=false", json=GOOD, timeout=WAIT)
        assert r.status_code == 200  # ordinary requests are served meanwhile
        monkeypatch.undo()
        _wait_heavy_ready(base)
        r = httpx.post(f"{base}/v1/assessments", content=padded, headers=headers, timeout=WAIT)
        assert r.status_code == 200
        # Its processes run at a lower CPU priority than the server's (Limits.heavy_nice).
        monkeypatch.setattr(advisor._server, "_process_work", slow_work.niceness)
        r = httpx.post(f"{base}/v1/assessments", content=padded, headers=headers, timeout=WAIT)
        assert r.status_code == 200
        assert int(r.content) == min(19, os.nice(0) + limits.heavy_nice)
        assert limits.heavy_nice > 0 and (int(r.content) > os.nice(0) or os.nice(0) == 19)
