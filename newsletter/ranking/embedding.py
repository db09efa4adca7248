"""The shared paper representation: every paper (and library item) as one unit vector.

One seam, two backends. The default needs nothing from the internet: TF-IDF over the
project's own stems (`ranking.text.tokens`, plus bigrams) reduced by truncated SVD (LSA), fitted
with scikit-learn on the recent corpus and refitted every `EMBEDDING_REFIT_DAYS`. An
operator may instead point `EMBEDDING_MODEL_PATH` at a locally available model2vec
(static sentence-embedding) model; nothing is ever fetched from a hub.

Every fitted representation has a version; a vector is stored with the version that made
it (float32 bytes, the same on SQLite and PostgreSQL) and vectors of two versions are
never compared: subscriber models trained on an older version are ignored until retrained.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from newsletter.ranking.text import tokens

TITLE_REPEAT = 2  # the title says what a paper is about more densely than the abstract


class Embedder(Protocol):
    kind: str
    version: str
    dims: int

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """float32 rows of unit length (a text with no known word is the zero vector)."""
        ...


def paper_text(title: str, abstract: str) -> str:
    return " ".join([title] * TITLE_REPEAT + [abstract])


def to_bytes(vector: np.ndarray) -> bytes:
    return np.asarray(vector, np.float32).tobytes()


def from_bytes(data: bytes | None, dims: int) -> np.ndarray | None:
    if not data or len(data) != 4 * dims:
        return None
    return np.frombuffer(data, np.float32)


def _unit(m: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(m, axis=1, keepdims=True)
    return (m / np.where(norms > 0, norms, 1.0)).astype(np.float32)


def _analyzer(text: str) -> list[str]:
    stems = tokens(text)
    return stems + [f"{a} {b}" for a, b in zip(stems, stems[1:])]


class Lsa:
    """TF-IDF (sublinear, stems and bigrams) -> truncated SVD -> unit vectors."""

    kind = "lsa"

    def __init__(self, version: str, terms: list[str], idf: np.ndarray,
                 components: np.ndarray) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.version, self.dims = version, int(components.shape[0])
        self.terms, self.idf, self.components = terms, idf.astype(np.float32), components
        self._vectorizer = TfidfVectorizer(analyzer=_analyzer, vocabulary=terms,
                                           sublinear_tf=True, dtype=np.float32)
        self._vectorizer.idf_ = self.idf

    @classmethod
    def fit(cls, texts: Sequence[str], *, dims: int, version: str) -> Lsa:
        from sklearn.decomposition import TruncatedSVD
        from sklearn.feature_extraction.text import TfidfVectorizer

        texts = list(texts)
        min_df = 2 if len(texts) >= 50 else 1
        vectorizer = TfidfVectorizer(analyzer=_analyzer, sublinear_tf=True, min_df=min_df,
                                     max_df=0.5 if len(texts) >= 50 else 1.0,
                                     max_features=30_000, dtype=np.float32)
        x = vectorizer.fit_transform(texts)
        k = max(1, min(dims, x.shape[0] - 1, x.shape[1] - 1))
        svd = TruncatedSVD(n_components=k, algorithm="randomized", n_iter=5, random_state=0)
        svd.fit(x)
        terms = vectorizer.get_feature_names_out().tolist()
        return cls(version, terms, vectorizer.idf_, svd.components_.astype(np.float32))

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dims), np.float32)
        x = self._vectorizer.transform(list(texts))
        return _unit(np.asarray(x @ self.components.T))

    def state(self) -> bytes:
        buffer = io.BytesIO()
        np.savez_compressed(buffer, idf=self.idf, components=self.components.astype(np.float16),
                            terms=np.frombuffer(json.dumps(self.terms).encode(), np.uint8))
        return buffer.getvalue()

    @classmethod
    def from_state(cls, version: str, state: bytes) -> Lsa:
        with np.load(io.BytesIO(state)) as data:
            terms = json.loads(data["terms"].tobytes().decode())
            return cls(version, terms, data["idf"], data["components"].astype(np.float32))


class Model2Vec:
    """A pretrained static embedding model (model2vec) read from a local folder only."""

    kind = "model2vec"

    def __init__(self, path: str | Path) -> None:
        from model2vec import StaticModel

        folder = Path(path)
        if not folder.is_dir():
            raise FileNotFoundError(f"EMBEDDING_MODEL_PATH: no model folder at {folder}")
        self.model = StaticModel.from_pretrained(str(folder))  # a local path: no download
        digest = hashlib.sha256()
        for file in sorted(folder.iterdir()):
            if file.is_file():
                digest.update(file.name.encode())
                digest.update(hashlib.sha256(file.read_bytes()).digest())
        self.version = f"m2v-{digest.hexdigest()[:16]}"
        self.dims = int(self.model.dim)

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dims), np.float32)
        return _unit(np.asarray(self.model.encode(list(texts)), np.float32))
