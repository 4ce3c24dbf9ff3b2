"""Sources and fit: cite the pack's bibliography, and tell which evidence fits a project.

Takes the pack's `sources` (rules/sources.yaml), its evidence entries and a project's
`Requirements`; gives `SourceRef` and `EvidenceRef` objects for the Assessment. Evidence measured
in the project's modality, or in a sector one of its regimes belongs to, fits the project; other
evidence is kept, after the evidence that fits, and labelled as an analogy from its domain.
Pure: no files, no printing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ._assessment import EvidenceRef, SourceRef

if TYPE_CHECKING:  # rulepack imports precedents, which imports this module
    from ._requirements import Requirements
    from ._rulepack import Evidence, RulePack, Source


@dataclass(frozen=True)
class ProjectFit:
    """What evidence is matched on: the project's modality and its regimes' sectors."""

    modality: str
    sectors: frozenset[str]


#: The fit used where no project is known (every entry counts as fitting).
ANY_PROJECT = ProjectFit(modality="", sectors=frozenset())


def project_fit(req: Requirements, pack: RulePack) -> ProjectFit:
    """Give a project's modality and the sectors of the regimes it declares that the pack knows."""
    regimes = {r.id: r for r in pack.regimes}
    sectors = {s for rid in req.regulation.regimes if rid in regimes for s in regimes[rid].sectors}
    return ProjectFit(modality=str(req.task.modality), sectors=frozenset(sectors))


def fits(e: Evidence, fit: ProjectFit) -> bool:
    """Tell whether an evidence entry is direct evidence for a project (not an analogy)."""
    if fit is ANY_PROJECT or (not e.modalities and not e.sectors):
        return True
    return fit.modality in e.modalities or bool(fit.sectors.intersection(e.sectors))


def citation(src: Source) -> str:
    """Give a source as one line of text: title (original title), kind, publisher, date."""
    title = src.title + (f" ({src.original_title})" if src.original_title else "")
    kind = src.kind + (", in Chinese" if src.language == "zh" else "")
    if src.language not in ("en", "zh"):
        kind += f", language {src.language}"
    parts = [title, kind, src.publisher] + ([src.date] if src.date else [])
    return "; ".join(parts)


def source_ref(src: Source) -> SourceRef:
    """Give a bibliography entry as the Assessment carries it (built once per entry and shared:
    both are frozen)."""
    hit = _refs.get(id(src))
    if hit is not None and hit[0] is src:
        return hit[1]
    ref = SourceRef(
        id=src.id,
        title=src.title,
        original_title=src.original_title,
        kind=src.kind,
        publisher=src.publisher,
        date=src.date,
        url=src.url,
        citation=citation(src),
    )
    if len(_refs) >= _REF_CACHE_SIZE:  # threads may race here: at worst a ref is rebuilt
        _refs.clear()
    _refs[id(src)] = (src, ref)  # the entry itself is kept, so its id is not reused
    return ref


# One SourceRef per bibliography entry, shared, as the EvidenceRefs below.
_refs: dict[int, tuple[Source, SourceRef]] = {}


def evidence_refs(
    evidence: Mapping[str, Evidence],
    sources: Mapping[str, Source],
    ids: Iterable[str],
    fit: ProjectFit = ANY_PROJECT,
) -> list[EvidenceRef]:
    """Give the evidence entries for ids, those that fit the project first (stable otherwise).

    Args:
        evidence: the pack's evidence by id (unknown ids were rejected when the pack loaded).
        sources: the pack's bibliography by id.
        ids: the evidence ids an entry cites, in its order.
        fit: the project the evidence is shown for.

    Returns:
        One `EvidenceRef` per known id; an analogy carries its label in `analogy`.
    """
    out = []
    for e in (evidence[i] for i in ids if i in evidence):
        src = sources.get(e.source)
        ok = fits(e, fit)
        out.append(_evidence_ref(e, src, ok))
    # sorted() is stable: the pack's order is kept within the fitting and the analogy entries.
    return sorted(out, key=lambda r: not r.fits)


# One EvidenceRef per (entry, source, fits), shared: the models are frozen, and every assessment
# cites the same few dozen entries. The cache holds the entry and source themselves, so an id in
# its key is never reused while the entry is cached.
_ref_cache: dict[tuple[int, int, bool], tuple[Evidence, Source | None, EvidenceRef]] = {}
_REF_CACHE_SIZE = 4096


def _evidence_ref(e: Evidence, src: Source | None, ok: bool) -> EvidenceRef:
    key = (id(e), id(src), ok)
    hit = _ref_cache.get(key)
    if hit is not None and hit[0] is e and hit[1] is src:
        return hit[2]
    ref = EvidenceRef(
        id=e.id,
        claim=e.claim,
        figure=e.figure,
        source=citation(src) if src is not None else e.source,
        source_title=src.title if src is not None else e.source,
        source_id=e.source,
        url=src.url if src is not None else "",
        kind=e.kind,
        fits=ok,
        analogy="" if ok else f"analogy from {e.domain or 'another domain'}",
    )
    if len(_ref_cache) >= _REF_CACHE_SIZE:  # threads may race here: at worst a ref is rebuilt
        _ref_cache.clear()
    _ref_cache[key] = (e, src, ref)
    return ref


def cited(
    lists: Iterable[Sequence[EvidenceRef]],
    precedent_sources: Iterable[Sequence[SourceRef]],
    sources: Mapping[str, Source],
) -> list[SourceRef]:
    """Give every source cited by the evidence lists and precedents, once each, in citing order."""
    seen: dict[str, SourceRef] = {}
    for refs in lists:
        for r in refs:
            if r.source_id not in seen and r.source_id in sources:
                seen[r.source_id] = source_ref(sources[r.source_id])
    for srcs in precedent_sources:
        for s in srcs:
            seen.setdefault(s.id, s)
    return list(seen.values())
