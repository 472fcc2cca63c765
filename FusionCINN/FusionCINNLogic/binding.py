"""Binding the panel's widgets to the parameter node once, correct on Slicer 5.4 to the latest.

On Slicer 5.4-5.8 ``parameterNodeWrapper.connectGui`` returns None instead of its tag (Slicer issue
7547, fixed by pull request 8667), so ``disconnectGui(tag)`` removes nothing: a module that connects
on every enter and "disconnects" on exit collects one more set of connectors each time, and the
stale ones write old choices back into the drop-downs. ``connectParametersToGui(mapping)`` (the
function ``connectGui`` calls) has returned the tag since it was added in 5.4, so the binding uses it,
and connects only when the parameter node itself changes (a new scene), not on each enter.
"""

from __future__ import annotations

from typing import Any, Dict, Optional

PARAMETER_PROPERTY = "SlicerParameterName"


def parameterWidgets(ui: Any) -> Dict[str, Any]:
    """name -> widget for every widget of ``ui`` (``slicer.util.childWidgetVariables``) with a
    SlicerParameterName property; the lookup ``connectGui`` does for a non-widget ``gui``."""
    found = {}
    for widget in vars(ui).values():
        name = widget.property(PARAMETER_PROPERTY) if hasattr(widget, "property") else None
        if name:
            found[str(name)] = widget
    return found


def _mrmlNode(wrapper: Any) -> Any:
    return None if wrapper is None else wrapper.parameterNode


class ParameterNodeBinding:
    """The one connection between the panel's widgets and a parameter node wrapper."""

    def __init__(self) -> None:
        self.wrapper: Optional[Any] = None
        self.tag: Optional[int] = None

    def bind(self, wrapper: Optional[Any], widgets: Dict[str, Any]) -> bool:
        """Connect ``widgets`` to ``wrapper`` (None: disconnect). Nothing happens when ``wrapper``
        wraps the MRML node already bound; returns True when the binding changed."""
        if wrapper is not None and self.wrapper is not None and _mrmlNode(wrapper) is _mrmlNode(self.wrapper):
            return False
        self.unbind()
        if wrapper is not None:
            self.tag = wrapper.connectParametersToGui(widgets)
            self.wrapper = wrapper
        return True

    def unbind(self) -> None:
        """Remove the connectors (with the real tag)."""
        if self.wrapper is not None:
            self.wrapper.disconnectGui(self.tag)
        self.wrapper, self.tag = None, None
