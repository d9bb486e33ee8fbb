"""The deployable app: the project's networks and functions served at /api/inngest."""
