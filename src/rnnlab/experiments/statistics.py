"""How sure a success rate is: the Wilson score interval, and comparisons built on it.

The papers judge a method by how many of a few seeds succeed. With ``n`` seeds, ``k`` successes
say little on their own (3/5 and 5/5 are not distinguishable at 95%), and training at the edge of
success amplifies the rounding differences between processors. Every success rate rnnlab reports
carries its Wilson interval (Wilson 1927; recommended over the normal approximation by Newcombe
1998 and by Brown, Cai & DasGupta 2001), and a finding counts as shown only where the intervals
separate. Also the least-squares slope and Spearman's rank correlation that some verdicts use.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from rnnlab._checks import check_size

Z95 = 1.959963984540054  # the standard normal's 97.5% quantile


def wilson_interval(successes: int, trials: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval for a binomial proportion (95% by default)::

        centre = (k + z²/2) / (n + z²),  half = z √(k(n−k)/n + z²/4) / (n + z²)

    the set of p for which ``|k/n − p| ≤ z √(p(1−p)/n)``. Unlike the normal approximation it
    stays inside [0, 1] and is not empty at 0/n or n/n (0/20 → [0, 0.161]).
    """
    check_size("trials", trials, minimum=1)
    check_size("successes", successes, minimum=0)
    if successes > trials:
        raise ValueError(f"successes must be <= trials ({trials}), got {successes}")
    n, k, z2 = trials, successes, z * z
    centre = (k + z2 / 2) / (n + z2)
    half = z * math.sqrt(k * (n - k) / n + z2 / 4) / (n + z2)
    return max(0.0, centre - half), min(1.0, centre + half)


def rate_text(successes: int, trials: int) -> str:
    """``"4/5 [0.38, 0.96]"``: the count with its 95% Wilson interval."""
    low, high = wilson_interval(successes, trials)
    return f"{successes}/{trials} [{low:.2f}, {high:.2f}]"


def separated(a: tuple[int, int], b: tuple[int, int]) -> int:
    """+1 if success rate ``a = (k, n)`` is above ``b``'s with non-overlapping 95% intervals, −1
    if below, 0 if the intervals overlap (the difference is not shown)."""
    low_a, high_a = wilson_interval(*a)
    low_b, high_b = wilson_interval(*b)
    if low_a > high_b:
        return 1
    if high_a < low_b:
        return -1
    return 0


def least_squares_slope(xs: Sequence[float], ys: Sequence[float]) -> float:
    """The slope of the least-squares line through the points ``(xs[i], ys[i])``."""
    n = len(xs)
    mx, my = sum(xs) / n, sum(ys) / n
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum(
        (x - mx) ** 2 for x in xs
    )


def spearman(xs: Sequence[float], ys: Sequence[float]) -> float:
    """Spearman's rank correlation (average ranks for ties)."""

    def ranks(values: Sequence[float]) -> list[float]:
        order = sorted(range(len(values)), key=lambda i: values[i])
        result = [0.0] * len(values)
        i = 0
        while i < len(order):
            j = i
            while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
                j += 1
            for k in range(i, j + 1):
                result[order[k]] = (i + j) / 2
            i = j + 1
        return result

    rx, ry = ranks(xs), ranks(ys)
    n = len(xs)
    mx, my = sum(rx) / n, sum(ry) / n
    cov = sum((a - mx) * (b - my) for a, b in zip(rx, ry, strict=True))
    sx = math.sqrt(sum((a - mx) ** 2 for a in rx))
    sy = math.sqrt(sum((b - my) ** 2 for b in ry))
    return cov / (sx * sy) if sx and sy else 0.0
