"""The test kit: synthetic data, a local SODA server, the demo and the benchmarks.

Everything here stands in for the world the product talks to (the FBI's master files, the
Chicago portal) or measures the product from outside. The product (``decoder``, ``crimewh``,
``ml``, the DAGs) never imports it; the layer test in ``tests/test_layers.py`` keeps it so.
It is not in any wheel. Run it as ``python -m testkit …``.
"""
