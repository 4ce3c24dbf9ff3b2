"""The JSON service: `advisor serve`, an HTTP front to the same engine (optional extra `server`).

Takes HTTP requests; gives assessments. POST /v1/assessments takes a requirements object (JSON)
and answers with the assessment JSON, byte for byte what `advisor recommend --format json` prints
for the same input, or the HTML (or Markdown) report when the Accept header asks for it. GET
/v1/schema gives the input's JSON Schema, GET (or HEAD) /healthz the service's state,
/openapi.json the OpenAPI document. Bodies over 1 MB get 413, unreadable JSON 400, invalid
requirements (or any other `AdvisorError`) 422 with one entry per problem naming the field path,
a full worker pool or a request over its time limit 503 with Retry-After, a bug 500 with no
traceback.

The event loop only moves bytes: parsing, validation, assessment and rendering run on bounded
worker threads (`Limits`), so /healthz and every other client stay served while one request
computes. FastAPI and uvicorn are imported only when the app is built, so the rest of the advisor
does not need them.
"""

# No `from __future__ import annotations` here: FastAPI reads the endpoints' annotations
# (Request, Query) at definition time, and they are imported inside `create_app` so that the rest
# of the advisor never imports FastAPI.
import json
import os
import re
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._errors import AdvisorError

if TYPE_CHECKING:
    from fastapi import FastAPI, Request
    from fastapi.responses import Response

    from ._rulepack import RulePack

#: Request bodies above this many bytes are refused with 413 (the requirements file limit).
MAX_BODY = 1_000_000
#: JSON nested deeper than this is refused with 400 (as requirement files are).
MAX_DEPTH = 32

_MEDIA = {"application/json": "json", "text/html": "html", "text/markdown": "md"}


@dataclass(frozen=True)
class Limits:
    """How much work the service takes on at once, and for how long.

    Requests are split into two lanes by their estimated cost, each a pool of workers with a
    short queue: a body of more than `heavy_body` bytes, or with more than `heavy_items` commas
    (a count made before any parsing, which bounds its members and list items: validation
    costs grow with them), goes to the heavy lane, so it never queues ahead of, or takes a
    worker from, an ordinary request. A request that finds its lane's workers and queue full,
    or that has not been answered `request_timeout` seconds after its body arrived, gets 503
    with Retry-After. The work of a timed-out request still runs to its end (a thread cannot be
    stopped) and keeps its place in the lane until then, so the lane never holds more than its
    bound.

    Attributes:
        request_timeout: seconds from the complete body to the answer (queueing included).
        body_timeout: seconds allowed for the body to arrive after the headers (408 beyond).
        threads: worker threads for ordinary requests.
        queue: ordinary requests that may wait for a thread.
        heavy_body: bodies of more than this many bytes go to the heavy lane; a body that
            declares more (Content-Length), or streams past it, while the heavy lane is full is
            answered 503 before (the rest of) it is read.
        heavy_items: bodies with more than this many commas go to the heavy lane.
        heavy_threads: workers for the heavy lane (large or many-item bodies).
        heavy_queue: heavy-lane requests that may wait for a worker.
        heavy_processes: run the heavy lane's workers as processes (`advisor serve` does): a
            large body's validation then runs beside the ordinary requests, not sharing their
            interpreter lock, and work still running `kill_after` seconds after its request
            was answered 503 has its process killed (and a fresh one started). False: threads,
            like the ordinary lane.
        heavy_nice: how much lower the heavy lane's processes' CPU priority is (`os.nice`):
            they take the CPU that ordinary requests leave, so a stream of costly bodies slows
            ordinary answers little even when the cores are all busy.
        kill_after: see heavy_processes. Not at once: a restart costs seconds of CPU (the
            imports, the warm-up), which a client could otherwise trigger at will.
        retry_after: seconds sent in Retry-After with a 503.
    """

    request_timeout: float = 10.0
    body_timeout: float = 10.0
    threads: int = 2
    queue: int = 64
    heavy_body: int = 64_000
    heavy_items: int = 1_000
    heavy_threads: int = 1
    heavy_queue: int = 2
    heavy_processes: bool = False
    heavy_nice: int = 19
    kill_after: float = 30.0
    retry_after: int = 5


class _Lane:
    """A bounded pool of workers: at most `threads + queue` requests held (running or waiting)
    at once. Threads here; `_ProcessLane` runs the same bookkeeping over worker processes.

    Every held place is taken in `submit` and given back by `_release` only: the future's done
    callback (which also runs when a queued future is cancelled), or at once when the pool
    refuses the work.
    """

    def __init__(self, name: str, threads: int, queue: int) -> None:
        self._cap = threads + queue
        self._held = 0
        # Held counts are changed from worker threads (on completion) and from whichever event
        # loop submitted (TestClient may use a new loop per request), so a lock, not the loop.
        self._lock = threading.Lock()
        self._closed = False
        self._pool: Any = self._new_pool(name, threads)

    def _new_pool(self, name: str, workers: int) -> Any:
        return ThreadPoolExecutor(max_workers=workers, thread_name_prefix=f"advisor-{name}")

    def _accepting(self) -> bool:
        # Called with the lock held: whether the pool takes work at all (not its room).
        return not self._closed

    def submit(self, fn: Callable[..., Any], *args: Any) -> "Future[Any] | None":
        """Start `fn(*args)` on a worker; None when the lane is full (or not taking work)."""
        with self._lock:
            if not self._accepting() or self._held >= self._cap:
                return None
            self._held += 1
            pool = self._pool
        try:
            fut: Future[Any] = pool.submit(fn, *args)
        except RuntimeError:  # the pool broke or was shut down between the check and here
            self._release()
            return None
        fut.add_done_callback(self._release)
        return fut

    def _release(self, _fut: "Future[Any] | None" = None) -> None:
        with self._lock:
            self._held -= 1

    @property
    def held(self) -> int:
        """Requests running or waiting in this lane."""
        with self._lock:
            return self._held

    def has_room(self) -> bool:
        """Whether `submit` would take work now."""
        with self._lock:
            return self._accepting() and self._held < self._cap

    def close(self) -> None:
        """Stop taking work; drop what is queued (running work ends on its own)."""
        with self._lock:
            self._closed = True
        self._pool.shutdown(wait=False, cancel_futures=True)


class _ProcessLane(_Lane):
    """A bounded pool of worker processes (spawned, each with the rule pack loaded and warmed,
    at a lower CPU priority: `nice`).

    While its processes start (after creation, or after a kill) it takes no work: `submit` gives
    None, so a request is answered 503 at once rather than spending its time limit waiting.
    `kill` ends every process of the pool, whatever it runs (a request over its time limit), and
    starts fresh ones.
    """

    def __init__(self, processes: int, queue: int, pack: "RulePack", nice: int = 0) -> None:
        self._pack, self._nice, self._ready = pack, nice, False
        super().__init__("heavy", processes, queue)
        self._n = processes
        self._warm(self._pool)

    def _new_pool(self, name: str, workers: int) -> Any:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        # spawn, not fork: the server process runs threads (uvicorn, the ordinary lane).
        return ProcessPoolExecutor(
            max_workers=workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_process_init,
            initargs=(self._pack, self._nice),
        )

    def _warm(self, pool: Any) -> None:
        # One warm-up job per process; the lane opens when they are all done.
        warm = [pool.submit(_process_ready) for _ in range(self._n)]
        left = [len(warm)]

        def one_done(_f: "Future[Any]") -> None:
            with self._lock:
                left[0] -= 1
                if left[0] == 0 and self._pool is pool:
                    self._ready = True

        for f in warm:
            f.add_done_callback(one_done)

    def _accepting(self) -> bool:
        return self._ready and not self._closed

    @property
    def ready(self) -> bool:
        """Its processes are up and taking work."""
        with self._lock:
            return self._ready

    def kill(self) -> None:
        """End every worker process now (their requests fail) and start fresh ones."""
        self._end()
        with self._lock:
            if self._closed:
                return
        pool = self._new_pool("heavy", self._n)
        with self._lock:
            self._pool, self._ready = pool, False
        self._warm(pool)

    def close(self) -> None:
        """Stop taking work and end the worker processes (a warm-up or request in progress
        would otherwise hold up the server's exit)."""
        with self._lock:
            self._closed = True
        self._end()

    def _end(self) -> None:
        with self._lock:
            pool, self._ready = self._pool, False
        # The executor has no way to stop one running call; its processes are killed instead.
        procs = getattr(pool, "_processes", None) or {}
        for proc in list(procs.values()):
            proc.kill()
        pool.shutdown(wait=False, cancel_futures=True)


_PROCESS_PACK: "RulePack | None" = None


def _process_init(pack: "RulePack", nice: int = 0) -> None:
    # In a heavy-lane worker process: lower its CPU priority (a large body's validation then
    # takes only the CPU that ordinary requests and the event loop leave), keep the pack,
    # compiled, and make one full request so the first real one does not pay for the imports.
    global _PROCESS_PACK
    from ._engine import prepare
    from ._process import worker_setup

    if nice > 0 and hasattr(os, "nice"):
        os.nice(nice)
    worker_setup()
    os.environ.setdefault("NUMBA_DISABLE_JIT", "1")
    prepare(pack)
    _PROCESS_PACK = pack
    _warm_up(pack)


def _process_ready() -> bool:
    return _PROCESS_PACK is not None


def _process_work(body: bytes, explain: bool, fmt: str) -> "_Answer":
    # A heavy-lane request, in its worker process.
    assert _PROCESS_PACK is not None
    return _work(_PROCESS_PACK, body, explain, fmt)


class _TooLarge(Exception):
    pass


class _HeavyFull(Exception):
    pass


def _is_heavy(body: bytes, lim: "Limits") -> bool:
    """Whether a body goes to the heavy lane: over `heavy_body` bytes or `heavy_items` commas.

    A comma separates every member of an object and item of a list after the first, so the
    count bounds the nodes validation will visit (and commas inside strings only overcount:
    such a body is served, on the heavy lane). bytes.count runs in C: microseconds for 64 KB.
    """
    return len(body) > lim.heavy_body or body.count(b",") > lim.heavy_items


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


# A JSON string escape of a UTF-16 surrogate: the only way a lone surrogate gets into the data.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def _too_deep(doc: Any) -> bool:
    stack = [(doc, 1)]
    while stack:
        node, level = stack.pop()
        if level > MAX_DEPTH:
            return True
        children = (
            node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
        )
        stack.extend((c, level + 1) for c in children if isinstance(c, dict | list))
    return False


def parse_body(body: bytes) -> Any:
    """Parse a request body as strict JSON (no duplicate keys, no NaN or Infinity, valid Unicode,
    at most MAX_DEPTH levels).

    Raises:
        _BadBody: with a one-line reason.
    """
    from ._loading import strict_json

    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as e:
        raise _BadBody(f"not valid UTF-8 (byte {e.start})") from None
    if not text.strip():
        raise _BadBody("the body is empty; send a requirements object")
    try:
        doc = strict_json(text)
    except json.JSONDecodeError as e:
        raise _BadBody(f"not valid JSON ({e.msg} at line {e.lineno} column {e.colno})") from None
    except ValueError as e:
        raise _BadBody(str(e)) from None
    except RecursionError:
        raise _BadBody(f"nested deeper than {MAX_DEPTH} levels") from None
    if _too_deep(doc):
        raise _BadBody(f"nested deeper than {MAX_DEPTH} levels")
    if _SURROGATE_ESCAPE.search(text):
        # "\ud83d\ude00" pairs decode to one character; a lone "\ud800" stays a surrogate, which
        # no output (HTML, Markdown, UTF-8 JSON) can encode.
        try:
            json.dumps(doc, ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError as e:
            bad = e.object[e.start : e.end]
            raise _BadBody(
                f"a lone UTF-16 surrogate ({ascii(bad)[1:-1]}) is not a character; "
                "send valid Unicode text"
            ) from None
    return doc


def problem_entries(error: AdvisorError, source: str) -> list[dict[str, Any]]:
    """Give the 422 body's entries for an AdvisorError: one per problem, with its field path.

    Reads the error's `Problem`s (never its formatted lines); a problem of another source than
    the body gets the field "(request)".

    Returns:
        [{"loc": ["body", "latency", "budget_ms"], "field": "latency.budget_ms", "msg": ...}]
    """
    out: list[dict[str, Any]] = []
    for p in error.details:
        if p.source != source:
            out.append({"loc": ["body"], "field": "(request)", "msg": p.line()})
        elif not p.field:
            out.append({"loc": ["body"], "field": "(top level)", "msg": p.message})
        else:
            loc: list[str | int] = ["body", *p.loc]
            if not p.loc and not p.field.startswith("("):
                for part in p.field.replace("]", "").replace("[", ".").split("."):
                    loc.append(int(part) if part.isdigit() else part)
            out.append({"loc": loc, "field": p.field, "msg": p.message})
    return out


_PROBLEM = {
    "type": "object",
    "properties": {"detail": {"type": "string"}},
    "required": ["detail"],
}
_FIELD_PROBLEMS = {
    "type": "object",
    "properties": {
        "detail": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "loc": {
                        "type": "array",
                        "items": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
                        "description": "Where: 'body' then the field path, or 'query' then the "
                        "parameter.",
                    },
                    "field": {"type": "string", "description": "Dotted field path (or parameter)."},
                    "msg": {"type": "string"},
                },
                "required": ["loc", "field", "msg"],
            },
        }
    },
    "required": ["detail"],
}


def _openapi_paths() -> dict[str, Any]:
    req = {"$ref": "#/components/schemas/Requirements"}
    problem = {"$ref": "#/components/schemas/Problem"}
    retry = {
        "Retry-After": {
            "description": "Seconds to wait before retrying.",
            "schema": {"type": "integer"},
        }
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
            "400": {
                "description": "The body is not JSON (or not valid Unicode, or nested too deeply).",
                "content": {"application/json": {"schema": problem}},
            },
            "408": {
                "description": "The body did not arrive in time.",
                "content": {"application/json": {"schema": problem}},
            },
            "413": {
                "description": "The body is larger than 1 MB.",
                "content": {"application/json": {"schema": problem}},
            },
            "415": {
                "description": "The body is not application/json.",
                "content": {"application/json": {"schema": problem}},
            },
            "422": {
                "description": "Invalid requirements or query parameters: one entry per "
                "problem, with its field path.",
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/FieldProblems"}}
                },
            },
            "503": {
                "description": "Busy (every worker and queue place taken) or the request "
                "took longer than the time limit; retry later.",
                "headers": retry,
                "content": {"application/json": {"schema": problem}},
            },
            "500": {
                "description": "Internal error (no details are sent; see the server log).",
                "content": {"application/json": {"schema": problem}},
            },
        },
    }


@dataclass
class _Answer:
    status: int
    body: Any  # bytes, or JSON data for an error
    media: str = "application/json"


def _work(pack: "RulePack", body: bytes, explain: bool, fmt: str) -> _Answer:
    # Everything CPU-bound about one request, on a worker thread. An AdvisorError at any step is
    # the input's fault: 422 with its problems, never a 500.
    from . import _engine as engine
    from ._api import parse_requirements
    from ._render import render

    try:
        doc = parse_body(body)
    except _BadBody as e:
        return _Answer(400, {"detail": str(e)})
    try:
        req = parse_requirements(doc, "<body>")
        a = engine.assess(req, pack, given=doc, explain=explain)
        if fmt == "html":
            return _Answer(200, render(a, "html").encode("utf-8"), "text/html; charset=utf-8")
        if fmt == "md":
            return _Answer(200, render(a, "md").encode("utf-8"), "text/markdown; charset=utf-8")
        return _Answer(200, a.to_json().encode("utf-8"))
    except AdvisorError as e:
        return _Answer(422, {"detail": problem_entries(e, "<body>")})


_WARM_UP = json.dumps(
    {
        "name": "warm-up",
        "task": {"modality": "text"},
        "data": {"paired_examples": 20000},
        "latency": {"budget_ms": 250},
    }
).encode()


def _warm_up(pack: "RulePack") -> None:
    # One full request before serving: the first assessment imports shap, scikit-learn and the
    # templates (20 s on a busy 2-core machine), which would otherwise overrun the first
    # request's time limit.
    import logging

    for fmt in ("html", "md"):
        try:
            _work(pack, _WARM_UP, True, fmt)
        except Exception:  # noqa: BLE001 - a bug here shows again on the first request
            logging.getLogger("advisor.server").warning("warm-up request failed", exc_info=True)
            return


def create_app(
    rulepack: "RulePack | None" = None,
    rules_dir: str | None = None,
    limits: Limits | None = None,
) -> "FastAPI":
    """Build the service.

    Args:
        rulepack: the rule pack to assess with; loaded from `rules_dir` (default: the bundled
            pack) when None.
        rules_dir: a rule pack folder, when `rulepack` is None.
        limits: worker threads, queues and time limits (default: `Limits()`).

    Returns:
        The FastAPI application (serve it with uvicorn, or test it with its TestClient).

    Raises:
        RulePackError: the rule pack is invalid.
    """
    import asyncio
    import contextlib
    from collections.abc import AsyncIterator

    from fastapi import FastAPI, Query, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.openapi.utils import get_openapi
    from fastapi.responses import JSONResponse, Response

    from ._api import load_rulepack, requirements_schema
    from ._assessment import Assessment
    from ._engine import prepare
    from ._requirements import Requirements
    from ._version import __version__

    lim = limits or Limits()
    pack = rulepack if rulepack is not None else load_rulepack(rules_dir)
    prepare(pack)  # compile once, before the first request
    _warm_up(pack)
    pack_info = {"name": pack.name, "version": pack.version, "sha256": pack.sha256()}
    light = _Lane("work", lim.threads, lim.queue)
    heavy: _Lane = (
        _ProcessLane(lim.heavy_threads, lim.heavy_queue, pack, lim.heavy_nice)
        if lim.heavy_processes
        else _Lane("heavy", lim.heavy_threads, lim.heavy_queue)
    )

    @contextlib.asynccontextmanager
    async def lifespan(_app: Any) -> AsyncIterator[None]:
        yield
        light.close()
        heavy.close()

    # No /docs or /redoc: FastAPI's pages load Swagger UI and ReDoc from a CDN, a blank page
    # offline; /openapi.json is the contract, and any OpenAPI viewer opens it.
    app = FastAPI(
        title="advisor",
        version=__version__,
        description="Recommends an end-to-end, modular or hybrid architecture for an AI system "
        "from its requirements, and says why.",
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )

    app.add_middleware(_ContentLengthLimit)

    def unavailable(detail: str) -> Response:
        return JSONResponse(
            {"detail": detail}, status_code=503, headers={"Retry-After": str(lim.retry_after)}
        )

    def busy_close() -> Response:
        # A large body refused unread (or part read): closing the connection spares the event
        # loop the rest of it.
        return JSONResponse(
            {"detail": "busy: every worker is taken; retry later"},
            status_code=503,
            headers={"Retry-After": str(lim.retry_after), "Connection": "close"},
        )

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> Response:
        import logging

        logging.getLogger("advisor.server").error(
            "internal error on %s %s", request.method, request.url.path, exc_info=exc
        )
        return JSONResponse({"detail": "internal error"}, status_code=500)

    @app.exception_handler(AdvisorError)
    async def advisor_error(request: Request, exc: AdvisorError) -> Response:
        # Whatever step raised it, an AdvisorError is about the input: 422, never 500.
        return JSONResponse({"detail": problem_entries(exc, "<body>")}, status_code=422)

    @app.exception_handler(RequestValidationError)
    async def bad_parameter(request: Request, exc: RequestValidationError) -> Response:
        # FastAPI's own check of query parameters (explain=maybe): the service's 422 shape.
        detail = []
        for err in exc.errors():
            loc = [p if isinstance(p, int) else str(p) for p in err.get("loc", ())]
            field = ".".join(str(p) for p in loc[1:]) or "(request)"
            msg = str(err.get("msg", "invalid"))
            if err.get("type") == "bool_parsing":
                msg = "must be true or false"
            if "input" in err and isinstance(err["input"], str | int | float):
                msg += f" (got {ascii(str(err['input'])[:80])})"
            detail.append({"loc": loc, "field": field, "msg": msg})
        return JSONResponse({"detail": detail}, status_code=422)

    async def healthz() -> dict[str, Any]:
        # On the event loop itself (async, no thread): it answers while workers are busy.
        return {
            "status": "ok",
            "advisor_version": __version__,
            "rulepack": pack_info,
            "in_progress": light.held + heavy.held,
            "large_bodies": "starting"
            if isinstance(heavy, _ProcessLane) and not heavy.ready
            else "ready",
        }

    health = "Liveness, the rule pack in use and the requests in progress"
    app.get("/healthz", summary=health, operation_id="healthz")(healthz)
    app.head("/healthz", summary=health + " (headers only)", operation_id="healthz_head")(healthz)

    requirements_json_schema = requirements_schema(pack)

    @app.get("/v1/schema", summary="JSON Schema of the requirements")
    async def schema() -> dict[str, Any]:
        return requirements_json_schema

    @app.post(
        "/v1/assessments",
        summary="Assess a project's requirements",
        openapi_extra=_openapi_paths(),
        response_class=Response,
    )
    async def assessments(
        request: Request,
        explain: bool = Query(
            True, description="Compute SHAP attributions and counterfactuals (the slow part)."
        ),
    ) -> Response:
        ctype = request.headers.get("content-type", "application/json").split(";")[0].strip()
        if ctype.lower() not in ("application/json", ""):
            return JSONResponse(
                {"detail": f"send application/json, not {ctype[:80]!a}"}, status_code=415
            )
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > lim.heavy_body and not heavy.has_room():
            # Refused before its body is read: reading 1 MB bodies only to answer 503 would
            # itself load the event loop.
            return busy_close()
        try:
            body = await asyncio.wait_for(
                _read_body(request, lim.heavy_body, heavy.has_room), lim.body_timeout
            )
        except _TooLarge:
            return _too_large()
        except _HeavyFull:
            return busy_close()
        except TimeoutError:
            return JSONResponse(
                {"detail": f"the body did not arrive within {lim.body_timeout:g} s"},
                status_code=408,
                headers={"Connection": "close"},
            )
        fmt = negotiate(request.headers.get("accept"))
        lane: _Lane = heavy if _is_heavy(body, lim) else light
        if isinstance(lane, _ProcessLane):
            fut = lane.submit(_process_work, body, explain, fmt)
        else:
            fut = lane.submit(_work, pack, body, explain, fmt)
        if fut is None:
            return unavailable("busy: every worker is taken; retry later")
        try:
            ans: _Answer = await asyncio.wait_for(asyncio.wrap_future(fut), lim.request_timeout)
        except TimeoutError:
            if not fut.cancel() and isinstance(lane, _ProcessLane):
                # Running in a process: end it if it is still running a while later (threads
                # cannot be stopped, and run on to their end).
                proc_lane = lane
                asyncio.get_running_loop().call_later(
                    lim.kill_after, lambda: None if fut.done() else proc_lane.kill()
                )
            return unavailable(
                f"the request took longer than {lim.request_timeout:g} s; retry later"
            )
        except BrokenProcessPool:
            # Its worker process was killed (another request's time limit) or died.
            return unavailable("busy: the worker was restarted; retry later")
        if isinstance(ans.body, bytes):
            return Response(ans.body, status_code=ans.status, media_type=ans.media)
        return JSONResponse(ans.body, status_code=ans.status)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        doc = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        comps = doc.setdefault("components", {}).setdefault("schemas", {})
        for model in (Requirements, Assessment):
            s = model.model_json_schema(ref_template="#/components/schemas/{model}")
            comps.update(s.pop("$defs", {}))
            comps[model.__name__] = s
        comps["Problem"] = _PROBLEM
        comps["FieldProblems"] = _FIELD_PROBLEMS
        # FastAPI documents its own 422 body (HTTPValidationError) for every operation with a
        # parameter; the service answers FieldProblems instead (see bad_parameter).
        for item in doc.get("paths", {}).values():
            for op in item.values():
                responses = op.get("responses", {}) if isinstance(op, dict) else {}
                if "422" in responses:
                    responses["422"] = _openapi_paths()["responses"]["422"]
        comps.pop("HTTPValidationError", None)
        comps.pop("ValidationError", None)
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

    # Not Connection: close: closing with the body's rest unread resets the connection, and
    # the client may lose the answer (uvicorn reads and drops the rest instead).
    return JSONResponse(
        {"detail": f"the body is larger than {MAX_BODY // 1_000_000} MB"}, status_code=413
    )


async def _read_body(
    request: "Request", heavy_body: int, heavy_has_room: Callable[[], bool]
) -> bytes:
    # Read at most MAX_BODY bytes, whether or not the client sent a Content-Length; a body
    # streaming past heavy_body while the heavy lane is full stops there (the declared ones
    # were refused before reading).
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        before, size = size, size + len(chunk)
        if size > MAX_BODY:
            raise _TooLarge
        if before <= heavy_body < size and not heavy_has_room():
            raise _HeavyFull
        chunks.append(chunk)
    return b"".join(chunks)


LOOPBACK = ("127.0.0.1", "::1", "localhost")

# What a worker process of `advisor serve --workers N` builds its app from (set by serve).
ENV_RULES = "ADVISOR_SERVE_RULES"
ENV_TIMEOUT = "ADVISOR_SERVE_TIMEOUT"


def app_from_environment() -> "FastAPI":
    """Build the app from ADVISOR_SERVE_RULES and ADVISOR_SERVE_TIMEOUT (uvicorn's factory for
    `advisor serve --workers N`, whose worker processes import the app by name)."""
    timeout = float(os.environ.get(ENV_TIMEOUT) or Limits.request_timeout)
    return create_app(
        rules_dir=os.environ.get(ENV_RULES) or None,
        limits=Limits(request_timeout=timeout, heavy_processes=True),
    )


def check_port_free(host: str, port: int) -> None:
    """Bind (and release) every address of host:port, as uvicorn will, to fail early and clearly.

    Raises:
        AdvisorError: the port is taken, the address is not this machine's, or the host is
            unknown.
    """
    import errno
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as e:
        raise AdvisorError(f"--host {host}: unknown host ({e.strerror})") from None
    for family, kind, proto, _, addr in infos:
        with socket.socket(family, kind, proto) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
            try:
                s.bind(addr)
            except OSError as e:
                if e.errno == errno.EADDRINUSE:
                    raise AdvisorError(
                        f"--port {port}: already in use on {host}; stop the "
                        "other server or choose another port"
                    ) from None
                raise AdvisorError(
                    f"--host {host} --port {port}: cannot listen there ({e.strerror})"
                ) from None
