"""Whole libraries: the batch job on Ray Data, its Parquet results, reading and writing genre tags."""
