"""`advisor serve`: the JSON service (the app itself lives in the service module).

Takes the command line's host, port, rule pack, worker count and time limit; checks the port and
the pack first (exit 2 with one line when either is wrong), then runs uvicorn.
"""

from __future__ import annotations

import os
from typing import Any

import click

from .._errors import AdvisorError
from .._version import DISTRIBUTION


@click.command(
    "serve",
    epilog="""\b
Examples:
  advisor serve                                  # http://127.0.0.1:8000
  advisor serve --port 9000 --rules examples/org-pack-bank
""",
)
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to bind; the default accepts connections from this machine only.",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8000,
    show_default=True,
    help="TCP port to listen on (exit 2 when it is taken).",
)
@click.option(
    "--rules",
    "rules_dir",
    metavar="DIR",
    envvar="ADVISOR_RULES",
    help="Rule pack folder (default: $ADVISOR_RULES, else the bundled pack).",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Worker processes (uvicorn's own), for more than one core.",
)
@click.option(
    "--timeout",
    "request_timeout",
    type=click.FloatRange(min=0.1),
    default=10.0,
    show_default=True,
    metavar="SECONDS",
    help="Per-request time limit; a request over it gets 503 with Retry-After.",
)
def serve(
    host: str, port: int, rules_dir: str | None, workers: int, request_timeout: float
) -> None:
    """Serve the JSON API (POST /v1/assessments, GET /v1/schema, GET /healthz, /openapi.json).

    Needs the server extra: pip install 'e2e-advisor[server]'.
    """
    # As for one-shot commands, shap's explainer runs interpreted: no 8 s numba compile before
    # the first answer, and the same bytes as `advisor recommend`. NUMBA_DISABLE_JIT=0 compiles.
    os.environ.setdefault("NUMBA_DISABLE_JIT", "1")
    try:
        import fastapi  # noqa: F401
        import uvicorn
    except ImportError:
        raise AdvisorError(
            f"advisor serve needs FastAPI and uvicorn: pip install '{DISTRIBUTION}[server]'"
        ) from None
    # The service module loads with the command that runs it, not with every command line.
    from .._server import ENV_RULES, ENV_TIMEOUT, LOOPBACK, Limits, check_port_free, create_app
    from .._server_http import uvicorn_settings

    check_port_free(host, port)  # before the pack loads: a taken port fails at once
    if workers == 1:
        limits = Limits(request_timeout=request_timeout, heavy_processes=True)
        target: Any = create_app(rules_dir=rules_dir, limits=limits)
    else:
        # Each worker process builds its own app; check the pack here first, so a bad pack is
        # one clear error (exit 2) rather than N crashing workers.
        from .._api import load_rulepack

        load_rulepack(rules_dir)
        os.environ[ENV_RULES] = rules_dir or ""
        os.environ[ENV_TIMEOUT] = str(request_timeout)
        target = "advisor._server:app_from_environment"
    if host not in LOOPBACK:
        click.echo(
            f"warning: listening on {host}: reachable from other machines, with no "
            "authentication; put it behind your gateway",
            err=True,
        )
    try:
        uvicorn.run(
            target,
            host=host,
            port=port,
            log_level="info",
            workers=workers,
            factory=workers > 1,
            **uvicorn_settings(),
        )
    except SystemExit as e:
        # uvicorn exits 3 when it cannot start (the port was taken after the check, say).
        if e.code not in (0, None):
            raise AdvisorError(
                f"the server on {host}:{port} could not start (see the log above)"
            ) from None
