"""The package version (a leaf module, so the CLI can read it without the facade)."""

__all__ = ["__version__"]

__version__ = "0.1.0"
