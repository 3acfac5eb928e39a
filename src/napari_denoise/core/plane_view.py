"""The denoised image as an array that computes a plane when it is first read.

``DenoisedPlanes(image, model, ...)`` has the input's shape and dtype; indexing it
(``view[5]``, ``view[2, 7, :, :]``) denoises only the planes asked for and keeps the
last ``cache_planes`` of them. A viewer that shows one plane at a time (napari's
"denoise on the fly" layer) so costs one plane per new slice, whatever the size of
the stack. Every plane uses the same value range, noise level (or fitted noise model)
and output bounds, fixed once from sample planes as the engine and the lazy dask
route do (:func:`.lazy.fixed_settings`), so a plane reads the same here as in a run of
the whole stack. Planes are 2-D (Y, X, with colour C); volume-only models are refused.
"""

from __future__ import annotations

import itertools
import threading
from collections import OrderedDict

import numpy as np

from .errors import DenoiseError

PLANE_AXES = "YXC"


class DenoisedPlanes:
    """Array-like (``shape``, ``dtype``, ``ndim``, ``__getitem__``, ``__array__``)."""

    def __init__(self, image, model="auto", *, axes=None, sigma=None, noise="auto",
                 data_range=None, cache_planes: int = 16, **kwargs):
        from .inference import _resolve, check_image, image_axes
        from .lazy import _Opaque, fixed_settings

        image = check_image(image)
        shape = tuple(image.shape)
        axes = image_axes(image, axes)
        if "X" in axes and axes.index("X") < axes.index("Y"):
            raise DenoiseError(f"plane-by-plane views need Y before X in the axes, not {axes}")
        if kwargs.get("mode") == "3d":
            raise DenoiseError("plane by plane means 2-D: choose a 2-D method or mode")
        den = _resolve(model, kwargs.get("device", "auto"))
        if 2 not in den.dims:
            raise DenoiseError(f"{den.name} denoises whole volumes, not planes")
        if sigma is not None and not isinstance(sigma, (int, float, str)) and \
                hasattr(sigma, "shape") and tuple(sigma.shape) == shape:
            raise DenoiseError("a per-pixel noise map is not available plane by plane; give "
                               "one noise level or a fitted noise model")
        self.image, self.axes, self.model = image, axes, model
        self.shape, self.dtype, self.ndim = shape, np.dtype(image.dtype), image.ndim
        self.settings = fixed_settings(_Opaque(image), axes, sigma, noise, data_range)
        self.kwargs = dict(kwargs, noise=noise, mode="2d")
        self.stack_dims = [i for i, a in enumerate(axes) if a not in PLANE_AXES]
        self.plane_axes = "".join(a for a in axes if a in PLANE_AXES)
        self.computed = 0  # planes denoised so far (cache misses)
        self._cache: OrderedDict = OrderedDict()
        self._size = max(1, int(cache_planes))
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return self.shape[0]

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    def plane(self, index: tuple[int, ...]) -> np.ndarray:
        """The denoised plane at ``index`` (one integer per stack axis)."""
        with self._lock:
            if index in self._cache:
                self._cache.move_to_end(index)
                return self._cache[index]
        from .lazy import run_fixed

        key = [slice(None)] * self.ndim
        for d, i in zip(self.stack_dims, index):
            key[d] = i
        res = run_fixed(self.image[tuple(key)], self.model, self.plane_axes, self.settings,
                        self.kwargs).image
        with self._lock:
            self.computed += 1
            self._cache[index] = res
            while len(self._cache) > self._size:
                self._cache.popitem(last=False)
        return res

    def __getitem__(self, key) -> np.ndarray:
        key = key if isinstance(key, tuple) else (key,)
        if any(k is Ellipsis for k in key):
            i = key.index(Ellipsis)
            key = key[:i] + (slice(None),) * (self.ndim - len(key) + 1) + key[i + 1:]
        key = key + (slice(None),) * (self.ndim - len(key))
        if len(key) != self.ndim:
            raise IndexError(f"too many indices for an array of {self.ndim} dimensions")
        ranges = []
        for d in self.stack_dims:
            k = key[d]
            if isinstance(k, (int, np.integer)):
                ranges.append([int(k) % self.shape[d]])
            elif isinstance(k, slice):
                ranges.append(list(range(*k.indices(self.shape[d]))))
            else:
                raise IndexError("index the stack axes with integers or slices")
        planes = [self.plane(ix) for ix in itertools.product(*ranges)]
        inner = tuple(key[d] for d in range(self.ndim) if d not in self.stack_dims)
        planes = [p[inner] for p in planes]
        kept = [(d, len(r)) for d, r in zip(self.stack_dims, ranges)
                if not isinstance(key[d], (int, np.integer))]
        inner_dims = [d for d in range(self.ndim) if d not in self.stack_dims and
                      not isinstance(key[d], (int, np.integer))]
        out = np.stack(planes).reshape(tuple(n for _, n in kept) + planes[0].shape)
        # stack axes came first: back to the array's own order of axes
        order = [d for d, _ in kept] + inner_dims
        return out.transpose(np.argsort(order)) if order != sorted(order) else out

    def __array__(self, dtype=None, copy=None):
        out = self[(slice(None),) * self.ndim]
        return out if dtype is None else out.astype(dtype)
