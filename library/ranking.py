"""Ranking of the library's items: the best `limit` scores after `offset`, best first; and the cosine scores of a query
vector against the library's vectors."""

import numpy as np
import numpy.typing as npt


def best(scores: npt.NDArray[np.float32], limit: int, offset: int = 0) -> npt.NDArray[np.intp]:
    """The indices of the `offset`-th to (`offset` + `limit`)-th highest `scores`, best first; ties go to the lower
    index (the store lists candidates newest first, so to the newer)."""
    if limit < 0 or offset < 0:
        raise ValueError("limit and offset must not be negative")
    wanted = min(offset + limit, len(scores))
    if wanted <= offset:
        return np.zeros(0, np.intp)
    # Only the best `wanted` are sorted: argpartition is linear, a full sort of 10,000 scores is not needed.
    chosen = np.arange(len(scores)) if wanted == len(scores) else np.argpartition(-scores, wanted - 1)[:wanted]
    ordered: npt.NDArray[np.intp] = chosen[np.lexsort((chosen, -scores[chosen]))]
    return ordered[offset:wanted]


def rank(
    query_vector: npt.NDArray[np.float32], vectors: npt.NDArray[np.float32], limit: int, offset: int = 0
) -> list[tuple[int, float]]:
    """(row, cosine similarity) of the rows of `vectors` (n, d) most like `query_vector` (d,), best first, from
    the `offset`-th best; ties go to the lower row. A zero vector (a query of no known words) scores 0 everywhere."""
    rows = len(vectors)
    if rows == 0:
        return []
    query = np.asarray(query_vector, dtype=np.float32).reshape(-1)
    matrix = np.asarray(vectors, dtype=np.float32).reshape(rows, -1)
    if matrix.shape[1] != query.shape[0]:
        raise ValueError(f"the query has {query.shape[0]} dimensions, the vectors {matrix.shape[1]}")
    norms = np.linalg.norm(matrix, axis=1) * np.linalg.norm(query)
    scores = np.divide(matrix @ query, norms, out=np.zeros(rows, dtype=np.float32), where=norms > 0)
    return [(int(row), float(scores[row])) for row in best(scores, limit, offset)]
