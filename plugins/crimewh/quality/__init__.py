"""Data quality gate: great-expectations suites between the lake, the warehouse and the marts.

``suites`` holds the checks as data (with a severity each), ``frames`` builds the tables they
run on, ``run`` runs them with GX, records the results in ``audit.quality_results``, renders
data docs and raises ``QualityGateError`` when a critical check fails.
"""
