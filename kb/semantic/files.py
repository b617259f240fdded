"""The files the vectors take in an index generation (kb/semantic/vectors.py writes them)."""

VECTOR_FILES = ("vectors.npy", "vectors.json")
