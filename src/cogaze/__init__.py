"""cogaze: context- and gaze-guided vision-language pretraining for chest X-rays."""

__version__ = "0.1.0"


def __getattr__(name: str):  # the public API at the package root, loaded on first use (PEP 562)
    import importlib

    api = importlib.import_module("cogaze.api")
    if name in api.__all__:
        return getattr(api, name)
    raise AttributeError(f"module 'cogaze' has no attribute {name!r}")
