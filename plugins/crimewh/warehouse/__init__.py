"""The warehouse: the embedded PostgreSQL (and moto) stack, and the loader from lake to raw."""
