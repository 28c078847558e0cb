"""FID, KID, precision/recall, streaming statistics and resizing checked against independent computations."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from medigan_host.errors import MediganUsageError
from medigan_host.evaluation.metrics import frechet_distance, kernel_distance, polynomial_mmd2, precision_recall
from medigan_host.evaluation.preprocess import Window, parse_window, preprocess, resize, to_unit
from medigan_host.evaluation.stats import RunningStats


def _stats(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return x.mean(axis=0), np.cov(x, rowvar=False)


def _fid_by_cross_svd(a: np.ndarray, b: np.ndarray) -> float:
    """Independent reference: with S1 = A'A and S2 = B'B (centred, scaled data), Tr sqrt(S1 S2) is the sum of the
    singular values of A B' — exact also when the covariances are singular."""
    ca = (a - a.mean(0)) / np.sqrt(len(a) - 1)
    cb = (b - b.mean(0)) / np.sqrt(len(b) - 1)
    trace_sqrt = np.linalg.svd(ca @ cb.T, compute_uv=False).sum()
    diff = a.mean(0) - b.mean(0)
    return float(diff @ diff + np.sum(ca * ca) + np.sum(cb * cb) - 2 * trace_sqrt)


def _fid_by_scipy_sqrtm(a: np.ndarray, b: np.ndarray) -> float:
    """The reference implementation's formula (pytorch-fid): scipy.linalg.sqrtm of S1 S2, real part."""
    linalg = pytest.importorskip("scipy.linalg")
    (m1, s1), (m2, s2) = _stats(a), _stats(b)
    root = linalg.sqrtm(s1 @ s2)
    return float(np.sum((m1 - m2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * np.trace(np.real(root)))


def test_fid_matches_scipy_sqrtm_and_cross_svd_on_full_rank_features():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((400, 32)) @ rng.standard_normal((32, 32))
    b = rng.standard_normal((300, 32)) * 1.5 + 0.7
    ours = frechet_distance(*_stats(a), *_stats(b))
    assert ours == pytest.approx(_fid_by_scipy_sqrtm(a, b), abs=1e-6)
    assert ours == pytest.approx(_fid_by_cross_svd(a, b), abs=1e-6)


@pytest.mark.parametrize("n", [10, 40, 64])
def test_fid_is_exact_for_singular_covariances(n):
    rng = np.random.default_rng(n)
    a = rng.standard_normal((n, 64)) * 3.0
    b = rng.standard_normal((n + 5, 64)) + 0.1  # fewer samples than dimensions: both covariances are singular
    ours = frechet_distance(*_stats(a), *_stats(b))
    assert ours == pytest.approx(_fid_by_cross_svd(a, b), abs=1e-6)


def test_fid_on_nearly_singular_covariances():
    rng = np.random.default_rng(3)
    basis = rng.standard_normal((5, 48))
    a = rng.standard_normal((500, 5)) @ basis + 1e-7 * rng.standard_normal((500, 48))
    b = rng.standard_normal((500, 5)) @ basis * 1.1 + 1e-7 * rng.standard_normal((500, 48))
    assert frechet_distance(*_stats(a), *_stats(b)) == pytest.approx(_fid_by_cross_svd(a, b), abs=1e-6)


def test_fid_closed_forms():
    # one dimension: (mu1 - mu2)^2 + (s1 - s2)^2
    assert frechet_distance(np.array([1.0]), np.array([[4.0]]), np.array([-2.0]), np.array([[9.0]])) == pytest.approx(9 + 1)
    rng = np.random.default_rng(5)
    x = rng.standard_normal((200, 16))
    assert abs(frechet_distance(*_stats(x), *_stats(x))) < 1e-9
    with pytest.raises(MediganUsageError, match="same extractor"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))


def test_running_stats_equal_numpy_over_uneven_batches_with_a_large_offset():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((1000, 20)) * 0.01 + 1e6
    stats = RunningStats(20)
    start = 0
    for size in itertools.cycle([1, 7, 128, 3]):
        if start >= len(x):
            break
        stats.update(x[start:start + size])
        start += size
    assert stats.count == 1000
    np.testing.assert_allclose(stats.mean, x.mean(0), rtol=0, atol=1e-8)
    np.testing.assert_allclose(stats.covariance, np.cov(x, rowvar=False), rtol=1e-7, atol=1e-12)


def _mmd2_by_loops(a: np.ndarray, b: np.ndarray) -> float:
    d = a.shape[1]

    def k(x, y):
        return (x @ y / d + 1) ** 3

    m, n = len(a), len(b)
    kaa = sum(k(a[i], a[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    kbb = sum(k(b[i], b[j]) for i in range(n) for j in range(n) if i != j) / (n * (n - 1))
    kab = sum(k(a[i], b[j]) for i in range(m) for j in range(n)) / (m * n)
    return kaa + kbb - 2 * kab


def test_kid_matches_its_closed_form_on_small_sets():
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((6, 4)), rng.standard_normal((5, 4)) + 0.5
    assert polynomial_mmd2(a, b) == pytest.approx(_mmd2_by_loops(a, b), rel=1e-12)
    # subsets as large as the sets: every subset is the whole set, so the mean is exact and the spread zero
    kid = kernel_distance(a[:5], b, subsets=10, subset_size=100)
    assert kid.subset_size == 5 and kid.subsets == 10
    assert kid.mean == pytest.approx(_mmd2_by_loops(a[:5], b), rel=1e-12)
    assert kid.std == pytest.approx(0.0, abs=1e-12)


def test_kid_is_unbiased_near_zero_for_one_distribution():
    rng = np.random.default_rng(4)
    x, y = rng.standard_normal((2000, 8)), rng.standard_normal((2000, 8))
    kid = kernel_distance(x, y, subsets=20, subset_size=500)
    assert abs(kid.mean) < 3 * kid.std + 1e-3
    assert kernel_distance(x, y + 1.0, subsets=5, subset_size=500).mean > 10 * abs(kid.mean)


def test_precision_recall_by_hand():
    real = np.array([[0.0], [1.0], [2.0], [3.0]])  # k=1: every real point's radius is 1
    fake = np.array([[0.5], [3.9], [10.0], [-0.5]])  # three inside the real manifold, one far away
    pr = precision_recall(fake, real, k=1)
    assert pr.precision == pytest.approx(3 / 4)
    # fake radii (k=1): 0.5 -> 1.0 (to -0.5), 3.9 -> 3.4, 10 -> 6.1, -0.5 -> 1.0; all real points are covered
    assert pr.recall == pytest.approx(1.0)
    same = precision_recall(real, real, k=2)
    assert (same.precision, same.recall) == (1.0, 1.0)
    with pytest.raises(MediganUsageError, match="more than 3"):
        precision_recall(real[:3], real, k=3)


def test_resize_matches_pillow_antialiased_bilinear():
    image_module = pytest.importorskip("PIL.Image")
    rng = np.random.default_rng(6)
    x = rng.random((37, 53)).astype(np.float32)
    for size in ((17, 29), (64, 80)):
        expected = np.asarray(image_module.fromarray(x, mode="F").resize(size[::-1], image_module.Resampling.BILINEAR))
        ours = resize(x[None, :, :, None], size, "antialias")[0, :, :, 0]
        np.testing.assert_allclose(ours, expected, atol=1e-5)


def test_preprocess_dtypes_channels_and_options():
    grey16 = np.full((2, 8, 8, 1), 1124, np.uint16)
    out = preprocess(grey16, size=(4, 4), channels=3, normalization="symmetric", resize_method="bilinear",
                     window=Window(1004.0, 1124.0, "test"))
    assert out.shape == (2, 3, 4, 4) and out.dtype == np.float32 and np.allclose(out, 1.0)
    hu = np.stack([np.linspace(-1000, 2000, 64).reshape(8, 8, 1)] * 2).astype(np.int32)
    unit = to_unit(hu, parse_window("minmax"))
    assert unit.min() == 0.0 and unit.max() == 1.0
    floats = np.random.default_rng(7).random((2, 6, 6, 3)).astype(np.float32)
    before = floats.copy()
    for normalization in ("unit", "symmetric", "imagenet", "radimagenet"):
        out = preprocess(floats, size=(6, 6), channels=3, normalization=normalization, resize_method="bilinear")
        assert out.flags.c_contiguous and out.shape == (2, 3, 6, 6)
    np.testing.assert_array_equal(floats, before)  # normalisation never writes into the caller's images
    with pytest.raises(MediganUsageError, match="3-D volumes"):
        preprocess(np.zeros((1, 4, 8, 8, 1)), size=(4, 4), channels=1, normalization="unit", resize_method="bilinear")
    with pytest.raises(MediganUsageError, match="choose one of"):
        preprocess(grey16, size=(4, 4), channels=1, normalization="unit", resize_method="nearest",
                   window=parse_window("0,1"))


def test_preprocessing_of_an_image_does_not_depend_on_its_batch():
    """The same float images at batch sizes 1, 3 and 50 give bit-identical features; a constant 0.5 image stays 0.5
    next to an image reaching 1.0001, and such an image is refused unless a window says the range."""
    from medigan_host.evaluation.extractors import load_extractor

    rng = np.random.default_rng(11)
    images = rng.random((50, 40, 40, 1)).astype(np.float32)
    extractor = load_extractor("pcanet-phantoms")
    whole = extractor.features(images)
    for size in (1, 3, 7):
        parts = np.concatenate([extractor.features(images[i:i + size]) for i in range(0, len(images), size)])
        np.testing.assert_array_equal(parts, whole)
    constant = np.full((1, 8, 8, 1), 0.5, np.float32)
    over = rng.random((1, 8, 8, 1)).astype(np.float32)
    over[0, 0, 0, 0] = 1.0001
    with pytest.raises(MediganUsageError, match="outside \\[0, 1\\].*--window"):
        to_unit(np.concatenate([constant, over]))
    window = parse_window("0,1.0001")
    both = to_unit(np.concatenate([constant, over]), window)
    np.testing.assert_array_equal(both[:1], to_unit(constant, window))
    assert both[0].max() == pytest.approx(0.5 / 1.0001)
    minmax = to_unit(np.concatenate([constant * 3, over * 3]), parse_window("minmax"))
    np.testing.assert_array_equal(minmax[1:], to_unit(over * 3, parse_window("minmax")))


def test_sixteen_bit_images_need_a_declared_range_and_are_windowed_with_it():
    ct = np.linspace(2, 2082, 64 * 64).reshape(1, 64, 64, 1).astype(np.uint16)  # HU + 1024 of the head phantom
    with pytest.raises(MediganUsageError, match="value range of uint16 images is unknown.*--window"):
        to_unit(ct)
    brain = to_unit(ct, parse_window("1004,1124"))
    assert brain.min() == 0.0 and brain.max() == 1.0 and 0.03 < (brain == 0).mean() < 0.6
    assert np.array_equal(to_unit(ct.astype(np.int32) - 1024, parse_window("-20,100")), brain)
    for bad in ("1,1", "a,b", "3"):
        with pytest.raises(MediganUsageError, match="window"):
            parse_window(bad)
