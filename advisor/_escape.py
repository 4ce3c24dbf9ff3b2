"""Making user text inert: for a terminal, for Markdown, for a shell command line.

Pure functions from str to str. Everything the user typed (names, descriptions, file names,
unknown keys, CSV column names) and everything a rule pack says passes through one of them
before it reaches a terminal or a Markdown document:

- `printable`: every character that a terminal would act on rather than show (C0 and C1
  controls, ESC, DEL, line and paragraph separators, bidirectional overrides and isolates,
  invisible tag characters) and every lone surrogate (which cannot be encoded at all) becomes a
  visible escape such as `\\x1b` or `\\u202e`. Ordinary text, accents, CJK and emoji are kept.
- `markdown`: user text as literal inline Markdown (CommonMark and GitHub's extensions): no
  fence, heading, list, quote, table cell break, link, image, HTML, entity, emphasis,
  strikethrough, math or line break can start inside it.
- `shell_quote`: a word a POSIX shell reads back as exactly the string, on one line.
"""

from __future__ import annotations

import re

# Bidirectional formatting (the "Trojan Source" characters: CVE-2021-42574) and the invisible
# tag characters, which a terminal shows as nothing or uses to reorder what is shown.
_BIDI = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_TAGS = "\U000e0000-\U000e007f"
# C0 controls (tab and newline included), DEL, C1 controls, the Unicode line and paragraph
# separators, the bidi and tag characters, and lone surrogates.
_UNSAFE = re.compile(f"[\x00-\x1f\x7f-\x9f\u2028\u2029{_BIDI}{_TAGS}\ud800-\udfff]")
_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _escape_char(ch: str) -> str:
    named = _NAMED.get(ch)
    if named is not None:
        return named
    n = ord(ch)
    if n < 0x100:
        return f"\\x{n:02x}"
    if n < 0x10000:
        return f"\\u{n:04x}"
    return f"\\U{n:08x}"


def printable(text: object, keep: str = "") -> str:
    """Give `text` with every character a terminal would act on shown as an escape.

    Args:
        text: anything; it is converted with str().
        keep: characters to leave as they are (e.g. "\\n" for a multi-line block whose lines
            the caller made).

    Returns:
        The same text, where each C0/C1 control, ESC, DEL, U+2028/U+2029, bidi control, tag
        character and lone surrogate not in `keep` is written `\\n`, `\\t`, `\\r`, `\\xHH`,
        `\\uHHHH` or `\\UHHHHHHHH`. Such text can always be encoded as UTF-8.
    """
    s = str(text)
    if _UNSAFE.search(s) is None:  # most text: nothing to escape, no replacement to build
        return s
    if keep:
        return _UNSAFE.sub(lambda m: m[0] if m[0] in keep else _escape_char(m[0]), s)
    return _UNSAFE.sub(lambda m: _escape_char(m[0]), s)


# Characters that start inline markup wherever they stand: code spans (`), emphasis (* _),
# strikethrough and fences (~), links, images and footnotes ([ ]), table cells (|), headings
# and their closing sequence (#), math on GitHub ($), and the backslash itself.
_MD_ANYWHERE = re.compile(r"([\\`*\[\]|#~$])")
# An underscore inside a word cannot open or close emphasis (CommonMark's flanking rules), so
# only the others are escaped: snake_case stays readable in the source.
_MD_UNDERSCORE = re.compile(r"(?<![A-Za-z0-9])_|_(?![A-Za-z0-9])")
# What starts a block only at the start of a line: a quote, a bullet list or thematic break,
# a setext underline, an ordered list ("1." or "1)" then a space or the end).
_MD_LINE_START = re.compile(r"^([>+\-=]|\d{1,9}(?=[.)](?:[ \t]|$)))")
# '&' starts an entity only before a name or '#': "R&D" and "A & B" need no escape.
_MD_ENTITY = re.compile(r"&(?=[A-Za-z#])")
# CommonMark's line endings plus the characters other renderers and editors also break on.
_MD_LINE_BREAKS = re.compile(r"\r\n|[\r\n\x0b\x0c\x1c-\x1e\x85\u2028\u2029]")


def markdown(text: object) -> str:
    """Give `text` as literal inline Markdown: rendered, it shows exactly the characters given.

    The result is one line (line breaks become spaces, so nothing can end the paragraph, list
    item or table cell it is put in), with no raw '<' (so no HTML tag, comment or autolink),
    no '&' that could start an entity, every markup character backslash-escaped, a leading
    space or tab written as an entity (four would start an indented code block), and every
    control character but tab shown as an escape (`printable`).
    """
    s = _MD_LINE_BREAKS.sub(" ", str(text))
    s = _MD_ENTITY.sub("&amp;", s).replace("<", "&lt;")
    s = _MD_ANYWHERE.sub(r"\\\1", s)
    s = _MD_UNDERSCORE.sub(r"\\_", s)
    s = _MD_LINE_START.sub(_escape_line_start, s)
    # White space at either end as an entity: four leading spaces would start an indented
    # code block, trailing spaces make a hard line break, and white space inside a ** pair
    # would stop it being emphasis.
    if _edge_space(s[:1]):
        s = f"&#{ord(s[0])};" + s[1:]
    if _edge_space(s[-1:]):
        s = s[:-1] + f"&#{ord(s[-1])};"
    return printable(s, keep="\t")  # a tab inside a line is only white space to Markdown


def _edge_space(ch: str) -> bool:
    # White space that Markdown would trim or read as indentation; a control character that
    # counts as white space (U+001F) is left to `printable`, which shows it.
    return ch.isspace() and (ch == "\t" or not _UNSAFE.match(ch))


def _escape_line_start(m: re.Match[str]) -> str:
    token = m[1]
    if token.isdigit():  # "1. x" -> "1\. x": escaping the '.' or ')' unmakes the list marker
        return token + "\\"
    return "\\" + token


def shell_quote(word: object) -> str:
    """Give `word` quoted for a POSIX shell, always on one line.

    Plain text is quoted as `shlex.quote` does; a word holding a control character (a newline
    in a file name, say) is written in the $'...' form that bash, zsh and ksh read back
    exactly, with each such character as an escape.
    """
    import shlex

    s = str(word)
    if not _UNSAFE.search(s):
        return shlex.quote(s)
    body = s.replace("\\", "\\\\").replace("'", "\\'")
    return "$'" + printable(body) + "'"
