"""Content hashes of files, read in blocks: the one helper behind batch rows, tag records, the feature cache and the
model card's file digests."""
from __future__ import annotations

import hashlib
from pathlib import Path


def file_hash(path: Path, algorithm: str = "sha1") -> str:
    """The hex digest (hashlib's `algorithm`) of the file's bytes."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def sha1_of(path: Path) -> str:
    """SHA-1 of a file's bytes (batch rows and tag records key files on it)."""
    return file_hash(path, "sha1")
