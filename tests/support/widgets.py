"""Widgets for test data, built the way the SDK supports.

chatkit deprecates building widgets from its named classes (``Card(children=[Text(...)])``
warns ``Direct usage of named widget classes is deprecated``); ``WidgetTemplate.build``
returns a ``DynamicWidgetRoot``, which serializes the same way.
"""

from typing import Any

from chatkit.widgets import DynamicWidgetRoot


def widget(definition: dict[str, Any]) -> DynamicWidgetRoot:
    """A widget from its JSON shape, e.g. ``{"type": "Card", "children": [...]}``."""
    return DynamicWidgetRoot.model_validate(definition)


def text_card(*lines: str) -> DynamicWidgetRoot:
    """A ``Card`` holding one ``Text`` per line: the JSON of ``Card(children=[Text(value=line), ...])``."""
    return widget({"type": "Card", "children": [{"type": "Text", "value": line} for line in lines]})
