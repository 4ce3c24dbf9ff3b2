"""Building a rule pack: merging its files, inheriting a parent pack, and naming every problem.

Takes a mapping of file name -> parsed YAML document (`_resources` reads the files) and gives a
validated `RulePack` (`build_pack`), or `RulePackError` with one line per problem naming the
file and the rule id or field. Also: a child pack's inheritance (`inherit`) and the checks of
references between sections (evidence, sources, patterns).
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from ._errors import Problem, RulePackError
from ._fields import OPTIONS
from ._loading import field_path, shown_key, validation_details
from ._rulepack import RulePack

# Top-level keys that hold lists of id'd entries, merged across files.
LIST_SECTIONS = (
    "rules",
    "evidence",
    "patterns",
    "advice",
    "regimes",
    "scenarios",
    "background",
    "risks",
    "precedents",
    "sources",
)


def merge_documents(docs: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """Merge a pack's parsed files into one mapping.

    Args:
        docs: file name -> parsed YAML mapping.

    Returns:
        The merged mapping, and for each `section` or `section:id` the file it came from.

    Raises:
        RulePackError: when a file is not a mapping, a section name or an id is not text, or an
            id or section appears twice.
    """
    merged: dict[str, Any] = {}
    origin: dict[str, str] = {}
    problems: list[Problem] = []
    for fname in sorted(docs):
        doc = docs[fname]
        if doc is None:
            continue
        if not isinstance(doc, dict):
            problems.append(Problem(fname, "(top level)", "must be a mapping of pack sections"))
            continue
        for key, value in doc.items():
            if not isinstance(key, str):
                problems.append(
                    Problem(
                        fname,
                        shown_key(key),
                        f"a pack section name must be text (got {type(key).__name__} {key!r})",
                        (key,),
                    )
                )
                continue
            if key in LIST_SECTIONS:
                if not isinstance(value, list):
                    problems.append(Problem(fname, key, "must be a list", (key,)))
                    continue
                merged.setdefault(key, [])
                for i, item in enumerate(value):
                    item_id = item.get("id") if isinstance(item, dict) else None
                    if item_id is not None and not isinstance(item_id, str):
                        problems.append(
                            Problem(
                                fname,
                                f"{key}[{i}].id",
                                f"must be a text id (got {_kind_of(item_id)})",
                                (key, i, "id"),
                            )
                        )
                        continue
                    tag = (
                        f"{key}:{item_id}" if item_id is not None else f"{key}[{len(merged[key])}]"
                    )
                    if item_id is not None and tag in origin:
                        problems.append(
                            Problem(
                                fname,
                                f"{key}[{i}] (id '{shown_key(item_id)}')",
                                f"duplicate id, already defined in {origin[tag]}",
                                (key, i),
                            )
                        )
                        continue
                    origin[tag] = fname
                    merged[key].append(item)
            else:
                if key in merged:
                    problems.append(
                        Problem(fname, shown_key(key), f"already defined in {origin[key]}", (key,))
                    )
                    continue
                merged[key] = value
                origin[key] = fname
    if problems:
        raise RulePackError(problems)
    return merged, origin


def _kind_of(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"{type(value).__name__} {value!r}"


def pack_problems(
    err: ValidationError, origin: dict[str, str], merged: dict[str, Any], folder: str = "pack"
) -> list[Problem]:
    """Turn a pack's ValidationError into problems naming the file that holds each entry.

    Args:
        err: the error of `RulePack.model_validate(merged)`.
        origin: section or `section:id` -> file, from `merge_documents`.
        merged: the merged mapping that was validated.
        folder: the pack folder, named for what no single file holds (a missing section).
    """
    out: list[Problem] = []
    for p in validation_details(err, "<pack>", RulePack):
        loc = p.loc
        section = loc[0] if loc and isinstance(loc[0], str) else None
        fname = origin.get(section, folder) if section is not None else folder
        field = p.field
        if section in LIST_SECTIONS and len(loc) > 1 and isinstance(loc[1], int):
            items = merged.get(section) or []
            item = items[loc[1]] if 0 <= loc[1] < len(items) else None
            item_id = item.get("id") if isinstance(item, dict) else None
            if isinstance(item_id, str):
                fname = origin.get(f"{section}:{item_id}", fname)
                field = field_path((f"{section}[id={shown_key(item_id)}]", *loc[2:]))
            else:  # an entry without an id: merge_documents keyed it by its position
                fname = origin.get(f"{section}[{loc[1]}]", fname)
        out.append(Problem(fname, field, p.message, loc))
    return out


def _pack_problems(
    err: ValidationError, origin: dict[str, str], merged: dict[str, Any]
) -> list[str]:
    return [p.line() for p in pack_problems(err, origin, merged)]


def reference_problems(pack: RulePack) -> list[tuple[str, str]]:
    """Give problems with references between sections (unknown evidence, advice or source ids).

    Returns:
        (where, message) pairs; `where` is the `merge_documents` origin key of the entry at
        fault (`rules:<id>`, `explainability`...), so the caller can name its file.
    """
    return [(key, f"{entry}: {message}") for key, entry, message in reference_details(pack)]


def reference_details(pack: RulePack) -> list[tuple[str, str, str]]:
    """Give problems between sections: unknown evidence or advice ids, a tie-break that does not
    list every option, a fallback pattern with a condition, background profiles that are not
    valid requirements.

    Returns:
        (key, entry, message) triples: `key` is the `merge_documents` origin key of the entry at
        fault (`rules:<id>`, `explainability`...), so the caller can name its file; `entry` names
        the entry and field (`rule x`, `background[2].data.paired_examples`).
    """
    ev = pack.evidence_by_id()
    advice_ids = {a.id for a in pack.advice}
    problems: list[tuple[str, str, str]] = []

    def refs(key: str, where: str, ids: list[str]) -> None:
        for e in ids:
            if e not in ev:
                problems.append(
                    (key, where, f"evidence '{e}' is not defined in the evidence section")
                )

    for r in pack.rules:
        refs(f"rules:{r.id}", f"rule {r.id}", r.evidence)
        if r.effect.advice and r.effect.advice not in advice_ids:
            problems.append(
                (
                    f"rules:{r.id}",
                    f"rule {r.id}",
                    f"effect.advice '{r.effect.advice}' is not defined",
                )
            )
    for p in pack.patterns:
        refs(f"patterns:{p.id}", f"pattern {p.id}", p.evidence)
    for risk in pack.risks:
        refs(f"risks:{risk.id}", f"risk {risk.id}", risk.evidence)
    for a in pack.advice:
        refs(f"advice:{a.id}", f"advice {a.id}", a.evidence)
    for prior_name, prior in pack.explainability.priors.items():
        refs("explainability", f"explainability.priors.{prior_name}", prior.evidence)
    for adj in pack.explainability.modality_adjustments + pack.explainability.method_adjustments:
        refs("explainability", f"explainability adjustment {adj.id}", adj.evidence)
    if pack.explainability.probe is not None:
        refs("explainability", "explainability.probe", pack.explainability.probe.evidence)
    for regime in pack.regimes:
        refs(f"regimes:{regime.id}", f"regime {regime.id}", [regime.source])
    for dim_name in ("data", "latency", "regulation"):
        refs("dimensions", f"dimensions.{dim_name}", getattr(pack.dimensions, dim_name).evidence)
    # Every figure's source must be a bibliography entry a reader can look up.
    bib = pack.sources_by_id()
    for e in pack.evidence:
        if e.source not in bib:
            problems.append(
                (
                    f"evidence:{e.id}",
                    f"evidence[id={e.id}].source",
                    f"'{e.source}' is not defined in the sources section",
                )
            )
    for prec in pack.precedents:
        for i, sid in enumerate(prec.sources):
            if sid not in bib:
                problems.append(
                    (
                        f"precedents:{prec.id}",
                        f"precedents[id={prec.id}].sources[{i}]",
                        f"'{sid}' is not defined in the sources section",
                    )
                )
    if set(pack.tie_break) != set(OPTIONS) or len(pack.tie_break) != 3:
        problems.append(
            ("tie_break", "tie_break", "must list end_to_end, modular and hybrid once each")
        )
    if pack.patterns[-1].when is not None:
        last = pack.patterns[-1].id
        problems.append(
            (
                f"patterns:{last}",
                f"pattern {last}",
                "the last pattern must have no 'when' (the fallback)",
            )
        )
    problems.extend(_background_problems(pack))
    return problems


def _background_problems(pack: RulePack) -> list[tuple[str, str, str]]:
    # The background profiles are requirements (the SHAP reference): each must validate as one,
    # or the engine would fail on the first assessment instead of the pack being refused here.
    from ._requirements import Requirements

    out: list[tuple[str, str, str]] = []
    for i, entry in enumerate(pack.background):
        try:
            Requirements.model_validate(entry)
        except ValidationError as e:
            for p in validation_details(e, "", Requirements, limit=5):
                where = field_path(("background", i, *p.loc)) if p.loc else f"background[{i}]"
                out.append((f"background[{i}]", where, p.message))  # merge_documents' key
    return out


def check_references(pack: RulePack) -> list[str]:
    """Give problems with references between sections (unknown evidence or advice ids)."""
    return [message for _, message in reference_problems(pack)]


def build_pack(
    docs: dict[str, Any],
    source: str,
    parent: tuple[dict[str, Any], dict[str, str]] | None = None,
) -> RulePack:
    """Validate a pack's parsed files.

    Args:
        docs: file name (as it should appear in messages) -> parsed YAML.
        source: the pack folder, for messages.
        parent: when the pack `extends` another, the parent's effective (mapping, origin).

    Returns:
        The validated pack.

    Raises:
        RulePackError: one line per problem, naming the file and the rule id or field.
    """
    merged, origin = merge_documents(docs)
    if parent is not None:
        merged, origin, _ = inherit(parent, (merged, origin))
    try:
        pack = RulePack.model_validate(merged)
    except ValidationError as e:
        raise RulePackError(pack_problems(e, origin, merged, source)) from None
    problems = reference_details(pack)
    if problems:
        # Name the file that holds the entry at fault (the folder when it cannot be told).
        raise RulePackError(
            [Problem(origin.get(key, source), entry, msg) for key, entry, msg in problems]
        )
    return pack


# ---------------------------------------------------------------------------------------------
# Inheritance: a pack that declares `extends` overrides its parent by id and by key.


def _merge_by_id(
    parent: list[Any], child: list[Any], section: str, report: dict[str, list[str]]
) -> list[Any]:
    # Entries with the same id replace the parent's in place; new ids are added at the end,
    # except that new hybrid patterns go before the parent's fallback (its last, `when`-less
    # pattern), which must stay last.
    out = list(parent)
    index = {
        e["id"]: i
        for i, e in enumerate(out)
        if isinstance(e, dict) and isinstance(e.get("id"), str)
    }
    added: list[Any] = []
    for entry in child:
        eid = entry.get("id") if isinstance(entry, dict) else None
        if isinstance(eid, str) and eid in index:
            out[index[eid]] = entry
            report.setdefault("replaced", []).append(f"{section}:{eid}")
        else:
            added.append(entry)
            report.setdefault("added", []).append(f"{section}:{eid}")
    if section == "patterns" and out and isinstance(out[-1], dict) and out[-1].get("when") is None:
        return out[:-1] + added + out[-1:]
    return out + added


def _is_id_list(value: Any) -> bool:
    return (
        isinstance(value, list)
        and bool(value)
        and all(isinstance(e, dict) and "id" in e for e in value)
    )


def _deep_merge(parent: Any, child: Any, path: str, report: dict[str, list[str]]) -> Any:
    # Mappings merge key by key (a child overrides one weight without restating its section);
    # lists of entries with ids merge by id; any other value (numbers, strings, plain lists such
    # as a curve or the tie-break order) is replaced by the child's.
    if isinstance(parent, dict) and isinstance(child, dict):
        out = dict(parent)
        for k, v in child.items():
            sub = f"{path}.{k}" if path else str(k)
            if k in parent:
                out[k] = _deep_merge(parent[k], v, sub, report)
            else:
                out[k] = v
                report.setdefault("set", []).append(sub)
        return out
    if _is_id_list(parent) and isinstance(child, list):
        return _merge_by_id(parent, child, path, report)
    if parent != child:
        report.setdefault("set", []).append(path)
    return child


def inherit(
    parent: tuple[dict[str, Any], dict[str, str]],
    child: tuple[dict[str, Any], dict[str, str]],
) -> tuple[dict[str, Any], dict[str, str], dict[str, list[str]]]:
    """Give the effective pack mapping of a child pack over its parent (`extends`).

    The child's sections override the parent's: mappings key by key (so a pack can change one
    weight, threshold or prior), lists of entries by id (rules, vetoes, advice, evidence,
    patterns, regimes, risks, precedents, explainability adjustments: the same id replaces the
    parent's entry, a new id is added). Scenarios are merged the same way: a parent scenario is
    replaced only by one with its id, so none is silently dropped. `background` (entries without
    ids) is replaced as a whole when the child gives one.

    Args:
        parent: the parent's effective (merged mapping, origin) from `merge_documents`.
        child: the child's own (merged mapping, origin).

    Returns:
        The effective mapping, the origin of each section and entry (the file that gave it), and
        what the child changed: `replaced` and `added` as `section:id`, `set` as key paths.
    """
    p_doc, p_origin = parent
    c_doc, c_origin = child
    report: dict[str, list[str]] = {}
    out: dict[str, Any] = dict(p_doc)
    origin = dict(p_origin)
    for key, value in c_doc.items():
        if (
            key in LIST_SECTIONS
            and key != "background"
            and isinstance(value, list)
            and isinstance(p_doc.get(key), list)
        ):
            out[key] = _merge_by_id(p_doc[key], value, key, report)
        elif key in p_doc and key not in ("extends",):
            out[key] = _deep_merge(p_doc[key], value, key, report)
        else:
            out[key] = value
    for tag, fname in c_origin.items():
        origin[tag] = fname
    return out, origin, report
