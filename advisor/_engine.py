"""The pipeline, end to end: requirements -> Assessment (docs/architecture.md).

Takes a validated `Requirements`, the mapping the user gave (to tell given values from defaults)
and a `RulePack`; gives an `Assessment`. Pure: no files, no printing. Each stage lives in its own
module (features, scoring, uncertainty, attributions, counterfactuals; the report's facts,
prose and assembly); this one wires them together.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ._assembly import assessment, given_mapping
from ._assessment import Assessment
from ._decide import Prepared as Prepared  # re-exported: `engine.prepare` is used widely
from ._decide import decide
from ._decide import prepare as prepare
from ._requirements import Requirements
from ._rulepack import RulePack
from ._scoring import Batch
from ._uncertainty import batch_stack, request_figures

if TYPE_CHECKING:  # the probe's models are imported only by `advisor probe`
    from ._probe import ProbeResult


def input_sha256(req: Requirements) -> str:
    """Give the sha256 of the requirements' canonical JSON (key order and format do not matter)."""
    text = json.dumps(req.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def assess(
    req: Requirements,
    pack: RulePack,
    *,
    given: dict[str, Any] | None = None,
    explain: bool = True,
    explain_scores: bool = False,
    probe: ProbeResult | None = None,
) -> Assessment:
    """Assess one project.

    Args:
        req: validated requirements.
        pack: the rule pack.
        given: the mapping as the user gave it (defaults are what it leaves out); when None,
            the fields set on `req` count as given.
        explain: compute SHAP attributions and counterfactuals (the slow part).
        explain_scores: also explain each option's effective score on its own.
        probe: figures measured by `advisor probe`: they replace the end-to-end prior, and the
            accuracy gap shifts the data dimension.

    Returns:
        The full `Assessment`.
    """
    # The explanation method and any measured figures apply to every stage (`decide`).
    # The Shapley game is built here rather than by `decide`, so that its rows share one engine
    # call with every other row the assessment scores (`_assembly.assessment`).
    d = decide([req], pack, probe=probe, confidence=False)[0]
    sha = prepare(pack).sha256
    return assessment(req, given, sha, input_sha256(req), d, 0, explain, explain_scores, probe)


def assess_many(
    reqs: Sequence[Requirements],
    givens: Sequence[dict[str, Any] | None],
    pack: RulePack,
    *,
    probe: ProbeResult | None = None,
) -> list[Assessment]:
    """Assess many projects without explanations, deciding them all in one vectorised pass.

    Args:
        reqs: validated requirements.
        givens: per project, the mapping as the user gave it, or None (see `assess`).
        pack: the rule pack.
        probe: figures measured by `advisor probe`, applied to every project.

    Returns:
        The Assessments in input order, equal to `assess(..., explain=False)` of each.
    """
    sha = prepare(pack).sha256
    out: list[Assessment | None] = [None] * len(reqs)
    for d in decide(reqs, pack, probe=probe, confidence=False):
        cp = d.prep.compiled
        rows = d.rows.tolist()
        # The uncertainty figures of a few projects per engine call (each needs ~4,000 rows; far
        # larger calls run slower per row, their arrays no longer in cache).
        for a in range(0, len(rows), _FIGURES_AT_ONCE):
            batch = Batch(cp, batch_stack(cp))
            todo = []
            for j in range(a, min(a + _FIGURES_AT_ONCE, len(rows))):
                i = rows[j]
                given = given_mapping(reqs[i], givens[i])
                rec = int(d.ev.choice[j])
                todo.append((j, i, given, request_figures(reqs[i], given, d.x[j], cp, rec, batch)))
            batch.run()
            for j, i, given, figures in todo:
                out[i] = assessment(
                    reqs[i],
                    given,
                    sha,
                    input_sha256(reqs[i]),
                    d,
                    j,
                    False,
                    False,
                    probe,
                    figures=figures(),
                )
    return [a for a in out if a is not None]


#: Projects whose uncertainty figures share one engine call in `assess_many`.
_FIGURES_AT_ONCE = 4
