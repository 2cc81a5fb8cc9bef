"""Test fixtures: the ``xp`` backend fixture and conversions shared by every test module."""

import importlib
import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import numpy as np
import pytest


def _load_jax():
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    return jnp


_LOADERS = {
    "numpy": lambda: np,
    "array_api_strict": lambda: importlib.import_module("array_api_strict"),
    "torch": lambda: importlib.import_module("torch"),
    "jax": _load_jax,
}
BACKENDS = tuple(_LOADERS)


@pytest.fixture(autouse=True)
def _torch_kernels(request, monkeypatch):
    """Tests run small torch tensors through the torch kernels (what accelerators and large CPU
    tensors run): the host route (losskit._array.host), which computes small CPU tensors with the
    NumPy kernels, is switched off except for tests marked ``host_route``."""
    if request.node.get_closest_marker("host_route") is None:
        from losskit._array import host

        monkeypatch.setattr(host, "ELEMENTS", 0)
        monkeypatch.setattr(host, "AT_SCALE", False)


def load_backend(name):
    try:
        return _LOADERS[name]()
    except ImportError:
        pytest.skip(f"{name} is not installed")


@pytest.fixture(params=BACKENDS)
def xp(request):
    """The backend module (numpy, array_api_strict, torch or jax.numpy)."""
    return load_backend(request.param)


@pytest.fixture(params=["float32", "float64"])
def dtype_name(request):
    return request.param


def backend_name(mod):
    name = mod.__name__
    return "jax" if name.startswith("jax") else name


def to_backend(mod, a, dtype_name=None):
    """A NumPy array (or None) as an array of backend ``mod``; floats take ``dtype_name``."""
    if a is None:
        return None
    a = np.asarray(a)
    if dtype_name is not None and a.dtype.kind == "f":
        a = a.astype(dtype_name)
    name = backend_name(mod)
    if name == "torch":
        return mod.from_numpy(np.ascontiguousarray(a).copy())
    if name == "numpy":
        return a.copy()
    return mod.asarray(a)


def to_numpy(x):
    if x is None:
        return None
    if hasattr(x, "detach"):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def is_backend_array(mod, x):
    name = backend_name(mod)
    if name == "torch":
        return isinstance(x, mod.Tensor)
    if name == "jax":
        import jax

        return isinstance(x, jax.Array)
    if name == "numpy":
        return isinstance(x, (np.ndarray, np.generic))
    return type(x).__module__.startswith("array_api_strict")
