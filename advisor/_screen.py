"""Screening many projects in process: `screen`, the portfolio batch's records as Python data.

Takes an iterable of requirement mappings (as JSON lines hold them) and a rule pack; gives one
record per input, in order, exactly as `advisor batch` writes each JSON line: status "ok" with the
recommendation, the confidence from the first `samples` Monte Carlo samples of the pack's stream,
the scores, the rules fired, the vetoes and the warnings; or status "error" with the problems,
each naming its field. The batch's column-wise path reads, checks and decides the mappings
(`batch.assess_chunk`), so an invalid item never stops the others and none raises.
Pure: no files, no printing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from itertools import islice
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._batch_read import Item, Raw
    from ._rulepack import RulePack


def screen(
    requirements: Iterable[Mapping[str, Any]],
    *,
    rulepack: RulePack | None = None,
    samples: int = 32,
    explain: bool = False,
) -> list[dict[str, Any]]:
    """Screen many projects at the batch's speed: one record per input, in input order, the
    JSON line `advisor batch` writes for it, parsed.

    Args:
        requirements: mappings of fields, as a requirements file or a JSON line holds them (an
            optional "id" key is carried into the record). An item that is not a mapping gets
            an error record.
        rulepack: the rule pack; the bundled default when None.
        samples: Monte Carlo samples per project for the confidence: the first this many of
            the pack's stream, at most its count (32, the batch's screening estimate, by
            default; the pack's own count, 2,000 for the bundled pack, gives `recommend`'s
            confidence exactly).
        explain: add each recommendation's exact Shapley attributions.

    Returns:
        One record per item: `status` "ok" (`recommendation`, `runner_up`, `confidence`,
        `probabilities`, `scores`, `rules_fired`, `vetoed`, `warnings`...) or "error"
        (`errors`: field and message of each problem); `row` is the item's index and `source`
        reads `<item N>`.

    Raises:
        UsageError: `samples` is below 1 (an AdvisorError, and a ValueError).
    """
    from ._api import load_rulepack
    from ._batch import CHUNK_ROWS, EXPLAIN_CHUNK_ROWS, assess_chunk
    from ._decide import prepare
    from ._errors import Problem, UsageError
    from ._process import gc_paused

    if samples < 1:
        raise UsageError(Problem("", "samples", f"must be 1 or more (got {samples})"))
    pack = rulepack if rulepack is not None else load_rulepack()
    prep = prepare(pack)
    size = EXPLAIN_CHUNK_ROWS if explain else CHUNK_ROWS
    k = min(samples, pack.uncertainty.samples)
    rows = (_row(i, item) for i, item in enumerate(requirements))
    out: list[dict[str, Any]] = []
    # Nothing here makes reference cycles: the collector would only walk the records built.
    with gc_paused():
        while chunk := list(islice(rows, size)):
            lines = assess_chunk(chunk, prep, explain=explain, samples=k).lines
            out += [json.loads(line) for line in lines]
    return out


def _row(i: int, item: Any) -> Raw | Item:
    # What `recommend` refuses in a mapping is refused here with the same message (a key that
    # is not text, NaN, a lone surrogate, deep nesting); then a JSON line when the mapping is
    # plain JSON data (the batch reads those by column), else the item itself, which the
    # requirements model reads (a Range, an enum).
    from ._batch_read import Item, _item_from_doc
    from ._loading import MAX_BYTES, first_bad_value

    where = f"<item {i}>"
    if not isinstance(item, Mapping):
        return _item_from_doc(i, where, item)
    doc = dict(item)
    bad = first_bad_value(doc)
    if bad is not None:
        return Item(i, where, None, ((bad[0], bad[2]),))
    try:
        line = json.dumps(doc, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError):
        return _item_from_doc(i, where, doc)
    if len(line) > MAX_BYTES:  # a JSON line that long is refused as a line; this is a mapping
        return _item_from_doc(i, where, doc)
    return (i, where, "json", line)
