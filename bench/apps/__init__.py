"""The Python apps under test; each runs in its own process (see :mod:`bench.apps.serve`)."""
