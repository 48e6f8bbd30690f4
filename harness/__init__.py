"""mxnet-harness: benchmark MXNet training pipelines assembled from pluggy plugins.

``import harness`` is cheap; the API (:mod:`harness.api`: ``run``, ``bench``, ``verify``, ``ab``,
``compare``, ``sweep``, ``history``, ``report``, ``plugins``, ``load_plugins``, ``effects``) imports MXNet
on first use.
"""
__version__ = "0.1.0"

# no submodule may share these names: an imported submodule would shadow the function
_API = ("run", "bench", "verify", "ab", "compare", "sweep", "history", "report", "plugins", "load_plugins",
        "effects")


def __getattr__(name):
    if name in _API:
        from harness import api

        return getattr(api, name)
    raise AttributeError(f"module 'harness' has no attribute {name!r}")


def __dir__():
    return sorted([*globals(), *_API])
