"""``harness.analysis.stats`` on synthetic samples with known answers."""
import math

import numpy as np
import pytest
from scipy.stats import mannwhitneyu

from harness.analysis import stats


def test_median_ci_is_the_textbook_order_statistics():
    # n = 10 at 95 %: x(2), x(9), coverage 1 - 2 * 11/1024 = 0.9785 (x(3), x(8) would give only 0.891)
    ci = stats.median_ci(list(range(10, 0, -1)))
    assert (ci.low, ci.high) == (2, 9)
    assert ci.level == pytest.approx(1 - 2 * 11 / 1024)
    # n = 5 cannot reach 95 %: the whole range, at 1 - 2/32
    small = stats.median_ci([5, 1, 4, 2, 3])
    assert (small.low, small.high) == (1, 5) and small.level == pytest.approx(1 - 2 / 32)


def test_median_ci_covers_the_true_median_at_its_level():
    rng = np.random.default_rng(0)
    hits = sum(math.log(2) in stats.median_ci(rng.exponential(size=15)) for _ in range(2000))
    level = stats.median_ci(np.arange(15)).level  # 0.965 for n = 15
    assert abs(hits / 2000 - level) < 0.02


@pytest.mark.parametrize("n,m", [(3, 4), (5, 5), (6, 9), (8, 8)])
def test_u_null_distribution_matches_scipy_exact(n, m):
    counts = stats.u_counts(n, m)
    total = math.comb(n + m, n)
    assert sum(counts) == total and len(counts) == n * m + 1
    a, b = np.random.default_rng(n).random(n) + 0.2, np.random.default_rng(m + 99).random(m)  # no ties
    u = mannwhitneyu(a, b, method="exact").statistic
    lower = sum(counts[: int(min(u, n * m - u)) + 1]) / total
    assert min(1.0, 2 * lower) == pytest.approx(mannwhitneyu(a, b, method="exact").pvalue)


def test_minimum_attainable_p_and_rounds():
    assert stats.min_p_value(5, 5) == pytest.approx(2 / 252)  # asv: 5 a side cannot reach 0.002
    assert stats.min_p_value(5, 5) == pytest.approx(mannwhitneyu(range(5), range(10, 15), method="exact").pvalue)
    assert stats.min_rounds(0.002) == 7  # 6 a side reaches only 2/924 = 0.00216
    assert stats.min_rounds(0.05 / 20) == 6 and stats.min_rounds(0.0001) == 9
    why = stats.attainable(5, 5, alpha=0.05, tests=20)
    assert "0.0079" in why and "at least 6 rounds a side" in why
    assert stats.attainable(10, 10, alpha=0.05, tests=20) is None


def test_ratio_ci_recovers_a_known_ratio_and_agrees_with_the_test():
    rng = np.random.default_rng(1)
    a = rng.lognormal(0, 0.05, 20)
    b = 1.3 * rng.lognormal(0, 0.05, 20)
    r = stats.ratio_ci(a, b)
    assert 1.3 in r.ci and 1 not in r.ci and r.estimate == pytest.approx(1.3, rel=0.03)
    assert r.ci.level >= 0.95
    # exact duality: the interval excludes 1 exactly when the exact test gives p <= 1 - level
    for seed in range(40):
        rng = np.random.default_rng(seed)
        a, b = rng.lognormal(0, 0.1, 8), rng.lognormal(0.08, 0.1, 9)
        r = stats.ratio_ci(a, b, confidence=0.95)
        p = mannwhitneyu(a, b, method="exact").pvalue
        assert (1 not in r.ci) == (p <= 1 - r.ci.level + 1e-12)


def test_ratio_ci_is_honest_about_too_few_values():
    r = stats.ratio_ci([1.0, 1.1], [2.0, 2.1], confidence=0.95)
    assert r.ci.level == pytest.approx(1 - 2 / 6)  # the widest interval reaches only 67 %
    assert (r.ci.low, r.ci.high) == pytest.approx((2.0 / 1.1, 2.1 / 1.0))


def test_ratio_ci_covers_at_its_level_large_samples_normal_approximation():
    rng = np.random.default_rng(2)
    hits = 0
    for _ in range(300):
        r = stats.ratio_ci(rng.lognormal(0, 0.1, 60), 1.1 * rng.lognormal(0, 0.1, 60))  # 3600 pairs: approximated
        hits += 1.1 in r.ci
    assert 0.92 <= hits / 300 <= 0.99


def test_holm_known_answer():
    # p sorted 0.01, 0.02, 0.03, 0.04 with m = 4: 0.04, 0.06, 0.06, 0.06 (monotone step-down)
    adj = stats.holm([0.03, 0.01, None, 0.04, 0.02])
    assert adj[2] is None
    assert [adj[i] for i in (1, 4, 0, 3)] == pytest.approx([0.04, 0.06, 0.06, 0.06])
    assert stats.holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])


def test_holm_controls_the_family_wise_error_of_a_null_matrix():
    rng = np.random.default_rng(3)
    runs, rows = 400, 20
    flagged_raw = flagged_holm = 0
    for _ in range(runs):
        ps = [stats.mann_whitney_p(rng.normal(size=10), rng.normal(size=10)) for _ in range(rows)]
        flagged_raw += any(p < 0.05 for p in ps)
        flagged_holm += any(p < 0.05 for p in stats.holm(ps))
    assert flagged_raw / runs > 0.5  # uncorrected: most null matrices flag something (1 - 0.95^20 = 64 %)
    assert flagged_holm / runs <= 0.08


def test_judge_needs_significance_and_the_threshold():
    rng = np.random.default_rng(4)
    base = [rng.lognormal(0, 0.02, 12) for _ in range(3)]
    changes = [stats.change("same", base[0], rng.lognormal(0, 0.02, 12)),
               stats.change("slower", base[1], 1.2 * rng.lognormal(0, 0.02, 12)),
               stats.change("faster", base[2], 0.8 * rng.lognormal(0, 0.02, 12))]
    assert [c.verdict for c in stats.judge(changes, alpha=0.05, threshold=0.01)] == ["same", "slower", "faster"]
    # a real but tiny change under the threshold is not called
    tiny = stats.change("tiny", rng.lognormal(0, 0.001, 12), 1.005 * rng.lognormal(0, 0.001, 12))
    assert stats.judge([tiny], alpha=0.05, threshold=0.01)[0].verdict == "same"
    assert tiny.p < 0.05
    d = changes[1].as_dict()
    assert d["ratio_ci"]["low"] > 1 and d["a"]["rounds"] == 12 and d["verdict"] == "slower"


def test_instability_flags():
    assert stats.instability(np.full(10, 1.0) + np.linspace(0, 0.01, 10)) == []
    flags = stats.instability([1, 1, 1, 1, 1, 1, 1, 1, 1, 3.0])
    assert any("outlier" in f for f in flags) and any("std" in f for f in flags)
    assert any("median CI only" in f for f in stats.instability([1.0, 1.01, 1.02]))
    assert any("processes differ by 18%" in f for f in stats.instability(np.ones(10), process_medians=[1.0, 1.2]))


def test_clopper_pearson_known_answers():
    zero = stats.clopper_pearson(0, 20)
    assert zero.low == 0 and zero.high == pytest.approx(1 - 0.025 ** (1 / 20))
    half = stats.clopper_pearson(5, 10)
    assert half.low == pytest.approx(0.187, abs=1e-3) and half.high == pytest.approx(0.813, abs=1e-3)


# --- paired: the process pairs of an A/B run ---------------------------------------

@pytest.mark.parametrize("n", [1, 4, 9, 24])
def test_sign_test_matches_scipy_binomtest(n):
    from scipy.stats import binomtest

    for seed in range(5):
        d = np.random.default_rng(seed).normal(0.3, 1, n)
        expected = binomtest(int((d > 0).sum()), n, 0.5).pvalue
        assert stats.sign_test_p(d) == pytest.approx(expected, abs=1e-12)
    assert stats.sign_test_p([0.0, 0.0]) == 1.0  # zeros carry no sign
    assert stats.sign_test_p([0.0, 0.1, 0.2]) == pytest.approx(2 / 4)  # the zero is dropped: 2 of 2 positive


def test_sign_test_gives_a_far_off_pair_one_vote():
    clean = [0.10, 0.11, 0.09, 0.12, 0.10, 0.08, 0.11, 0.10, 0.09, 0.12, 0.10, 0.11, 0.10, 0.09]
    with_outliers = clean + [-0.4, -0.5]  # two pairs where one process ran at two-thirds speed
    assert stats.sign_test_p(with_outliers) == pytest.approx(2 * 137 / 2 ** 16)  # P(X <= 2), X ~ Bin(16, 1/2)
    ratio = stats.paired_ratio_ci(with_outliers)
    assert 1 not in ratio.ci and ratio.estimate == pytest.approx(math.exp(0.10), rel=0.01)


def test_minimum_attainable_paired_p_and_pairs():
    assert stats.min_sign_test_p(6) == 2 / 64 == stats.sign_test_p(np.arange(1, 7))
    assert stats.min_pairs(0.05) == 6 and stats.min_pairs(0.05 / 20) == 10  # 2/2^9 = 0.0039 > 0.0025
    why = stats.attainable_pairs(8, alpha=0.05, tests=20)
    assert "0.0078" in why and "at least 10 processes a side" in why
    assert stats.attainable_pairs(24, alpha=0.05, tests=20) is None


def test_paired_ratio_recovers_a_known_ratio_and_agrees_with_the_test():
    rng = np.random.default_rng(3)
    r = stats.paired_ratio_ci(np.log(1.1) + rng.normal(0, 0.02, 24))
    assert 1.1 in r.ci and 1 not in r.ci and r.estimate == pytest.approx(1.1, rel=0.01) and r.ci.level >= 0.95
    for seed in range(60):  # duality: the interval excludes 1 exactly when p <= 1 - level
        d = np.random.default_rng(seed).normal(0.05, 0.1, 12)
        r = stats.paired_ratio_ci(d)
        assert (1 not in r.ci) == (stats.sign_test_p(d) <= 1 - r.ci.level + 1e-12)
    few = stats.paired_ratio_ci([0.1, 0.2, 0.3])  # 3 pairs cannot reach 95 %: the whole range, 1 - 2/8
    assert few.ci.level == pytest.approx(0.75) and few.ci.low == pytest.approx(math.exp(0.1))


def test_pairs_of_processes_hold_alpha_where_pooled_rounds_do_not():
    """Rounds share their process's luck (here a process effect 3 × the round noise, as measured for short rows):
    pooling 2 processes' rounds a side makes Mann–Whitney cry wolf; the sign test over 16 pairs does not."""
    rng = np.random.default_rng(7)
    runs, pooled, paired = 300, 0, 0
    for _ in range(runs):
        a = [np.exp(rng.normal(0, 0.09) + rng.normal(0, 0.03, 2)) for _ in range(16)]
        b = [np.exp(rng.normal(0, 0.09) + rng.normal(0, 0.03, 2)) for _ in range(16)]
        two_a, two_b = (np.exp(rng.normal(0, 0.09, (2, 1)) + rng.normal(0, 0.03, (2, 10))).ravel() for _ in "ab")
        pooled += stats.mann_whitney_p(two_a, two_b) < 0.05  # the old design: 2 processes × 10 rounds a side
        paired += stats.paired_change("x", a, b).p < 0.05
    assert paired / runs < 0.05 + 0.03 and pooled / runs > 0.3


def test_paired_change_pairs_the_processes_fastest_rounds():
    a = [[1.1, 1.2, 1.0], [2.0, 2.0, 2.0]]
    b = [[1.3, 1.9, 1.3], [2.6, 2.2, 2.4]]
    c = stats.paired_change("x", a, b)
    assert c.a == [1.0, 2.0] and c.b == [1.3, 2.2] and c.unit == "processes"
    assert c.ratio.estimate == pytest.approx(math.exp((math.log(1.3) + math.log(1.1)) / 2))  # the median of 2 pairs
    assert c.as_dict()["a"]["processes"] == 2
    with pytest.raises(ValueError, match="pairs needed"):
        stats.paired_change("x", a, b[:1])
