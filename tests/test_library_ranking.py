"""Cosine top-k over the library's vectors (library.ranking)."""

import numpy as np
import numpy.typing as npt
import pytest

from library.ranking import rank


@pytest.fixture(scope="module")
def vectors() -> npt.NDArray[np.float32]:
    return np.random.default_rng(7).normal(size=(500, 32)).astype(np.float32)


def test_rank_is_a_full_cosine_sort_cut_to_the_page(vectors: npt.NDArray[np.float32]) -> None:
    query = vectors[3] + 0.05
    scores = (vectors @ query) / (np.linalg.norm(vectors, axis=1) * np.linalg.norm(query))
    expected = np.argsort(-scores, kind="stable")
    ranked = rank(query, vectors, limit=10)
    assert [row for row, _ in ranked] == list(expected[:10])
    assert ranked[0][0] == 3
    assert [score for _, score in ranked] == pytest.approx(list(scores[expected[:10]]), abs=1e-5)


def test_pages_follow_on_from_each_other(vectors: npt.NDArray[np.float32]) -> None:
    query = vectors[0]
    whole = rank(query, vectors, limit=30)
    assert rank(query, vectors, limit=10, offset=10) == whole[10:20]
    assert rank(query, vectors, limit=10, offset=495) == rank(query, vectors, limit=600)[495:]
    assert rank(query, vectors, limit=10, offset=500) == []
    assert rank(query, vectors, limit=0) == []


def test_an_empty_library_and_a_zero_query_rank_nothing_or_score_zero(vectors: npt.NDArray[np.float32]) -> None:
    assert rank(np.ones(32, np.float32), np.zeros((0, 32), np.float32), limit=5) == []
    assert [score for _, score in rank(np.zeros(32, np.float32), vectors, limit=3)] == [0.0, 0.0, 0.0]


def test_a_query_of_other_dimensions_is_refused(vectors: npt.NDArray[np.float32]) -> None:
    with pytest.raises(ValueError, match="dimensions"):
        rank(np.ones(16, np.float32), vectors, limit=5)
