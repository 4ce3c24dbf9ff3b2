"""The JSON service: `advisor serve`, an HTTP front to the same engine (optional extra `server`).

Takes HTTP requests; gives assessments. POST /v1/assessments takes a requirements object (JSON)
and answers with the assessment JSON, byte for byte what `advisor recommend --format json` prints
for the same input, or the HTML (or Markdown) report when the Accept header asks for it. GET
/v1/schema gives the input's JSON Schema, GET /healthz the service's state, /openapi.json the
OpenAPI document. Bodies over 1 MB get 413, unreadable JSON 400, invalid requirements 422 with
one entry per problem naming the field path, a bug 500 with no traceback. FastAPI and uvicorn are
imported only when the app is built, so the rest of the advisor does not need them.
"""

# No `from __future__ import annotations` here: FastAPI reads the endpoints' annotations
# (Request, Query) at definition time, and they are imported inside `create_app` so that the rest
# of the advisor never imports FastAPI.
import json
import os
from typing import TYPE_CHECKING, Any

import click

from ._version import DISTRIBUTION

if TYPE_CHECKING:
    from fastapi import FastAPI, Request
    from fastapi.responses import Response

    from .errors import Problem
    from .rulepack import RulePack

#: Request bodies above this many bytes are refused with 413 (the requirements file limit).
MAX_BODY = 1_000_000

_MEDIA = {"application/json": "json", "text/html": "html", "text/markdown": "md"}


class _TooLarge(Exception):
    pass


class _BadBody(Exception):
    pass


def negotiate(accept: str | None) -> str:
    """Give the format an Accept header asks for: "json" (the default), "html" or "md"."""
    best, best_q = "json", 0.0
    for part in (accept or "").split(","):
        media, *params = (p.strip() for p in part.split(";"))
        q = 1.0
        for p in params:
            if p.startswith("q="):
                try:
                    q = float(p[2:])
                except ValueError:
                    q = 0.0
        fmt = _MEDIA.get(media.lower())
        if fmt is None and media in ("*/*", "application/*"):
            fmt = "json"
        # Higher q wins; at equal q the first listed wins.
        if fmt is not None and q > best_q:
            best, best_q = fmt, q
    return best


def parse_body(body: bytes) -> Any:
    """Parse a request body as strict JSON (no duplicate keys, no NaN or Infinity).

    Raises:
        _BadBody: with a one-line reason.
    """
    from .loading import strict_json

    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as e:
        raise _BadBody(f"not valid UTF-8 (byte {e.start})") from None
    if not text.strip():
        raise _BadBody("the body is empty; send a requirements object")
    try:
        return strict_json(text)
    except json.JSONDecodeError as e:
        raise _BadBody(f"not valid JSON ({e.msg} at line {e.lineno} column {e.colno})") from None
    except ValueError as e:
        raise _BadBody(str(e)) from None
    except RecursionError:
        raise _BadBody("nested too deeply") from None


def _field_errors(problems: "list[Problem]") -> list[dict[str, Any]]:
    # Problem("<body>", "latency.budget_ms", "must be ...", ("latency", "budget_ms"))
    #   -> {"loc": ["body", "latency", "budget_ms"], "field": "latency.budget_ms", "msg": ...}
    return [{"loc": ["body", *p.loc], "field": p.field, "msg": p.message} for p in problems]


def _openapi_paths() -> dict[str, Any]:
    req = {"$ref": "#/components/schemas/Requirements"}
    problem = {
        "type": "object",
        "properties": {"detail": {"type": "string"}},
        "required": ["detail"],
    }
    invalid = {
        "type": "object",
        "properties": {"detail": {"type": "array", "items": {
            "type": "object",
            "properties": {
                "loc": {"type": "array", "items": {"anyOf": [{"type": "string"},
                                                             {"type": "integer"}]}},
                "field": {"type": "string", "description": "Dotted field path."},
                "msg": {"type": "string"},
            },
            "required": ["loc", "field", "msg"],
        }}},
    }
    return {
        "requestBody": {
            "required": True,
            "description": "The project's requirements, as in a requirements file.",
            "content": {"application/json": {"schema": req}},
        },
        "responses": {
            "200": {
                "description": "The assessment (JSON), or the report (HTML or Markdown) when "
                               "the Accept header asks for text/html or text/markdown.",
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/Assessment"}},
                    "text/html": {"schema": {"type": "string"}},
                    "text/markdown": {"schema": {"type": "string"}},
                },
            },
            "400": {"description": "The body is not JSON.",
                    "content": {"application/json": {"schema": problem}}},
            "413": {"description": "The body is larger than 1 MB.",
                    "content": {"application/json": {"schema": problem}}},
            "415": {"description": "The body is not application/json.",
                    "content": {"application/json": {"schema": problem}}},
            "422": {"description": "Invalid requirements: one entry per problem, with its "
                                   "field path.",
                    "content": {"application/json": {"schema": invalid}}},
            "500": {"description": "Internal error (no details are sent; see the server log).",
                    "content": {"application/json": {"schema": problem}}},
        },
    }


def create_app(rulepack: "RulePack | None" = None, rules_dir: str | None = None) -> "FastAPI":
    """Build the service.

    Args:
        rulepack: the rule pack to assess with; loaded from `rules_dir` (default: the bundled
            pack) when None.
        rules_dir: a rule pack folder, when `rulepack` is None.

    Returns:
        The FastAPI application (serve it with uvicorn, or test it with its TestClient).

    Raises:
        RulePackError: the rule pack is invalid.
    """
    from fastapi import FastAPI, Query, Request
    from fastapi.openapi.utils import get_openapi
    from fastapi.responses import HTMLResponse, JSONResponse, Response
    from starlette.concurrency import run_in_threadpool

    from ._version import __version__
    from .api import load_rulepack, parse_requirements, requirements_schema
    from .assessment import Assessment
    from .engine import assess, prepare
    from .errors import InputError
    from .render import render
    from .requirements import Requirements

    pack = rulepack if rulepack is not None else load_rulepack(rules_dir)
    prepare(pack)  # compile once, before the first request
    pack_info = {"name": pack.name, "version": pack.version, "sha256": pack.sha256()}
    app = FastAPI(
        title="advisor",
        version=__version__,
        description="Recommends an end-to-end, modular or hybrid architecture for an AI system "
                    "from its requirements, and says why.",
    )

    app.add_middleware(_ContentLengthLimit)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> Response:
        import logging

        logging.getLogger("advisor.server").error(
            "internal error on %s %s", request.method, request.url.path, exc_info=exc
        )
        return JSONResponse({"detail": "internal error"}, status_code=500)

    @app.get("/healthz", summary="Liveness and the rule pack in use")
    def healthz() -> dict[str, Any]:
        return {"status": "ok", "advisor_version": __version__, "rulepack": pack_info}

    requirements_json_schema = requirements_schema(pack)

    @app.get("/v1/schema", summary="JSON Schema of the requirements")
    def schema() -> dict[str, Any]:
        return requirements_json_schema

    @app.post(
        "/v1/assessments",
        summary="Assess a project's requirements",
        openapi_extra=_openapi_paths(),
        response_class=Response,
    )
    async def assessments(
        request: Request,
        explain: bool = Query(True, description="Compute SHAP attributions and "
                                                "counterfactuals (the slow part)."),
    ) -> Response:
        ctype = request.headers.get("content-type", "application/json").split(";")[0].strip()
        if ctype.lower() not in ("application/json", ""):
            return JSONResponse({"detail": f"send application/json, not {ctype}"},
                                status_code=415)
        try:
            body = await _read_body(request)
            doc = parse_body(body)
        except _TooLarge:
            return _too_large()
        except _BadBody as e:
            return JSONResponse({"detail": str(e)}, status_code=400)
        try:
            req = parse_requirements(doc, "<body>")
        except InputError as e:
            return JSONResponse({"detail": _field_errors(e.details)}, status_code=422)
        a: Assessment = await run_in_threadpool(assess, req, pack, given=doc, explain=explain)
        fmt = negotiate(request.headers.get("accept"))
        if fmt == "html":
            return HTMLResponse(render(a, "html"))
        if fmt == "md":
            return Response(render(a, "md"), media_type="text/markdown; charset=utf-8")
        return Response(a.to_json(), media_type="application/json")

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        doc = get_openapi(title=app.title, version=app.version, description=app.description,
                          routes=app.routes)
        comps = doc.setdefault("components", {}).setdefault("schemas", {})
        for model in (Requirements, Assessment):
            s = model.model_json_schema(ref_template="#/components/schemas/{model}")
            comps.update(s.pop("$defs", {}))
            comps[model.__name__] = s
        app.openapi_schema = doc
        return doc

    app.openapi = openapi  # type: ignore[method-assign]
    return app


class _ContentLengthLimit:
    """ASGI middleware: refuse a request whose Content-Length exceeds MAX_BODY, unread."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            from fastapi.responses import JSONResponse

            for key, value in scope["headers"]:
                if key == b"content-length":
                    try:
                        size = int(value)
                    except ValueError:
                        bad = JSONResponse({"detail": "invalid Content-Length"}, status_code=400)
                        await bad(scope, receive, send)
                        return
                    if size > MAX_BODY:
                        await _too_large()(scope, receive, send)
                        return
        await self.app(scope, receive, send)


def _too_large() -> "Response":
    from fastapi.responses import JSONResponse

    return JSONResponse({"detail": f"the body is larger than {MAX_BODY // 1_000_000} MB"},
                        status_code=413)


async def _read_body(request: "Request") -> bytes:
    # Read at most MAX_BODY bytes, whether or not the client sent a Content-Length.
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise _TooLarge
        chunks.append(chunk)
    return b"".join(chunks)


_LOOPBACK = ("127.0.0.1", "::1", "localhost")


@click.command("serve", epilog="""\b
Examples:
  advisor serve                                  # http://127.0.0.1:8000
  advisor serve --port 9000 --rules examples/org-pack-bank
""")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind; the default accepts connections from this machine only.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True,
              help="TCP port to listen on.")
@click.option("--rules", "rules_dir", metavar="DIR", envvar="ADVISOR_RULES",
              help="Rule pack folder (default: $ADVISOR_RULES, else the bundled pack).")
def serve(host: str, port: int, rules_dir: str | None) -> None:
    """Serve the JSON API (POST /v1/assessments, GET /v1/schema, GET /healthz, /docs).

    Needs the server extra: pip install 'e2e-advisor[server]'.
    """
    # As for one-shot commands, shap's explainer runs interpreted: no 8 s numba compile before
    # the first answer, and the same bytes as `advisor recommend`. NUMBA_DISABLE_JIT=0 compiles.
    os.environ.setdefault("NUMBA_DISABLE_JIT", "1")
    try:
        import fastapi  # noqa: F401
        import uvicorn
    except ImportError:
        from .errors import AdvisorError

        raise AdvisorError(
            f"advisor serve needs FastAPI and uvicorn: pip install '{DISTRIBUTION}[server]'"
        ) from None
    app = create_app(rules_dir=rules_dir)
    if host not in _LOOPBACK:
        click.echo(f"warning: listening on {host}: reachable from other machines, with no "
                   "authentication; put it behind your gateway", err=True)
    uvicorn.run(app, host=host, port=port, log_level="info")
