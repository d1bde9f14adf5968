"""Cosine ranking of a query vector against the library's vectors: the best `limit` after `offset`, best first."""

import numpy as np
import numpy.typing as npt


def rank(
    query_vector: npt.NDArray[np.float32], vectors: npt.NDArray[np.float32], limit: int, offset: int = 0
) -> list[tuple[int, float]]:
    """(row, cosine similarity) of the rows of `vectors` (n, d) most like `query_vector` (d,), best first, from
    the `offset`-th best; ties go to the lower row. A zero vector (a query of no known words) scores 0 everywhere."""
    if limit < 0 or offset < 0:
        raise ValueError("limit and offset must not be negative")
    rows = len(vectors)
    wanted = min(offset + limit, rows)
    if wanted <= offset:
        return []
    query = np.asarray(query_vector, dtype=np.float32).reshape(-1)
    matrix = np.asarray(vectors, dtype=np.float32).reshape(rows, -1)
    if matrix.shape[1] != query.shape[0]:
        raise ValueError(f"the query has {query.shape[0]} dimensions, the vectors {matrix.shape[1]}")
    norms = np.linalg.norm(matrix, axis=1) * np.linalg.norm(query)
    scores = np.divide(matrix @ query, norms, out=np.zeros(rows, dtype=np.float32), where=norms > 0)
    # Only the best `wanted` are sorted: argpartition is linear, a full sort of 10,000 rows is not needed.
    best = np.arange(rows) if wanted == rows else np.argpartition(-scores, wanted - 1)[:wanted]
    best = best[np.lexsort((best, -scores[best]))]
    return [(int(row), float(scores[row])) for row in best[offset:wanted]]
