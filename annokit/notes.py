"""The one channel for what a layer tells the user: notes and skipped records.

Every layer (a reader, a writer, split, rebalance, crops, merge, the scorer, evaluate,
the FiftyOne bridge) appends a :class:`Note` to a :class:`Notes` list (its helpers say
theirs through a :class:`LayerNotes`, which knows the layer's name); a Dataset carries
its own in ``meta['notes']`` (``Dataset.notes``), and a layer that makes a new Dataset
keeps the input's notes and adds its own. The CLI prints every note it has not printed
yet in one place and the JSON report carries them, so a new layer cannot forget to
surface what it said.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Literal

Kind = Literal["note", "skipped"]
KINDS: tuple[Kind, ...] = ("note", "skipped")


@dataclass(frozen=True)
class Note:
    """One line for the user: which layer said it, what, and whether a record was left out.

    ``kind`` is "skipped" for a record left out of the result, "note" for what a layer
    worked out or chose. ``text`` names the file and the place where there is one.

    Example:
        >>> Note("read", "a.xml:object 2: no <bndbox>", "skipped")
        Note(source='read', text='a.xml:object 2: no <bndbox>', kind='skipped')
    """

    source: str
    text: str
    kind: Kind = "note"

    def __deepcopy__(self, memo: dict) -> Note:  # immutable: a copied dataset shares it
        return self

    def to_json(self) -> dict[str, str]:
        """This note as a JSON object.

        Example:
            >>> Note("split", "no group column").to_json()
            {'source': 'split', 'kind': 'note', 'text': 'no group column'}
        """
        return {"source": self.source, "kind": self.kind, "text": self.text}


class Notes(list[Note]):
    """Notes in the order they were said.

    Example:
        >>> notes = Notes()
        >>> notes.add("read", "a.xml:object 2: no <bndbox>", "skipped")
        >>> notes.add("split", "3 images without a group went to train")
        >>> notes.of("skipped").texts()
        ['a.xml:object 2: no <bndbox>']
        >>> Notes.from_json(notes.to_json()) == notes
        True
    """

    def add(self, source: str, text: str, kind: Kind = "note") -> None:
        """Append one note."""
        if kind not in KINDS:
            raise ValueError(f"a note's kind is one of {KINDS}, not {kind!r}")
        self.append(Note(source, str(text), kind))

    def add_all(self, source: str, texts: Iterable[str], kind: Kind = "note") -> None:
        """Append a note for each line of ``texts``.

        Example:
            >>> notes = Notes()
            >>> notes.add_all("write", ["VOC has no supercategory: dropped"])
            >>> len(notes)
            1
        """
        for text in texts:
            self.add(source, text, kind)

    @classmethod
    def from_lines(cls, source: str, texts: Iterable[str], kind: Kind = "note") -> Notes:
        """A note of ``source`` and ``kind`` for each line of ``texts``.

        Example:
            >>> Notes.from_lines("crops", ["2 boxes smaller than 1 px not cropped"])
            [Note(source='crops', text='2 boxes smaller than 1 px not cropped', kind='note')]
        """
        notes = cls()
        notes.add_all(source, texts, kind)
        return notes

    def extend_unique(self, notes: Iterable[Note]) -> None:
        """Append each of ``notes`` not already here (several writes, each note once).

        Example:
            >>> notes = Notes([Note("write", "a")])
            >>> notes.extend_unique([Note("write", "a"), Note("write", "b")])
            >>> notes.texts()
            ['a', 'b']
        """
        seen = set(self)
        for note in notes:
            if note not in seen:
                seen.add(note)
                self.append(note)

    def of(self, kind: Kind | None = None, source: str | None = None) -> Notes:
        """The notes of one kind and/or one source, in order.

        Example:
            >>> Notes([Note("read", "a", "skipped"), Note("write", "b")]).of(source="write")
            [Note(source='write', text='b', kind='note')]
        """
        return Notes(n for n in self if (kind is None or n.kind == kind)
                     and (source is None or n.source == source))

    def texts(self, kind: Kind | None = None, source: str | None = None) -> list[str]:
        """The lines alone, of one kind and/or source when given.

        Example:
            >>> Notes([Note("read", "a"), Note("read", "b", "skipped")]).texts("skipped")
            ['b']
        """
        return [n.text for n in self.of(kind, source)]

    def to_json(self) -> list[dict[str, str]]:
        """A list of ``{source, kind, text}`` objects, for reports and stored datasets.

        Example:
            >>> Notes([Note("eval", "2 images have no prediction")]).to_json()
            [{'source': 'eval', 'kind': 'note', 'text': '2 images have no prediction'}]
        """
        return [n.to_json() for n in self]

    @classmethod
    def from_json(cls, items: Any, source: str = "read", kind: Kind = "note") -> Notes:
        """Notes from :meth:`to_json`'s list; a bare string item (an older file's line)
        becomes a note of ``source`` and ``kind``; anything else is left out.

        Example:
            >>> notes = Notes.from_json([{"source": "split", "kind": "note", "text": "t"},
            ...                          "old"], kind="skipped")
            >>> [(n.source, n.kind) for n in notes]
            [('split', 'note'), ('read', 'skipped')]
        """
        notes = cls()
        for item in items if isinstance(items, list) else ():
            if isinstance(item, str):
                notes.add(source, item, kind)
            elif isinstance(item, dict) and isinstance(item.get("text"), str):
                given = item.get("kind")
                notes.add(str(item.get("source") or source), item["text"],
                          given if given in KINDS else kind)
        return notes


class LayerNotes(Notes):
    """The notes one layer is saying: :meth:`say` adds a line under the layer's ``source``.

    A writer's helpers (and the folder-name helpers shared with crops) take one of these,
    so a helper with something to say need not know which layer it works for.

    Example:
        >>> notes = LayerNotes("write")
        >>> notes.say("VOC has no supercategory: dropped")
        >>> notes.say(None)  # a helper's "nothing to say"
        >>> notes.say_all(["1 image left out"], "skipped")
        >>> notes
        [Note(source='write', text='VOC has no supercategory: dropped', kind='note'), \
Note(source='write', text='1 image left out', kind='skipped')]
    """

    def __init__(self, source: str, notes: Iterable[Note] = ()) -> None:
        super().__init__(notes)
        self.source = source

    def say(self, text: str | None, kind: Kind = "note") -> None:
        """Append ``text`` as this layer's note; None or "" says nothing."""
        if text:
            self.add(self.source, text, kind)

    def say_all(self, texts: Iterable[str], kind: Kind = "note") -> None:
        """Append a note of this layer for each line of ``texts``."""
        self.add_all(self.source, texts, kind)
