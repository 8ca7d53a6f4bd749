"""``ThreadUpdate``: changes to a thread's metadata that never write back a stale copy.

A reply holds its copy of the thread for as long as it streams; meanwhile the user may
rename the thread, an admin may lock it. Saving that copy whole (``save_thread``) would
undo their writes. A ``ThreadUpdate`` instead names each field the writer changed, with
the value the writer last saw (``expected``), and a store applies a change only where
the stored value is still that one: a field someone else changed since keeps their
value. ``metadata`` is compared key by key, so two writers adding different keys both
keep theirs. A change without an expected value (``ThreadUpdate.setting``) always
applies.

Fields: ``title``, ``status``, ``allowed_image_domains`` and each key of ``metadata``
(``id`` and ``created_at`` never change). Values are compared and written in their JSON
form, as the stores keep them.
"""

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from chatkit.types import ThreadMetadata
from pydantic_core import to_jsonable_python

Path = tuple[str, ...]
"""A field (``("title",)``) or a metadata key (``("metadata", "key")``)."""
UPDATABLE_FIELDS = ("title", "status", "allowed_image_domains")
METADATA = "metadata"


class _Absent:
    """A metadata key that is not there (as an expected value, or a deletion)."""

    def __repr__(self) -> str:
        return "ABSENT"


class _Any:
    """An expected value that matches whatever is stored (an unconditional change)."""

    def __repr__(self) -> str:
        return "ANY"


ABSENT: Any = _Absent()
ANY: Any = _Any()


@dataclass(frozen=True, slots=True)
class Change:
    """Set ``path`` to ``new`` (JSON form; ``ABSENT`` removes a metadata key) if its stored
    value is ``expected`` (``ANY``: whatever it is)."""

    path: Path
    new: Any
    expected: Any = ANY


@dataclass(frozen=True, slots=True)
class ThreadUpdate:
    """Changes to one thread's metadata; see the module docstring."""

    changes: tuple[Change, ...] = ()

    @classmethod
    def between(cls, before: ThreadMetadata, after: ThreadMetadata) -> "ThreadUpdate":
        """What turned ``before`` into ``after``, each change expecting ``before``'s value."""
        old, new = _fields(before), _fields(after)
        changes = [
            Change((name,), new[name], old[name])
            for name in UPDATABLE_FIELDS
            if new[name] != old[name]
        ]
        old_meta, new_meta = old[METADATA], new[METADATA]
        for key in sorted(old_meta.keys() | new_meta.keys()):
            was, now = old_meta.get(key, ABSENT), new_meta.get(key, ABSENT)
            if was != now:
                changes.append(Change((METADATA, key), now, was))
        return cls(tuple(changes))

    @classmethod
    def setting(cls, **fields: Any) -> "ThreadUpdate":
        """Unconditional changes: ``ThreadUpdate.setting(status=LockedStatus(reason="..."))``.

        ``metadata`` given here replaces the whole dictionary. Raises ``ValueError`` for a
        field that cannot be updated.
        """
        changes = []
        for name, value in fields.items():
            if name not in (*UPDATABLE_FIELDS, METADATA):
                raise ValueError(
                    f"{name!r} cannot be updated; fields: "
                    + ", ".join((*UPDATABLE_FIELDS, METADATA))
                )
            changes.append(Change((name,), _json(value)))
        return cls(tuple(changes))

    def __bool__(self) -> bool:
        return bool(self.changes)

    @property
    def fields(self) -> set[str]:
        """The top-level fields this update touches."""
        return {change.path[0] for change in self.changes}

    def apply(self, stored: ThreadMetadata) -> ThreadMetadata:
        """``stored`` with every change whose expected value still holds; a new model."""
        data = stored.model_dump(mode="json")
        for change in self.changes:
            container, key = _slot(data, change.path)
            current = container.get(key, ABSENT)
            if change.expected is not ANY and current != change.expected:
                continue  # someone else wrote this field since: theirs stays
            if change.new is ABSENT:
                container.pop(key, None)
            else:
                container[key] = change.new
        return ThreadMetadata.model_validate(data)

    def __iter__(self) -> Iterator[Change]:
        return iter(self.changes)


def _fields(thread: ThreadMetadata) -> dict[str, Any]:
    data = thread.model_dump(mode="json", include={*UPDATABLE_FIELDS, METADATA})
    data.setdefault(METADATA, {})
    return data


def _json(value: Any) -> Any:
    """A value in the JSON form the stores keep (models dumped, datetimes as text)."""
    return to_jsonable_python(value)


def _slot(data: dict[str, Any], path: Path) -> tuple[dict[str, Any], str]:
    if len(path) == 1:
        return data, path[0]
    metadata = data.setdefault(METADATA, {})
    if not isinstance(metadata, Mapping):  # pragma: no cover - the model guarantees a dict
        raise TypeError("thread metadata is not a dictionary")
    return metadata, path[1]  # type: ignore[return-value]
