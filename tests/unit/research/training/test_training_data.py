"""The LFW identity split, fold parsing and validation pairs (pure logic, no images)."""

from __future__ import annotations

import pytest

from facegate.research.eval.lfw_pairs import Pair
from facegate.research.training.data import parse_folds, split_identities, validation_pairs


def _img(name: str, i: int) -> str:
    return f"{name}/{name}_{i:04d}.jpg"


IMAGES = [
    _img(n, i)
    for n, k in {"a": 3, "b": 2, "c": 4, "d": 1, "e": 2, "f": 5, "g": 2}.items()
    for i in range(1, k + 1)
]
PAIRS = [
    Pair(0, _img("a", 1), _img("a", 2), True),
    Pair(0, _img("a", 1), _img("b", 1), False),
    Pair(1, _img("c", 1), _img("c", 2), True),
    Pair(1, _img("c", 1), _img("d", 1), False),
]


def test_parse_folds() -> None:
    assert parse_folds("6-10") == (5, 6, 7, 8, 9)
    assert parse_folds("1,3, 5") == (0, 2, 4)
    assert parse_folds("2-3,3-4") == (1, 2, 3)
    for bad in ("0-3", "9-11", "x", "4", "5-3"):
        with pytest.raises(ValueError):
            parse_folds(bad)


def test_split_excludes_every_identity_of_the_eval_folds() -> None:
    split = split_identities(IMAGES, PAIRS, [1], val_fraction=0.0)
    assert {p.fold for p in split.eval_pairs} == {1}
    assert split.excluded_identities == 2  # c, d
    assert set(split.train_identities) == {"a", "b", "e", "f", "g"}
    assert split.val_identities == ()
    assert "folds 2 (2 pairs)" in split.describe()


def test_validation_identities_have_two_images_and_never_train() -> None:
    split = split_identities(IMAGES, PAIRS, [0, 1], val_fraction=0.5, seed=1)
    assert set(split.train_identities) | set(split.val_identities) == {"e", "f", "g"}
    assert not set(split.train_identities) & set(split.val_identities)
    assert len(split.val_identities) == 2  # round(3 * 0.5); e, f, g all have ≥2 images
    again = split_identities(IMAGES, PAIRS, [0, 1], val_fraction=0.5, seed=1)
    assert again == split


def test_validation_pairs_are_balanced_and_labelled() -> None:
    a, b, labels = validation_pairs(IMAGES, ["f", "g"], max_pairs=10, seed=0)
    names = [p.split("/")[0] for p in IMAGES]
    assert labels.sum() == len(labels) // 2 == 5
    for i, j, same in zip(a, b, labels, strict=True):
        assert names[i] in {"f", "g"} and names[j] in {"f", "g"}
        assert (names[i] == names[j]) == same
        assert i != j


def test_validation_needs_a_same_pair() -> None:
    with pytest.raises(ValueError, match="same-person"):
        validation_pairs(IMAGES, ["d"])


def test_smoke_subset_is_small_and_keeps_the_split_disjoint() -> None:
    from facegate.research.training.data import smoke_subset

    images = [_img(f"p{k:03d}", i) for k in range(60) for i in range(1, 3 + k % 6)]
    pairs = [Pair(f, _img(f"p{k:03d}", 1), _img(f"p{k:03d}", 2), True) for f in (5, 6)
             for k in range(f * 3, f * 3 + 3) if 3 + k % 6 > 3]
    pairs += [Pair(f, _img(f"p{k:03d}", 1), _img(f"p{k + 1:03d}", 1), False) for f in (5, 6)
              for k in range(f * 3, f * 3 + 3)]
    split = split_identities(images, pairs, (5, 6), seed=0)
    paths, small = smoke_subset(images, split, identities=6, per_identity=3, pairs_per_fold=4)
    assert len(small.train_identities) == 6 and len(small.val_identities) == 2
    assert not set(small.train_identities) & set(small.val_identities)
    assert len(small.eval_pairs) <= 8 and {p.fold for p in small.eval_pairs} == {5, 6}
    used = set(small.train_identities) | set(small.val_identities)
    for p in small.eval_pairs:  # every image a pair needs is aligned
        assert p.path_a in paths and p.path_b in paths
        assert p.path_a.split("/")[0] not in used
    per_id = [sum(1 for q in paths if q.startswith(n + "/")) for n in used]
    assert max(per_id) <= 3 and min(per_id) >= 3
