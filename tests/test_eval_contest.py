"""Contest composites on the published rows, the absent-term rule, and the style score."""
from __future__ import annotations

import numpy as np
import pytest

from evaluation import contest

# state-of-the-art.md B.2: (mask acc, aesthetic, FID) -> published 2022 score
PUBLISHED_2022 = [((0.8334, 5.0361, 37.98), 0.4683), ((0.9028, 4.9005, 44.62), 0.4712),
                  ((0.9037, 4.9004, 42.77), 0.48), ((0.8479, 5.0436, 43.82), 0.452)]


@pytest.mark.parametrize("inputs, published", PUBLISHED_2022)
def test_composite_2022_reproduces_published_rows(inputs, published):
    mask_acc, aesthetic, fid = inputs
    comp = contest.composite_2022(mask_acc, fid, aesthetic)
    assert comp.absent == () and round(comp.value, 4) == pytest.approx(published)


def test_composite_2023_formula_and_fid_clipping():
    comp = contest.composite_2023(0.9, 40.0, 0.6, aesthetic=0.5)
    assert comp.value == pytest.approx(0.9 * (0.2 * 0.5 + 0.3 * 0.8 + 0.5 * 0.6))
    assert contest.composite_2023(1.0, 250.0, 1.0, 1.0).value == pytest.approx(0.5)    # FID capped at 100
    assert contest.composite_2022(1.0, -3.0, 10.0).value == pytest.approx(1.0)         # and floored at 0


def test_absent_terms_are_named_never_invented():
    comp = contest.composite_2023(0.8, 30.0, 0.2)
    assert comp.value is None and comp.absent == ("aesthetic",)
    assert comp.partial == pytest.approx(0.8 * (0.3 * 0.6 + 0.5 * 0.7))
    comp = contest.composite_2022(0.8, None)
    assert comp.value is None and comp.absent == ("aesthetic", "FID") and comp.partial == 0.0
    assert "aesthetic, FID absent" in comp.describe()


def _image(seed, shape=(24, 32, 3)):
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def test_style_score_of_an_image_with_itself_is_one_and_size_invariant():
    image = _image(0)
    assert contest.style_correlation(image, image) == pytest.approx(1.0)
    assert contest.style_score(image, image) == pytest.approx(1.0)
    tiled = np.tile(image, (2, 3, 1))                       # same histogram, other size
    assert contest.style_score(image, tiled) == pytest.approx(1.0)


def test_style_correlation_is_mean_channel_pearson_of_256_bin_histograms():
    a, b = _image(1), _image(2) // 2
    expected = np.mean([np.corrcoef(np.bincount(a[..., c].ravel(), minlength=256),
                                    np.bincount(b[..., c].ravel(), minlength=256))[0, 1] for c in range(3)])
    assert contest.style_correlation(a, b) == pytest.approx(expected)
    dark, bright = np.full((8, 8, 3), 10, np.uint8), np.full((8, 8, 3), 240, np.uint8)
    assert contest.style_correlation(dark, bright) < 0       # disjoint single-bin histograms
    assert 0 <= contest.style_score(dark, bright) < 0.5
    assert contest.style_score(a, b) == pytest.approx((expected + 1) / 2)
    np.testing.assert_allclose(contest.score_from_correlation(np.array([-1.0, 0.0, 1.0])), [0.0, 0.5, 1.0])
    with pytest.raises(ValueError):
        contest.style_correlation(a.astype(np.float32), b)
