"""The JSON service (issue 7): endpoints, content negotiation, limits and errors through FastAPI's
TestClient, and one real uvicorn on loopback. Skipped when the `server` extra is not installed."""

from __future__ import annotations

import json
import socket
import threading
import time
import warnings

import pytest
from conftest import ROOT

pytest.importorskip("fastapi", reason="the server extra is not installed: pip install '.[server]'")
pytest.importorskip("uvicorn", reason="the server extra is not installed: pip install '.[server]'")
pytest.importorskip("httpx", reason="httpx (FastAPI's TestClient) is not installed")

with warnings.catch_warnings():
    # Recent Starlette warns (a UserWarning) that its TestClient is moving from httpx to httpx2.
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

from advisor.cli import main  # noqa: E402
from advisor.requirements import Requirements  # noqa: E402
from advisor.server import create_app, negotiate  # noqa: E402

VOICE = ROOT / "examples" / "realtime-voice-agent.yaml"
GOOD = {"name": "svc", "task": {"modality": "text"}, "data": {"paired_examples": 20000},
        "latency": {"budget_ms": 250}}


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
    assert r.json() == {"$schema": "https://json-schema.org/draft/2020-12/schema",
                        "$id": "urn:e2e-advisor:schema:requirements:1",
                        **Requirements.model_json_schema()}  # as `advisor schema` prints it
    doc = client.get("/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    post = doc["paths"]["/v1/assessments"]["post"]
    assert post["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Requirements"}
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
    r = client.post("/v1/assessments?explain=false", json=GOOD,
                    headers={"accept": "text/markdown"})
    assert r.headers["content-type"].startswith("text/markdown")
    r = client.post("/v1/assessments?explain=false", json=GOOD,
                    headers={"accept": "text/html;q=0.5, application/json"})
    assert r.headers["content-type"].startswith("application/json")
    assert json.loads(r.content)["attributions"] == []
    assert negotiate(None) == "json" and negotiate("*/*") == "json"
    assert negotiate("text/html,application/xhtml+xml,*/*;q=0.8") == "html"


def test_invalid_input_is_422_with_field_paths(client):
    bad = {"name": "x", "data": {"paired_examples": -1}, "latency": {"budget_ms": -5},
           "regulation": {"criticality": "very"}, "colour": "red"}
    r = client.post("/v1/assessments", json=bad)
    assert r.status_code == 422
    detail = r.json()["detail"]
    fields = {d["field"]: d for d in detail}
    assert fields["latency.budget_ms"] == {"loc": ["body", "latency", "budget_ms"],
                                           "field": "latency.budget_ms",
                                           "msg": "must be greater than 0 (got -5)"}
    assert set(fields) == {"data.paired_examples", "latency.budget_ms",
                           "regulation.criticality", "colour"}
    r = client.post("/v1/assessments", json=[1, 2])
    assert r.status_code == 422 and r.json()["detail"][0]["field"] == "(top level)"


def test_unreadable_bodies(client):
    r = client.post("/v1/assessments", content=b'{"name": ', headers={"content-type":
                                                                      "application/json"})
    assert r.status_code == 400 and "not valid JSON" in r.json()["detail"]
    r = client.post("/v1/assessments", content=b'{"name": "a", "name": "b"}',
                    headers={"content-type": "application/json"})
    assert r.status_code == 400 and "duplicate key 'name'" in r.json()["detail"]
    r = client.post("/v1/assessments", content=b'{"name": NaN}',
                    headers={"content-type": "application/json"})
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

    r = client.post("/v1/assessments", content=chunks(), headers={"content-type":
                                                                  "application/json"})
    assert r.status_code == 413


def test_internal_error_is_500_without_traceback(monkeypatch):
    import advisor.engine

    def boom(*args, **kwargs):
        raise RuntimeError("secret internals at /srv/app/engine.py line 3")

    monkeypatch.setattr(advisor.engine, "assess", boom)
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
            r = http.post("/v1/assessments", content=b"x" * 1_100_000,
                          headers={"content-type": "application/json"})
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
_TYPES = st.sampled_from(["application/json", "application/json; charset=utf-8", "text/plain",
                          "application/x-www-form-urlencoded", "", "application/JSON"])
_FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))


def _answered(r) -> None:
    assert r.status_code in (200, 400, 413, 415, 422), (r.status_code, r.text[:300])
    assert "Traceback" not in r.text
    if r.status_code != 200:
        assert "detail" in r.json()


@_FUZZ
@given(body=st.binary(max_size=600), content_type=_TYPES)
def test_fuzz_service_bytes(body, content_type):
    r = _CLIENT.post("/v1/assessments?explain=false", content=body,
                     headers={"content-type": content_type} if content_type else {})
    _answered(r)


@_FUZZ
@given(doc=profiles(), data=st.data())
def test_fuzz_service_spliced_json(doc, data):
    text = data.draw(spliced(json.dumps(doc)))
    r = _CLIENT.post("/v1/assessments?explain=false", content=text.encode("utf-8", "surrogatepass"),
                     headers={"content-type": "application/json"})
    _answered(r)
