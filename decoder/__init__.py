"""Decode FBI NIBRS master files (`nibrs-YYYY.zip`) straight from the zip into Parquet."""

__version__ = "0.1.0"
