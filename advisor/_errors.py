"""The advisor's exception tree and its structured problems.

Every error meant for a person is an `AdvisorError`. Each carries `details`: one `Problem` per
problem (the source, the field, the message), which the CLI, batch and the service format as
they need without parsing text; `problems` gives the same as one line each (`source: field:
message`), as the CLI prints them before exiting 2. Anything else that escapes is a bug (exit 1).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

#: At most this many problems are kept per error: a file with 100,000 unknown keys is refused
#: with the first ones and a count of the rest, not a 100,000-line message.
MAX_PROBLEMS = 50


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input.

    Attributes:
        source: where the input came from: a file path, `<stdin>`, `<mapping>`, `<body>`, a batch
            row (`portfolio.csv:3`), or "" when there is no input to name (an option's value).
        field: the dotted field path (`latency.budget_ms`, `rules[id=x].when`), `line 3`,
            `(top level)`, or "" when the problem concerns the source as a whole.
        message: what is wrong, in words a person can act on.
        loc: the field as a path of keys and list positions, when known (the service's `loc`).
    """

    source: str
    field: str
    message: str
    #: The field as a path of keys and list positions (`("latency", "budget_ms")`), when known.
    loc: tuple[str | int, ...] = ()

    def line(self) -> str:
        """Give the one-line form: `source: field: message`, leaving out the empty parts."""
        return ": ".join(part for part in (self.source, self.field, self.message) if part)

    def __str__(self) -> str:
        return self.line()


@dataclass(frozen=True)
class _More(Problem):
    """The last problem of a capped list: how many were left out."""

    count: int = 0


def capped(problems: Iterable[Problem], limit: int = MAX_PROBLEMS) -> list[Problem]:
    """Give at most `limit` problems; when there are more, the last says how many were left out.

    Args:
        problems: the problems, in the order to report them.
        limit: how many to keep.
    """
    out: list[Problem] = []
    more = 0
    for p in problems:
        if isinstance(p, _More):  # capped already: its count carries over
            more += p.count
        elif len(out) < limit:
            out.append(p)
        else:
            more += 1
    if more:
        source = out[-1].source if out else ""
        out.append(_More(source, "", f"... and {more} more problems (not listed)", (), more))
    return out


class AdvisorError(Exception):
    """Base of every error the advisor raises on purpose.

    Args:
        problems: one `Problem` per problem, or lines of text (a line is kept as a problem with
            only a message; new code passes `Problem`s, so nothing has to parse the text).

    Attributes:
        details: the problems, structured.
        problems: the same, one line each (`Problem.line`), as the CLI prints them.
    """

    def __init__(self, problems: Problem | str | Iterable[Problem | str]) -> None:
        items = [problems] if isinstance(problems, Problem | str) else list(problems)
        self.details: list[Problem] = capped(
            p if isinstance(p, Problem) else Problem("", "", str(p)) for p in items
        )
        self.problems: list[str] = [p.line() for p in self.details]
        super().__init__("\n".join(self.problems))

    def __reduce__(self) -> tuple[type[AdvisorError], tuple[list[Problem]]]:
        # Pickled whole (worker processes send errors back), not rebuilt from the joined text.
        return type(self), (self.details,)


class InputError(AdvisorError):
    """A requirements file (or stdin, or mapping) is missing, unreadable or invalid."""


class RulePackError(AdvisorError):
    """A rule pack is missing, unreadable or invalid."""


class OutputError(AdvisorError):
    """An output file cannot be written where the user asked."""


class UsageError(AdvisorError, ValueError):
    """A function of the API was called with an argument it does not take (an unknown format,
    a negative job count). Also a ValueError, which is what these calls raised before."""
