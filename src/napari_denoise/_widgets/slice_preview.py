"""Preview layers that follow the slice shown.

A preview is the denoised plane the viewer showed when it was asked for. Shown on
every slice, it would lie: after moving from slice 5 to 12 the viewer would show
slice 5's result over slice 12. :class:`SlicePreviews` keeps a panel's preview
layers with the plane each was made of (:func:`slice_key`) and removes a preview as
soon as the viewer shows another plane of its input (another slice, other displayed
dims, or 3-D); the panel hears of it (``on_change``) to cancel a preview in flight or
to ask for one of the new plane.
"""

from __future__ import annotations

import math
from typing import Callable

from ._layers import current_slice, place_layer


def slice_key(viewer, layer) -> tuple:
    """Which plane of ``layer`` the viewer shows: ((dim, index) of every dim not
    displayed, the displayed dims, whether the view is 2-D)."""
    index, disp = current_slice(viewer, layer, math.inf)
    fixed = tuple((k, i) for k, i in enumerate(index) if isinstance(i, int))
    return fixed, tuple(disp), viewer.dims.ndisplay == 2


class SlicePreviews:
    """A panel's preview layers, each valid for one plane of its input."""

    def __init__(self, viewer, life, on_change: Callable[[], None] | None = None):
        self._viewer = viewer
        self._on_change = on_change
        self._shown: list[tuple] = []  # (preview layer, input layer, slice key)
        dims = viewer.dims.events
        for e in (dims.current_step, dims.order, dims.ndisplay):
            life.follow(e, self._check)
        life.follow(viewer.layers.events.removed, self._forget)

    def key(self, layer) -> tuple:
        """The plane of ``layer`` shown now (:func:`slice_key`)."""
        return slice_key(self._viewer, layer)

    def is_current(self, layer, key) -> bool:
        """Whether ``layer`` is still in the viewer, showing the plane ``key``."""
        return layer in self._viewer.layers and self.key(layer) == key

    def preview_of(self, source):
        """This panel's preview layer of ``source``, if one is shown."""
        for prev, src, _ in self._shown:
            if src is source and prev in self._viewer.layers:
                return prev
        return None

    def place(self, source, key, name: str, data, props: dict):
        """Show ``data`` (the plane ``key`` of ``source``, denoised) in the layer
        ``name``: the earlier preview of ``source`` renamed and updated (its place and
        look kept), else a new layer (never one that merely has that name)."""
        old = self.preview_of(source)
        if old is not None:
            old.name = name
            out = place_layer(self._viewer, old.name, data, props)  # napari keeps names unique
        else:
            out = self._viewer.add_image(data, name=name, **props)
        self._shown = [s for s in self._shown if s[1] is not source and s[0] is not out]
        self._shown.append((out, source, key))
        return out

    def _forget(self, event=None) -> None:
        """Forget the previews the user removed (a preview whose input was removed
        stays: it is removed with the next change of slice)."""
        self._shown = [s for s in self._shown if s[0] in self._viewer.layers]

    def _check(self, event=None) -> None:
        """Remove the previews of planes no longer shown; tell the panel."""
        layers = self._viewer.layers
        stale = [s for s in self._shown
                 if s[0] in layers and not (s[1] in layers and self.key(s[1]) == s[2])]
        self._shown = [s for s in self._shown if s[0] in layers and s not in stale]
        for prev, _, _ in stale:
            layers.remove(prev)
        if self._on_change is not None:
            self._on_change()
