"""LFW protocol arithmetic on tiny synthetic data: pairs parser, 10-fold, ROC figures, fusion."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from facegate.research.eval.lfw import fuse_out_of_fold, score_pairs, summarize
from facegate.research.eval.lfw_pairs import (
    PairsFormatError,
    accuracy_at,
    best_threshold,
    parse_pairs,
    ten_fold,
)
from facegate.research.eval.metrics import equal_error_rate, roc_auc, roc_curve, tar_at_far

NAMES = st.from_regex(r"[A-Z][a-z]{1,6}_[A-Z][a-z]{1,6}", fullmatch=True)
INDEX = st.integers(min_value=1, max_value=9999)


@st.composite
def pairs_text(draw: st.DrawFn) -> tuple[str, int, int]:
    folds = draw(st.integers(1, 4))
    per = draw(st.integers(1, 5))
    lines = [f"{folds}\t{per}"]
    for _ in range(folds):
        lines += [f"{draw(NAMES)}\t{draw(INDEX)}\t{draw(INDEX)}" for _ in range(per)]
        lines += [f"{draw(NAMES)}\t{draw(INDEX)}\t{draw(NAMES)}\t{draw(INDEX)}" for _ in range(per)]
    return "\n".join(lines) + "\n", folds, per


@given(pairs_text())
@settings(max_examples=60, deadline=None)
def test_parse_pairs_round_trip(case: tuple[str, int, int]) -> None:
    text, folds, per = case
    pairs = parse_pairs(text)
    assert len(pairs) == folds * per * 2
    for i, p in enumerate(pairs):
        assert p.fold == i // (2 * per)
        assert p.same == (i % (2 * per) < per)
        fields = text.splitlines()[i + 1].split("\t")
        assert p.path_a == f"{fields[0]}/{fields[0]}_{int(fields[1]):04d}.jpg"
        other = fields[0] if p.same else fields[2]
        assert p.path_b == f"{other}/{other}_{int(fields[-1]):04d}.jpg"


@given(pairs_text(), st.integers(0, 3))
@settings(max_examples=30, deadline=None)
def test_parse_pairs_rejects_wrong_count(case: tuple[str, int, int], drop: int) -> None:
    text, _, _ = case
    lines = text.splitlines()
    bad = "\n".join(lines[: len(lines) - 1 - drop])
    with pytest.raises(PairsFormatError):
        parse_pairs(bad)


@pytest.mark.parametrize(
    "text", ["", "10", "x 3\na 1 2", "1 1\nA 1 2\nB 1 C", "1 1\nA 1 2\nA 1 2 3 4 5"]
)
def test_parse_pairs_rejects_malformed(text: str) -> None:
    with pytest.raises(PairsFormatError):
        parse_pairs(text)


def test_best_threshold_separable_is_between_classes() -> None:
    scores = np.array([0.1, 0.2, 0.3, 0.7, 0.8, 0.9])
    labels = np.array([False, False, False, True, True, True])
    t = best_threshold(scores, labels)
    assert 0.3 < t < 0.7


def test_ten_fold_holds_out_each_fold() -> None:
    # fold 0's own data would want a threshold in (0.5, 0.6), but the other folds (more pairs)
    # say (0.3, 0.4): each held-out fold must be judged with the threshold of the others.
    scores = np.array([0.5, 0.6] + [0.3, 0.4] * 6)
    labels = np.array([False, True] * 7)
    folds = np.array([0, 0] + [1] * 6 + [2] * 6)
    res = ten_fold(scores, labels, folds)
    assert [r.fold for r in res] == [0, 1, 2]
    assert all(0.3 < r.threshold < 0.4 for r in res)
    assert res[0].accuracy == 0.5  # 0.5 >= t is wrongly SAME
    assert res[1].accuracy == res[2].accuracy == 1.0


def test_roc_figures_on_known_scores() -> None:
    # 4 genuine, 4 impostor; one impostor (0.75) outranks one genuine (0.6)
    scores = np.array([0.9, 0.8, 0.7, 0.6, 0.75, 0.3, 0.2, 0.1])
    labels = np.array([True, True, True, True, False, False, False, False])
    roc = roc_curve(scores, labels)
    assert roc.far[0] == 0.0 and roc.tar[0] == 0.0
    assert roc.far[-1] == 1.0 and roc.tar[-1] == 1.0
    # AUC = P(genuine > impostor) = 14/16 (0.7 and 0.6 lose to the impostor at 0.75)
    assert roc_auc(roc) == pytest.approx(14 / 16)
    # strictest FAR=0 operating point accepts 0.9, 0.8 only
    op = tar_at_far(roc, 0.0)
    assert op.tar == 0.5 and op.threshold == pytest.approx(0.8)
    assert tar_at_far(roc, 0.25).tar == 1.0
    assert 0.0 < equal_error_rate(roc) <= 0.25


def test_roc_perfect_and_ties() -> None:
    roc = roc_curve(np.array([1.0, 1.0, 0.0, 0.0]), np.array([True, True, False, False]))
    assert roc_auc(roc) == 1.0
    assert equal_error_rate(roc) == 0.0
    tie = roc_curve(np.array([0.5, 0.5]), np.array([True, False]))
    assert roc_auc(tie) == pytest.approx(0.5)


def test_score_pairs_marks_missing_faces() -> None:
    from facegate.research.eval.lfw_pairs import Pair

    a = np.array([1.0, 0.0], dtype=np.float32)
    b = np.array([0.6, 0.8], dtype=np.float32)
    pairs = [Pair(0, "a", "b", True), Pair(0, "a", "x", False)]
    s = score_pairs(pairs, {"a": a, "b": b, "x": None})
    assert s[0] == pytest.approx(0.6) and s[1] == -1.0


def test_summarize_reports_accuracy_at_shipped_threshold() -> None:
    rng = np.random.default_rng(0)
    labels = np.tile(np.r_[np.ones(30, bool), np.zeros(30, bool)], 10)
    folds = np.repeat(np.arange(10), 60)
    scores = np.where(labels, rng.normal(0.7, 0.1, 600), rng.normal(0.1, 0.1, 600))
    res, figs = summarize("toy", scores, labels, folds, shipped_threshold=0.4)
    assert len(res) == 10
    acc = figs["accuracy_at_shipped"]
    assert isinstance(acc, dict) and set(acc) == {f"fold {k}" for k in range(1, 11)} | {"all"}
    assert figs["mean_accuracy"] == pytest.approx(np.mean([r.accuracy for r in res]))
    assert 0.98 < float(figs["auc"]) <= 1.0  # type: ignore[arg-type]


def test_fusion_weights_learned_out_of_fold_favour_the_informative_member() -> None:
    rng = np.random.default_rng(1)
    labels = np.tile(np.r_[np.ones(50, bool), np.zeros(50, bool)], 4)
    folds = np.repeat(np.arange(4), 100)
    good = np.where(labels, 0.8, 0.2) + rng.normal(0, 0.15, 400)
    noise = rng.normal(0.5, 0.3, 400)
    members = np.stack([good, noise], axis=1)
    fused, per_fold, results = fuse_out_of_fold(members, labels, folds)
    assert [f.fold for f in per_fold] == [r.fold for r in results] == [0, 1, 2, 3]
    for f in per_fold:
        assert sum(f.weights) == pytest.approx(1.0)
        assert f.weights[0] > 0.85
    # each fold's scores use the weights learned without it ...
    test = folds == 2
    w2 = np.asarray(per_fold[2].weights)
    assert np.allclose(fused[test], members[test] @ w2)
    # ... and its threshold is chosen on the other folds fused with those same weights
    assert results[2].threshold == best_threshold(members[~test] @ w2, labels[~test])
    assert results[2].accuracy == accuracy_at(fused[test], labels[test], results[2].threshold)


def test_fusion_threshold_follows_each_folds_weights() -> None:
    # two members on very different scales (like dlib ~0.9 vs sface ~0.3): a threshold learned
    # with one fold's weights would be meaningless for another fold's weights
    rng = np.random.default_rng(2)
    labels = np.tile(np.r_[np.ones(100, bool), np.zeros(100, bool)], 2)
    folds = np.repeat(np.arange(2), 200)
    a = np.where(labels, 0.7, 0.1) + rng.normal(0, 0.08, 400)
    b = np.where(labels, 0.95, 0.85) + rng.normal(0, 0.02, 400)
    b[folds == 1] += rng.normal(0, 0.05, 200)  # member b is noisier in fold 1: weights differ
    _, _, results = fuse_out_of_fold(np.stack([a, b], axis=1), labels, folds)
    assert all(r.accuracy > 0.95 for r in results)
