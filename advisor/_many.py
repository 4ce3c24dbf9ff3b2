"""Many assessments at once, over worker processes: `recommend_many`.

Takes an iterable of requirements (models or mappings) and a rule pack; gives the Assessments in
input order, the same as calling `recommend` on each. Without explanations the projects are
decided together, in one vectorised pass (`engine.assess_many`). With `jobs` above 1 the work is
spread over worker processes started by fork, after this process has assessed the first project:
the workers then inherit the loaded pack and its compiled arrays instead of building them again.
Off Linux, while this process runs other threads (forking then is unsafe) or inside a daemonic
worker (which may not have children), it runs here.
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ._errors import InputError, Problem

if TYPE_CHECKING:
    from ._assessment import Assessment
    from ._probe import ProbeResult
    from ._requirements import Requirements
    from ._rulepack import RulePack

Item = tuple["Requirements", "dict[str, Any] | None"]

# What the workers run: set just before the pool forks (only while no other thread runs), so
# the children inherit it.
_job: dict[str, Any] = {}


def _assess(item: Item, job: dict[str, Any]) -> Assessment:
    from ._engine import assess

    req, given = item
    return assess(
        req,
        job["pack"],
        given=given,
        explain=job["explain"],
        explain_scores=job["explain_scores"],
        probe=job["probe"],
    )


def _assess_items(items: list[Item], job: dict[str, Any]) -> list[Assessment]:
    # Without explanations, the projects are decided together (one vectorised pass over all of
    # them, `engine.assess_many`); with them, one assessment at a time.
    if job["explain"] or job["explain_scores"]:
        return [_assess(item, job) for item in items]
    from ._engine import assess_many

    return assess_many(
        [r for r, _ in items], [g for _, g in items], job["pack"], probe=job["probe"]
    )


def _assess_chunk(items: list[Item]) -> list[Assessment]:
    return _assess_items(items, _job)


def _items(requirements: Iterable[Requirements | Mapping[str, Any]]) -> list[Item]:
    from ._api import parse_mapping
    from ._requirements import Requirements

    items: list[Item] = []
    problems: list[Problem] = []
    for i, r in enumerate(requirements):
        if isinstance(r, Requirements):
            items.append((r, None))
            continue
        try:
            items.append(parse_mapping(r, f"<item {i}>"))
        except InputError as e:
            problems.extend(e.details)
    if problems:
        raise InputError(problems)
    return items


def fork_context() -> Any:
    """Give the fork start method where forking is safe here (Linux, one thread, not a daemonic
    worker), else None."""
    import multiprocessing

    # A daemonic process (a multiprocessing.Pool worker) may not have children; macOS offers
    # fork but its system libraries are not fork-safe (Python defaults to spawn there).
    if (
        sys.platform.startswith("linux")
        and "fork" in multiprocessing.get_all_start_methods()
        and threading.active_count() == 1
        and not multiprocessing.current_process().daemon
    ):
        return multiprocessing.get_context("fork")
    return None


def recommend_many(
    requirements: Iterable[Requirements | Mapping[str, Any]],
    *,
    rulepack: RulePack | None = None,
    explain: bool = True,
    explain_scores: bool = False,
    probe: ProbeResult | None = None,
    jobs: int = 1,
) -> list[Assessment]:
    """Assess many projects; the same Assessments as `recommend` on each, in input order.
    (To screen many projects at the batch's speed, with its records instead of Assessments,
    see `screen`.)

    Args:
        requirements: `Requirements` or mappings of fields.
        rulepack: the rule pack; the bundled default when None.
        explain: compute SHAP attributions and counterfactuals.
        explain_scores: also attribute each option's own score.
        probe: a result of `advisor probe` applied to every project (see `recommend`).
        jobs: worker processes; 0 for one per CPU, 1 to work in this process.

    Returns:
        One `Assessment` per input, in order.

    Raises:
        InputError: one line per problem of every invalid item (`<item N>: field: ...`);
            nothing is assessed then.
        UsageError: `jobs` is negative (an AdvisorError, and a ValueError).
    """
    from ._api import load_rulepack
    from ._process import gc_paused

    if jobs < 0:
        from ._errors import Problem, UsageError

        raise UsageError(Problem("", "jobs", f"must be 0 (one per CPU) or more (got {jobs})"))
    job = {
        "pack": rulepack if rulepack is not None else load_rulepack(),
        "explain": explain,
        "explain_scores": explain_scores,
        "probe": probe,
    }
    # Nothing here makes reference cycles: the collector would only walk the results built.
    with gc_paused():
        return _run(_items(requirements), job, jobs)


def _run(items: list[Item], job: dict[str, Any], jobs: int) -> list[Assessment]:
    # The assessments of valid items, in this process or over forked workers.
    workers = min(jobs or (os.cpu_count() or 1), max(len(items) - 1, 1))
    context = fork_context() if workers > 1 else None
    if context is None:
        return _assess_items(items, job)
    from concurrent.futures import ProcessPoolExecutor

    # The first project here: it builds what the workers will inherit.
    first = _assess_items(items[:1], job)[0]
    _job.clear()
    _job.update(job)
    rest = items[1:]
    explained = job["explain"] or job["explain_scores"]
    size = max(1, min(32 if explained else 500, len(rest) // (workers * 4)))
    chunks = [rest[i : i + size] for i in range(0, len(rest), size)]
    from ._process import worker_setup

    with ProcessPoolExecutor(
        max_workers=workers, mp_context=context, initializer=worker_setup
    ) as pool:
        done = [a for found in pool.map(_assess_chunk, chunks) for a in found]
    return [first, *done]
