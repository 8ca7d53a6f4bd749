"""``Cloner``: pydantic models equal to ``Model(**fields)``, built without validating.

The Agents SDK builds one ``ResponseTextDeltaEvent`` per token with full validation
(a few microseconds each). A ``Cloner`` validates one sample at start, then makes each
new instance by copying the sample's field values, with the given changes, straight into
``__dict__``: equal to ``Model(**fields)`` (``==``, ``model_fields_set``) as long as the
changes are values validation would keep as they are (``tests/responder/test_fast_models.py``).
"""

from typing import Any, Generic, TypeVar

from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)
MERGE_MIN = 8
"""The shortest run of text deltas that one network read brought together which the fast
models send as one event; shorter runs go out one event per delta, as they came (the
rule ``run_events.stream_run`` applies to ready ChatKit deltas)."""
_set_attribute = object.__setattr__


class Cloner(Generic[M]):
    """Makes ``cls`` instances from a validated sample (``cls(**sample)``) and changes."""

    __slots__ = ("_cls", "_extra", "_fields", "_fields_set", "_private")

    def __init__(self, cls: type[M], **sample: Any) -> None:
        model = cls(**sample)
        self._cls = cls
        self._fields = dict(model.__dict__)
        self._fields_set = frozenset(model.model_fields_set)
        self._extra = model.__pydantic_extra__
        self._private = model.__pydantic_private__

    def make(self, fields_set: frozenset[str] | None = None, **changes: Any) -> M:
        """A new instance: the sample's values with ``changes`` (already valid values)."""
        model = self._cls.__new__(self._cls)
        _set_attribute(model, "__dict__", {**self._fields, **changes})
        _set_attribute(model, "__pydantic_fields_set__", set(fields_set or self._fields_set))
        _set_attribute(model, "__pydantic_extra__", None if self._extra is None else {})
        _set_attribute(
            model, "__pydantic_private__", None if self._private is None else dict(self._private)
        )
        return model
