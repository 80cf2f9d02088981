"""lixian: an offline download server with an aria2-compatible face."""

__version__ = "0.1.0"

__all__ = ["__version__"]
