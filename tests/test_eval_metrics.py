"""Mask metrics, Fréchet distance, KID, diversity and FD selection against closed forms."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from evaluation import metrics
from evaluation.selection import rank_by_fd, select_by_fd


def test_pixel_accuracy_single_class_masks():
    gt = np.full((6, 8), 5)
    assert metrics.pixel_accuracy(gt, gt) == 1.0
    assert metrics.pixel_accuracy(gt, np.full((6, 8), 7)) == 0.0
    pred = gt.copy()
    pred[:3] = 0
    assert metrics.pixel_accuracy(gt, pred) == 0.5
    with pytest.raises(ValueError, match="shape"):
        metrics.pixel_accuracy(gt, gt[:, :4])


def test_miou_excludes_classes_absent_from_gt_and_prediction():
    gt = np.full((4, 4), 3)
    confusion = metrics.confusion_matrix(gt, gt)
    assert metrics.mean_iou(confusion) == 1.0          # not 1/29: 28 absent classes are excluded
    ious = metrics.iou_per_class(confusion)
    assert np.isnan(ious).sum() == 28 and ious[3] == 1.0


def test_miou_matches_hand_count():
    gt = np.array([[0, 0, 1, 1]])
    pred = np.array([[0, 1, 1, 2]])
    confusion = metrics.confusion_matrix(gt, pred)
    # class 0: TP 1, union 2; class 1: TP 1, union 3; class 2: predicted only, TP 0, union 1
    assert metrics.iou_per_class(confusion)[:3] == pytest.approx([0.5, 1 / 3, 0.0])
    assert metrics.mean_iou(confusion) == pytest.approx((0.5 + 1 / 3 + 0.0) / 3)
    assert metrics.accuracy_from_confusion(confusion) == 0.5


def test_frechet_distance_closed_form_for_diagonal_gaussians():
    rng = np.random.default_rng(0)
    mu1, mu2 = rng.standard_normal(5), rng.standard_normal(5)
    v1, v2 = rng.random(5) + 0.1, rng.random(5) + 0.1
    expected = ((mu1 - mu2) ** 2).sum() + ((np.sqrt(v1) - np.sqrt(v2)) ** 2).sum()
    assert metrics.frechet_distance(mu1, np.diag(v1), mu2, np.diag(v2)) == pytest.approx(expected, abs=1e-12)


def test_frechet_distance_identity_symmetry_and_rank_deficiency():
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((10, 32)), rng.standard_normal((12, 32)) + 0.5   # N < D: singular covariances
    assert metrics.frechet_distance_features(a, a) == pytest.approx(0.0, abs=1e-9)
    ab, ba = metrics.frechet_distance_features(a, b), metrics.frechet_distance_features(b, a)
    assert np.isfinite(ab) and ab > 0 and ab == pytest.approx(ba, rel=1e-7)  # sqrt of round-off eigenvalues
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    brute = np.sqrt(np.clip(np.linalg.eigvals(s1 @ s2).real, 0, None)).sum()
    assert metrics.trace_sqrt_product(s1, s2) == pytest.approx(brute, rel=1e-6)


def test_kid_unbiased_mmd_matches_brute_force_and_is_near_zero_for_same_distribution():
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((6, 3)), rng.standard_normal((5, 3)) + 1
    k = lambda a, b: (a @ b / 3 + 1) ** 3  # noqa: E731
    xx = np.mean([k(x[i], x[j]) for i, j in itertools.permutations(range(6), 2)])
    yy = np.mean([k(y[i], y[j]) for i, j in itertools.permutations(range(5), 2)])
    xy = np.mean([k(a, b) for a in x for b in y])
    assert metrics._mmd2_unbiased(x, y) == pytest.approx(xx + yy - 2 * xy)
    same, _ = metrics.kernel_inception_distance(rng.standard_normal((300, 8)), rng.standard_normal((300, 8)))
    shifted, _ = metrics.kernel_inception_distance(rng.standard_normal((300, 8)), rng.standard_normal((300, 8)) + 0.5)
    assert abs(same) < 0.02 < shifted


def test_pairwise_diversity():
    feats = np.zeros((2, 3, 4))
    assert metrics.pairwise_diversity(feats) == 0.0
    feats[0, 1, 0] = 3.0      # mask 0: distances 3, 0, 3 -> mean 2; mask 1: 0
    assert metrics.pairwise_diversity(feats) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        metrics.pairwise_diversity(np.zeros((2, 1, 4)))


def test_fd_selection_picks_the_matching_candidate_lazily():
    rng = np.random.default_rng(3)
    reference = rng.standard_normal((400, 6))
    calls = []

    def candidate(shift):
        def make():
            calls.append(shift)
            return rng.standard_normal((200, 6)) + shift
        return make

    ranking = rank_by_fd({"far": candidate(2.0), "near": candidate(0.0), "mid": candidate(0.7)}, reference)
    assert [r.label for r in ranking] == ["near", "mid", "far"]
    assert sorted(calls) == [0.0, 0.7, 2.0]
    assert select_by_fd({"a": reference[:200] + 1, "b": reference[200:]}, reference) == "b"


def test_boundary_band_matches_brute_force_and_accuracy_reads_it():
    from evaluation.metrics import boundary_accuracy, boundary_band

    rng = np.random.default_rng(0)
    mask = rng.integers(0, 3, size=(7, 9))
    mask[:, :4] = 5  # one flat region so the band is not everything
    for radius in (1, 2):
        band = boundary_band(mask, radius)
        expected = np.zeros_like(band)
        for y in range(7):
            for x in range(9):
                window = mask[max(0, y - radius):y + radius + 1, max(0, x - radius):x + radius + 1]
                expected[y, x] = len(np.unique(window)) > 1
        assert np.array_equal(band, expected)
    batch = np.stack([mask, np.full((7, 9), 2), mask[::-1]])               # a batch = the maps one by one
    assert np.array_equal(boundary_band(batch, 2), np.stack([boundary_band(m, 2) for m in batch]))
    flat = np.full((6, 8), 4)
    assert not boundary_band(flat).any() and boundary_accuracy(flat, flat) is None
    halves = np.zeros((6, 8), int)
    halves[:, 4:] = 1
    pred = halves.copy()
    pred[:, 4] = 0  # the boundary column moved by one pixel
    band = boundary_band(halves, 2)  # columns 2..5 of 8
    assert band.sum() == 6 * 4
    assert boundary_accuracy(halves, pred, 2) == pytest.approx(3 / 4)
