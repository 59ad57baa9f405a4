"""``tlcourse bench``: every measurement of the course, one report.

Tooling on top of the house: it uses the adapters' public API only, and nothing
in the core or the adapters imports it.  ``harness`` runs a measurement in a
fresh process; ``suite`` runs the parts; ``report`` writes benchmarks/RESULTS.*.
"""
