"""Benchmarks of agentkit-inngest against a hand-written Inngest function and AgentKit TS.

Run ``python -m bench --help``; method and results are in ``BENCHMARKS.md``.
"""
