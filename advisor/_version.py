"""The advisor's version, read by the build and shown by `advisor --version`, and the name it
is published under."""

__version__ = "0.1.0"

#: The distribution's name on the package index (pyproject.toml's `project.name`). `advisor`
#: there is an unrelated project, so the distribution is e2e-advisor; the import package and
#: the `advisor` command keep their names.
DISTRIBUTION = "e2e-advisor"
