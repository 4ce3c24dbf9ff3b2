"""Where the bundled rule pack and templates live, and reading a pack folder from disk.

Takes a folder path (or nothing, for the bundled default pack); gives a validated `RulePack`.
This module and the CLI are the only places that read files.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from ._errors import Problem, RulePackError
from ._loading import MAX_BYTES, ParseError, parse_text
from ._packbuild import build_pack, inherit, merge_documents
from ._rulepack import RulePack

_HERE = Path(__file__).resolve().parent


def _data_dir(name: str) -> Path:
    # In a wheel the top-level folders are installed as advisor/_data/<name>; in a source
    # checkout (editable install, tests) they sit beside the package.
    packaged = _HERE / "_data" / name
    return packaged if packaged.is_dir() else _HERE.parent / name


def default_rules_dir() -> Path:
    """Give the folder of the bundled default rule pack."""
    return _data_dir("rules")


def templates_dir() -> Path:
    """Give the folder of the bundled report templates."""
    return _data_dir("templates")


def read_pack_documents(folder: Path) -> dict[str, object]:
    """Read and parse every YAML file of a pack folder, keyed by the file's display name.

    Raises:
        RulePackError: the folder is missing or a file cannot be read or parsed.
    """
    if not folder.exists():
        raise RulePackError(f"{folder}: rule pack folder not found")
    if not folder.is_dir():
        raise RulePackError(f"{folder}: a rule pack is a folder of YAML files, not a file")
    # A labelled set (`*-labelled.yaml`, read by `advisor rules backtest`) may sit beside the
    # pack it tests; it is not part of the pack, nor of its sha256.
    files = sorted(
        p
        for p in folder.iterdir()
        if p.suffix in (".yaml", ".yml") and p.is_file() and not p.stem.endswith("-labelled")
    )
    if not files:
        raise RulePackError(f"{folder}: no .yaml files in the rule pack folder")
    bundled = folder.resolve() == default_rules_dir().resolve()
    docs: dict[str, object] = {}
    problems: list[Problem] = []
    texts: dict[str, bytes] = {}
    for path in files:
        try:
            texts[str(path)] = _read_bounded(path)
        except OSError as e:
            problems.append(Problem(str(path), "", f"cannot be read ({e.strerror})"))
        except ParseError as e:
            problems.append(e.problem(str(path)))
    cached = _cached_documents(texts) if bundled and not problems else None
    if cached is not None:
        return cached
    for shown, data in texts.items():
        try:
            docs[shown] = parse_text(data, shown, bundled=bundled)
        except ParseError as e:
            problems.append(e.problem(shown))
    if problems:
        raise RulePackError(problems)
    if bundled:
        _store_documents(texts, docs)
    return docs


# The bundled pack's parsed documents, cached as JSON (parsing its YAML costs about a tenth of a
# second per process; reading JSON, a few milliseconds). Only the advisor's own files are cached,
# keyed by their bytes together with the parser's source, in a private per-user folder of the
# temporary directory (as Jinja's compiled templates are). JSON holds only data: a cache entry
# can never run code, and the documents are validated as always. ADVISOR_NO_PACK_CACHE=1 turns
# it off.


def _cache_path(texts: dict[str, bytes]) -> Path | None:
    import hashlib
    import os
    import tempfile

    if os.environ.get("ADVISOR_NO_PACK_CACHE"):
        return None
    try:
        digest = hashlib.sha256((_HERE / "_loading.py").read_bytes())
        for shown, data in texts.items():
            digest.update(f"\0{Path(shown).name}\0{len(data)}\0".encode())
            digest.update(data)
        uid = os.getuid() if hasattr(os, "getuid") else 0
        folder = Path(tempfile.gettempdir()) / f"_advisor-pack-cache-{uid}"
        if not folder.exists():
            folder.mkdir(mode=0o700)
        st = folder.lstat()
        # Another user's folder, a link or one others can write to: no cache.
        if not folder.is_dir() or folder.is_symlink() or st.st_mode & 0o077:
            return None
        if hasattr(os, "getuid") and st.st_uid != uid:
            return None
    except OSError:
        return None
    return folder / f"{digest.hexdigest()}.json"


def _cached_documents(texts: dict[str, bytes]) -> dict[str, object] | None:
    import json

    path = _cache_path(texts)
    if path is None:
        return None
    try:
        names = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(names, dict):
        return None
    by_name = {Path(shown).name: shown for shown in texts}
    if sorted(names) != sorted(by_name):
        return None
    return {by_name[name]: names[name] for name in sorted(names, key=list(by_name).index)}


def _store_documents(texts: dict[str, bytes], docs: dict[str, object]) -> None:
    import json
    import os

    path = _cache_path(texts)
    if path is None:
        return
    names = {Path(shown).name: doc for shown, doc in docs.items()}
    try:
        text = json.dumps(names, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError):
        return
    if not _same(json.loads(text), names):  # a key or value JSON would not give back as it is
        return
    tmp = path.with_name(f"{path.stem}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError:  # a full or read-only disk: the pack does not need the cache
        try:
            tmp.unlink()
        except OSError:
            pass


def _same(a: object, b: object) -> bool:
    # Equal, and of the same types throughout (1 == 1.0 == True for ==; not here).
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        assert isinstance(b, dict)
        return list(a) == list(b) and all(
            _same(ka, kb) and _same(a[ka], b[kb]) for ka, kb in zip(a, b, strict=True)
        )
    if isinstance(a, list):
        assert isinstance(b, list)
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def _read_bounded(path: Path, limit: int = MAX_BYTES) -> bytes:
    # The size is checked before anything is read (a 1 GB sparse file costs nothing), and at
    # most limit + 1 bytes are read (the file may grow between the check and the read).
    size = path.stat().st_size
    if size > limit:
        raise ParseError(f"file is larger than {limit // 1_000_000} MB ({size} bytes)")
    with path.open("rb") as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise ParseError(f"file is larger than {limit // 1_000_000} MB")
    return data


_cache: dict[str, RulePack] = {}
_lock = threading.Lock()


def load_pack_dir(folder: Path | str | None = None) -> RulePack:
    """Load and validate a rule pack folder; the bundled default when `folder` is None.

    Packs are cached by resolved path, so repeated calls (and threads) share one load.
    """
    path = Path(folder) if folder is not None else default_rules_dir()
    key = str(path.resolve())
    with _lock:
        cached = _cache.get(key)
        if cached is not None:
            return cached
        docs = read_pack_documents(path)
        pack = build_pack(docs, str(path), parent=parent_documents(docs, path))
        _cache[key] = pack
        return pack


def resolve_extends(ref: object, folder: Path, shown: str | None = None) -> Path:
    """Give the folder a pack's `extends` names: `default` (the bundled pack) or a path.

    A relative path is taken from the extending pack's folder. `shown` is the file that holds
    `extends`, for messages (the folder when not given).

    Raises:
        RulePackError: `extends` is not a string.
    """
    if not isinstance(ref, str) or not ref.strip() or not ref.isprintable():
        # A NUL or another control character names no folder (and the OS would refuse it).
        raise RulePackError(
            Problem(
                shown or str(folder), "extends", f"must be 'default' or a pack folder (got {ref!r})"
            )
        )
    if ref == "default":
        return default_rules_dir()
    p = Path(ref)
    return p if p.is_absolute() else folder / p


def parent_documents(
    docs: dict[str, object], folder: Path, _chain: tuple[str, ...] = ()
) -> tuple[dict[str, Any], dict[str, str]] | None:
    """Give the effective (mapping, origin) of the pack that `docs` extends, or None.

    Parents may extend packs in turn; a cycle is an error.

    Raises:
        RulePackError: the parent is missing or unreadable, or `extends` forms a cycle.
    """
    merged, origin = merge_documents(docs)
    ref = merged.get("extends")
    if ref is None:
        return None
    shown = origin.get("extends", str(folder))
    parent_dir = resolve_extends(ref, folder, shown)
    key = str(parent_dir.resolve())
    chain = _chain + (str(folder.resolve()),)
    if key in chain:
        raise RulePackError(
            Problem(shown, "extends", f"'{ref}' leads back to {parent_dir} (a cycle)")
        )
    try:
        found = parent_dir.is_dir()
    except (OSError, ValueError):  # a name too long for the system, say
        found = False
    if not found:
        raise RulePackError(Problem(shown, "extends", f"pack folder {parent_dir} not found"))
    p_docs = read_pack_documents(parent_dir)
    p_merged, p_origin = merge_documents(p_docs)
    grand = parent_documents(p_docs, parent_dir, chain)
    if grand is None:
        return p_merged, p_origin
    eff, origin, _ = inherit(grand, (p_merged, p_origin))
    return eff, origin
