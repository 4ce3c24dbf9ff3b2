"""The precedent library: public systems and the architecture they chose (context, not scoring).

Takes the pack's precedent entries (rules/precedents.yaml, each citing its public sources by
bibliography id) and a project's `Requirements`; gives the most similar precedents as
`PrecedentMatch` objects, found by an exact Euclidean search (numpy, brute force over a few dozen
rows) over standardised features. Nothing here feeds the scores: the engine decides first, and
the precedents are shown beside the decision as context.

Features (one row per precedent, the project encoded the same way):
    - modality: one-hot, each column scaled by `MODALITY_WEIGHT / sqrt(2)`, so two different
      modalities are exactly `MODALITY_WEIGHT` standard deviations apart;
    - log10(1 + paired examples), latency class (0 realtime .. 3 batch) and criticality
      (0 non-critical .. 3 safety-critical): standardised (z-scores over the library).

Ranking: precedents of the project's modality, or of a sector one of its regimes belongs to,
come before the others (nearest first within each tier); a precedent of another modality and
sector is shown only to make up `MIN_SHOWN` matches when too few fit (a loan model is not
compared with a self-driving stack while lending precedents exist).

The standardised library is cached per library.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ._assessment import Option, PrecedentMatch
from ._citations import ProjectFit, source_ref
from ._requirements import CRITICALITY_ORDER, MODALITIES, Requirements, point

if TYPE_CHECKING:  # rulepack imports this module
    from ._rulepack import Source

LatencyClass = Literal["realtime", "interactive", "seconds", "batch"]
Criticality = Literal["non_critical", "business_critical", "regulated", "safety_critical"]

#: Latency classes in order, with the budget (ms) each one reaches up to.
LATENCY_CLASSES: tuple[tuple[str, float], ...] = (
    ("realtime", 100.0),
    ("interactive", 1000.0),
    ("seconds", 10000.0),
    ("batch", math.inf),
)
#: How many standard deviations a different modality counts for (a judgement: the modality
#: decides which stages exist at all, so it weighs more than one numeric feature).
MODALITY_WEIGHT = 1.5
#: How many precedents a report shows.
DEFAULT_K = 5
#: Precedents of another modality and sector are shown only to reach this many matches.
MIN_SHOWN = 3
#: The text markers that qualify a fact of a precedent.
SECONDARY = "(secondary)"
UNVERIFIED = "(memory, unverified)"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, frozen=True)


class PrecedentFeatures(_Strict):
    """The numbers the similarity search uses, with which of them are estimates."""

    modality: Literal["text", "speech", "vision", "tabular", "multimodal", "control", "other"]
    paired_log10: float = Field(ge=0, le=13)
    latency_class: LatencyClass
    criticality: Criticality
    estimated: list[Literal["paired_log10", "latency_class", "criticality"]] = []
    sectors: list[
        Literal["finance", "insurance", "health", "automotive", "trading", "online_platforms"]
    ] = []
    note: str = ""


class Precedent(_Strict):
    """One public system and the architecture it chose, with its sources' bibliography ids."""

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_.-]*$")
    domain: str
    system: str
    year: str
    architecture: Option
    confidence: Literal["high", "med-high", "med", "low"]
    architecture_note: str
    why: str
    data: str
    latency: str
    regulatory: str
    sources: list[str] = Field(min_length=1)
    features: PrecedentFeatures

    def texts(self) -> list[str]:
        """Give every free-text field, for the qualifying markers."""
        return [
            self.system,
            self.architecture_note,
            self.why,
            self.data,
            self.latency,
            self.regulatory,
            self.features.note,
        ]


def latency_class(budget_ms: float) -> str:
    """Give the latency class of a p95 budget in milliseconds."""
    for name, upto in LATENCY_CLASSES:
        if budget_ms < upto:
            return name
    return LATENCY_CLASSES[-1][0]  # pragma: no cover - inf above


def _numeric(modality: str, paired_log10: float, lat: str, crit: str) -> list[float]:
    names = [n for n, _ in LATENCY_CLASSES]
    return [
        float(paired_log10),
        float(names.index(lat)),
        float(CRITICALITY_ORDER.index(crit)),
    ]


def _onehot(modality: str) -> list[float]:
    w = MODALITY_WEIGHT / math.sqrt(2.0)
    return [w if m == modality else 0.0 for m in MODALITIES]


def project_features(req: Requirements) -> dict[str, Any]:
    """Give a project's precedent features (the same encoding as the library's)."""
    return {
        "modality": str(req.task.modality),
        "paired_log10": round(math.log10(1.0 + point(req.data.paired_examples)), 3),
        "latency_class": latency_class(point(req.latency.budget_ms)),
        "criticality": str(req.regulation.criticality),
    }


class _Index:
    """The standardised rows of one library, for an exact nearest-neighbour search in numpy."""

    def __init__(self, library: Sequence[Precedent]) -> None:
        import numpy as np

        num = np.array(
            [
                _numeric(
                    p.features.modality,
                    p.features.paired_log10,
                    p.features.latency_class,
                    p.features.criticality,
                )
                for p in library
            ]
        ).reshape(len(library), 3)
        # z-scores over the library (population standard deviation; a constant column keeps
        # scale 1, as scikit-learn's StandardScaler does).
        self.mean = num.mean(axis=0)
        std = num.std(axis=0)
        self.scale = np.where(std < 10 * np.finfo(float).eps, 1.0, std)
        onehots = np.array([_onehot(p.features.modality) for p in library])
        self.rows = np.hstack([(num - self.mean) / self.scale, onehots.reshape(len(library), -1)])
        self.size = len(library)

    def distances(self, feats: dict[str, Any]) -> list[tuple[float, int]]:
        """Give (distance, library index) for every precedent, nearest first.

        A brute-force Euclidean search: exact, and for a library of a few dozen rows cheaper
        than building any index (scikit-learn's k-d tree cost a 1.4 s import).
        """
        import numpy as np

        num = np.array(
            _numeric(
                feats["modality"],
                feats["paired_log10"],
                feats["latency_class"],
                feats["criticality"],
            )
        )
        row = np.concatenate([(num - self.mean) / self.scale, _onehot(feats["modality"])])
        dist = np.sqrt(((self.rows - row[None, :]) ** 2).sum(axis=1))
        # Round before sorting so that ties break on the library order, not on float noise.
        return sorted((round(float(d), 6) + 0.0, i) for i, d in enumerate(dist.tolist()))


_cache: dict[tuple[Any, ...], _Index] = {}
_lock = threading.Lock()


class _Shown:
    """One library's index, and what a match shows of each precedent that no project changes."""

    def __init__(self, library: Sequence[Precedent]) -> None:
        self.index = _index(library)
        self.features = [p.features.model_dump(mode="json") for p in library]
        self.secondary = [any(SECONDARY in t for t in p.texts()) for p in library]
        self.unverified = [any(UNVERIFIED in t for t in p.texts()) for p in library]
        self.sectors = [frozenset(p.features.sectors) for p in library]


def _shown(library: Sequence[Precedent]) -> _Shown:
    # Built once per library object, as `decide.prepare` compiles a pack once per pack object.
    hit = _by_object.get(id(library))
    if hit is not None and hit[0] is library:
        return hit[1]
    shown = _Shown(library)
    with _lock:
        if len(_by_object) >= 64:
            _by_object.clear()
        _by_object[id(library)] = (library, shown)  # the library itself is kept: its id stays
    return shown


_by_object: dict[int, tuple[Sequence[Precedent], _Shown]] = {}


def _index(library: Sequence[Precedent]) -> _Index:
    key = tuple(
        (
            p.id,
            p.features.modality,
            p.features.paired_log10,
            p.features.latency_class,
            p.features.criticality,
        )
        for p in library
    )
    with _lock:
        hit = _cache.get(key)
        if hit is None:
            hit = _Index(library)
            _cache[key] = hit
        return hit


def _pairs(log10: float) -> str:
    from ._units import count

    return count(10.0**log10 if log10 > 0 else 0.0)


def _why_similar(p: Precedent, feats: dict[str, Any]) -> str:
    f = p.features
    est = set(f.estimated)
    parts = []
    parts.append(
        f"same modality ({f.modality})"
        if f.modality == feats["modality"]
        else f"different modality ({f.modality})"
    )
    decades = f.paired_log10 - feats["paired_log10"]
    tag = ", estimate" if "paired_log10" in est else ""
    pairs = _pairs(f.paired_log10)
    if abs(decades) < 0.5:
        parts.append(f"similar data scale ({pairs} pairs{tag})")
    else:
        side = "more" if decades > 0 else "less"
        parts.append(f"{abs(decades):.1f} decades {side} data ({pairs} pairs{tag})")
    tag = ", estimate" if "latency_class" in est else ""
    parts.append(
        f"same latency class ({f.latency_class}{tag})"
        if f.latency_class == feats["latency_class"]
        else f"latency class {f.latency_class}{tag}"
    )
    crit = f.criticality.replace("_", " ")
    tag = ", judgement" if "criticality" in est else ""
    parts.append(
        f"same criticality ({crit}{tag})"
        if f.criticality == feats["criticality"]
        else f"criticality {crit}{tag}"
    )
    return "; ".join(parts)


def _tier(p: Precedent, sectors: frozenset[str], fit: ProjectFit) -> int:
    # 0: same modality and a shared sector; 1: one of the two; 2: neither.
    same_mod = p.features.modality == fit.modality
    same_sec = bool(fit.sectors & sectors)
    return 2 - int(same_mod) - int(same_sec)


def nearest(
    req: Requirements,
    library: Sequence[Precedent],
    k: int = DEFAULT_K,
    *,
    sources: Mapping[str, Source] | None = None,
    sectors: frozenset[str] = frozenset(),
) -> list[PrecedentMatch]:
    """Give up to k precedents most similar to a project, those of its modality or sector first.

    Args:
        req: the project's requirements.
        library: the pack's precedents.
        k: how many to give at most (fewer when the library is smaller, or when fewer than k
            share the project's modality or sector: others only make up `MIN_SHOWN`).
        sources: the pack's bibliography by id, to cite each precedent's sources (ids
            without an entry are left out; the pack check refuses them).
        sectors: the sectors of the project's regimes.

    Returns:
        The matches, fitting tiers first and nearest first within a tier, with their distance
        (in standard deviations) and why they are similar; an empty list for an empty library.
    """
    if not library or k <= 0:
        return []
    feats = project_features(req)
    fit = ProjectFit(modality=feats["modality"], sectors=sectors)
    shown = _shown(library)
    tiers = [_tier(p, shown.sectors[i], fit) for i, p in enumerate(library)]
    ranked = sorted(shown.index.distances(feats), key=lambda di: (tiers[di[1]], di[0]))
    chosen = [di for di in ranked if tiers[di[1]] < 2][:k]
    if len(chosen) < min(MIN_SHOWN, k):
        chosen += [di for di in ranked if tiers[di[1]] == 2][: min(MIN_SHOWN, k) - len(chosen)]
    bib = sources or {}
    out = []
    for dist, i in chosen:
        p = library[i]
        out.append(
            PrecedentMatch(
                id=p.id,
                domain=p.domain,
                system=p.system,
                year=p.year,
                architecture=p.architecture,
                confidence=p.confidence,
                architecture_note=p.architecture_note,
                why=p.why,
                data=p.data,
                latency=p.latency,
                regulatory=p.regulatory,
                sources=[source_ref(bib[s]) for s in p.sources if s in bib],
                secondary=shown.secondary[i],
                unverified=shown.unverified[i],
                distance=round(dist, 4) + 0.0,
                similarity=_why_similar(p, feats),
                # A copy: the assessment's dict is its own (nested lists included).
                features={
                    key: list(v) if isinstance(v, list) else v
                    for key, v in shown.features[i].items()
                },
                same_modality=p.features.modality == fit.modality,
                same_sector=bool(fit.sectors & shown.sectors[i]),
            )
        )
    return out
