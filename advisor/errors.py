"""The advisor's exception tree.

Every error meant for a person is an `AdvisorError`. Each carries `problems`: one line per
problem, already naming the file and the field, so the CLI prints them as they are and exits 2.
Anything else that escapes is a bug (exit 1).
"""

from __future__ import annotations


class AdvisorError(Exception):
    """Base of every error the advisor raises on purpose.

    Args:
        problems: one human-readable line per problem (file and field named in each).
    """

    def __init__(self, problems: list[str] | str) -> None:
        self.problems: list[str] = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


class InputError(AdvisorError):
    """A requirements file (or stdin, or mapping) is missing, unreadable or invalid."""


class RulePackError(AdvisorError):
    """A rule pack is missing, unreadable or invalid."""


class OutputError(AdvisorError):
    """An output file cannot be written where the user asked."""
