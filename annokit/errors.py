"""Errors a user can act on, and the policy readers follow for broken records.

Every problem with the input becomes one line: the file, the place in it, what is
wrong and, where we know it, what would fix it. The CLI prints that line and exits
non-zero; it never shows a traceback unless asked with ``--debug``.
"""
from __future__ import annotations

import os

from .notes import Note, Notes


class AnnokitError(Exception):
    """A problem the user can fix (bad input, a refused output path, a bad option)."""


class FormatError(AnnokitError):
    """A problem at a known place in an input file.

    Example:
        >>> str(FormatError("labels/a.txt", "expected 5 fields, got 4", place="line 3"))
        'labels/a.txt:line 3: expected 5 fields, got 4'
    """

    def __init__(self, file: str | os.PathLike[str], reason: str, place: str | None = None,
                 hint: str | None = None):
        self.file = os.fspath(file)
        self.place = place
        self.reason = reason
        self.hint = hint
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"{self.file}:{self.place}" if self.place else self.file
        return f"{where}: {self.reason}" + (f" ({self.hint})" if self.hint else "")


class Problems:
    """What a reader (or a writer) does with a broken record: skip and remember it, or stop.

    Lenient (the default) collects every skipped record so that nothing is dropped
    silently; strict raises the first one. Skipped records and notes go into one
    :class:`~annokit.notes.Notes` (``notes``), said by ``source``.

    Example:
        >>> problems = Problems(strict=False)
        >>> problems.skip(FormatError("a.xml", "no <bndbox>", place="object 2"))
        >>> problems.messages()
        ['a.xml:object 2: no <bndbox>']
        >>> problems.notes
        [Note(source='read', text='a.xml:object 2: no <bndbox>', kind='skipped')]
    """

    def __init__(self, strict: bool = False, source: str = "read"):
        self.strict = strict
        self.source = source
        self.notes = Notes()

    def note(self, text: str) -> None:
        """Record something the user should know that is not a skipped record."""
        self.notes.add(self.source, text)

    def skip(self, error: FormatError) -> None:
        """Record ``error`` and go on, or raise it when strict."""
        if self.strict:
            raise error
        self.notes.append(Note(self.source, str(error), "skipped"))  # per record: no checks

    @property
    def skipped(self) -> list[str]:
        """The skipped records' lines."""
        return self.notes.of("skipped").texts()

    def messages(self) -> list[str]:
        """The skipped records' lines: :attr:`skipped` under its older name, which tests
        and callers of ``annokit.Problems`` still use."""
        return self.skipped

    def __len__(self) -> int:
        return len(self.skipped)


class Terminated(BaseException):
    """Raised by the CLI's SIGTERM handler so that every writer cleans up its temp files."""
