"""Model packs: registry, fusion geometry (dot product = weighted sum of cosines), weights."""

from __future__ import annotations

import numpy as np
import pytest

from facegate.core.domain import FloatArray, ImageArray
from facegate.core.matching.similarity import cosine_similarity
from facegate.core.vision.embedder import normalize
from facegate.core.vision.fusion import FusionEmbedder, fuse_similarities, learn_fusion_weights
from facegate.core.vision.packs import PACKS, UnknownModelError, get_pack, pack_notice


class FakeEmbedder:
    """Embeds a crop as a fixed random projection of its pixels (deterministic per seed)."""

    def __init__(self, name: str, dim: int, input_size: int, seed: int) -> None:
        self.name, self.dim, self.input_size = name, dim, input_size
        self._proj = np.random.default_rng(seed).normal(size=(input_size * input_size * 3, dim))
        self.seen_sizes: list[int] = []

    def embed(self, aligned: ImageArray) -> FloatArray:
        self.seen_sizes.append(aligned.shape[0])
        x = aligned.astype(np.float64).reshape(-1) / 255.0 - 0.5
        return normalize(x @ self._proj)


def _crop(seed: int, size: int = 16) -> ImageArray:
    return np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)


def test_fusion_dot_product_is_weighted_sum_of_member_cosines() -> None:
    a, b = FakeEmbedder("a", 8, 16, 1), FakeEmbedder("b", 5, 16, 2)
    fusion = FusionEmbedder("fusion", [a, b], [3.0, 1.0])
    assert fusion.weights == (0.75, 0.25) and fusion.dim == 13
    x, y = _crop(10), _crop(11)
    fx, fy = fusion.embed(x), fusion.embed(y)
    assert np.linalg.norm(fx) == pytest.approx(1.0, abs=1e-6)
    expected = 0.75 * cosine_similarity(a.embed(x), a.embed(y)) + 0.25 * cosine_similarity(
        b.embed(x), b.embed(y)
    )
    assert float(fx @ fy) == pytest.approx(expected, abs=1e-6)
    assert cosine_similarity(fx, fy) == pytest.approx(expected, abs=1e-6)


def test_fusion_resizes_the_crop_for_smaller_members() -> None:
    small, big = FakeEmbedder("s", 4, 8, 1), FakeEmbedder("b", 4, 16, 2)
    fusion = FusionEmbedder("f", [small, big], [1, 1])
    assert fusion.input_size == 16
    fusion.embed(_crop(3, 16))
    assert small.seen_sizes == [8] and big.seen_sizes == [16]


@pytest.mark.parametrize("weights", [[1.0], [1.0, -0.5], [0.0, 0.0]])
def test_fusion_rejects_bad_weights(weights: list[float]) -> None:
    members = [FakeEmbedder("a", 4, 8, 1), FakeEmbedder("b", 4, 8, 2)][: max(1, len(weights))]
    with pytest.raises(ValueError):
        FusionEmbedder("f", members, weights)


def test_learned_weights_order_pairs_like_the_logistic_model() -> None:
    rng = np.random.default_rng(5)
    labels = rng.random(500) < 0.5
    s1 = np.where(labels, 0.6, 0.2) + rng.normal(0, 0.1, 500)
    s2 = np.where(labels, 0.4, 0.3) + rng.normal(0, 0.1, 500)
    x = np.stack([s1, s2], axis=1)
    fw = learn_fusion_weights(x, labels)
    logit = x @ np.asarray(fw.coefficients) + fw.bias
    fused = fuse_similarities(x, fw.weights)
    # same ranking: the fused score is a positive multiple of the logit minus its bias
    assert np.corrcoef(logit, fused)[0, 1] == pytest.approx(1.0, abs=1e-9)
    assert fw.weights[0] > fw.weights[1] > 0


def test_registry_and_unknown_pack() -> None:
    assert get_pack("sface").name == "sface"
    assert get_pack("sface-opencv").name == "sface"  # same model, interchangeable templates
    with pytest.raises(UnknownModelError, match="available"):
        get_pack("nope")


def test_every_pack_has_a_threshold_source_and_fusions_name_their_members() -> None:
    for key, pack in PACKS.items():
        assert "bench lfw" in pack.threshold_source, key
        assert -1.0 < pack.default_threshold < 1.0
        if pack.members:
            assert len(pack.members) == len(pack.fusion_weights) >= 2
            assert sum(pack.fusion_weights) == pytest.approx(1.0)
            assert all(m in PACKS for m in pack.members)
            assert pack.dim == sum(PACKS[m].dim for m in pack.members)


def test_only_arcface_packs_print_the_non_commercial_notice() -> None:
    assert pack_notice(get_pack("sface")) is None
    notice = pack_notice(get_pack("arcface-mbf"))
    assert notice is not None and "NON-COMMERCIAL" in notice
