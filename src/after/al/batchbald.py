"""BatchBALD (Kirsch, van Amersfoort & Gal 2019) over MC-dropout samples: greedy joint mutual information."""
from __future__ import annotations

import logging

import numpy as np

from after.al.base import PoolView, Selection, Strategy, argmax_random_tie, bald_scores, entropy

log = logging.getLogger(__name__)


class BatchBALD(Strategy):
    """BatchBALD (Kirsch, van Amersfoort & Gal 2019): greedy maximisation of the joint mutual information
    I[y_1..y_b; w] between the labels of the whole batch B and the weights, from ``mc_probs`` [n, c, T].

    Adding x to B gains I[y_B, y_x; w] - I[y_B; w] = H[y_x | y_B] - E_w H[y_x | w]; the second term is the
    per-point expected entropy, the first needs p(y_B) = 1/T sum_t prod_{j in B} p(y_j | w_t).

    * Exact while the joint table c^(|B|+1) has at most ``max_configurations`` entries: P [T, c^|B|] holds
      prod_j p(y_j | w_t) for every configuration; one matrix product gives every candidate's joint table,
      and H[y_x | y_B] = H[y_B, y_x] - H[y_B].
    * Beyond that, ``n_samples`` (M) configurations y_B^m are drawn from p(y_B) (from the exact table at the
      switch, then each extended by y_new ~ p(y_new | y_B^m)), and
      H[y_x | y_B] ~= 1/M sum_m H[p(y_x | y_B^m)],  p(y_x | y_B^m) = sum_t P[t, m] p(y_x | w_t) / sum_t P[t, m].
      P is kept column-normalised, so long batches never underflow.

    Speed and memory: joint tables are float32 and built in candidate chunks of at most ``memory_mb``.
    With ``lazy`` (Minoux's lazy greedy), candidates are evaluated in descending order of their last gain
    and a step stops as soon as the best fresh gain beats every stale one: the joint mutual information is
    submodular, so a gain can only shrink as the batch grows (with sampled configurations this holds up to
    estimation noise). Score of a pick: its gain (the first pick's gain is its BALD score).

    Archive scale (an approximation, on by default above ``sample`` candidates): the greedy runs on the
    ``sample`` candidates with the largest BALD scores (``top_bald``; a point's BALD score bounds every
    gain it can add, so the rows left out are those that could add the least). With at most ``sample``
    candidates (or ``sample=0``) it is the exact greedy above, with the same picks.
    """

    requires = frozenset({"mc_probs"})

    def __init__(self, max_configurations: int = 1024, n_samples: int = 1024, memory_mb: float = 256.0,
                 lazy: bool = True, lazy_chunk: int = 256, sample: int = 20_000):
        if min(max_configurations, n_samples, lazy_chunk) < 1 or memory_mb <= 0:
            raise ValueError("max_configurations, n_samples, lazy_chunk and memory_mb must be positive")
        if sample < 0:
            raise ValueError(f"sample must be >= 0 (0 = exact); got {sample}")
        self.sample = int(sample)
        self.max_configurations = int(max_configurations)
        self.n_samples = int(n_samples)
        self.memory_mb = float(memory_mb)
        self.lazy = bool(lazy)
        self.lazy_chunk = int(lazy_chunk)

    def _conditional_entropies(self, p: np.ndarray, cols: np.ndarray, sampled: bool) -> np.ndarray:
        """[b] H[y_x | y_B] for candidates p [b, T, c] (float32) given the batch table cols [T, K]."""
        b, t, c = p.shape
        k_conf = cols.shape[1]
        chunk = max(1, int(self.memory_mb * 2**20 / 4 / (k_conf * c * 3)))  # q, log q, product
        cols_t = (cols.T / t).astype(np.float32)
        out = np.empty(b)
        for s in range(0, b, chunk):
            q = cols_t @ p[s:s + chunk].transpose(1, 0, 2).reshape(t, -1)  # [K, chunk*c]
            # -q log q by hand (scipy's entr is several times slower); sum over configurations first,
            # a reduction along contiguous rows, then over the c classes
            h = -(q * np.log(np.maximum(q, np.float32(1e-30)))).sum(axis=0, dtype=np.float64)
            out[s:s + chunk] = h.reshape(-1, c).sum(axis=1)
        if sampled:
            return out / k_conf
        return out - entropy(cols.mean(axis=0))

    def _select(self, view: PoolView, k: int, rng: np.random.Generator) -> Selection:
        n = view.mc_probs.shape[0]
        if not self.sample or n <= max(self.sample, k):
            return self._greedy(view.mc_probs, k, rng)
        rows = top_bald(view.mc_probs, max(self.sample, k))
        sel = self._greedy(view.mc_probs[rows], k, rng)
        return Selection(rows[sel.indices], sel.scores)

    def _greedy(self, mc_probs: np.ndarray, k: int, rng: np.random.Generator) -> Selection:
        p = np.ascontiguousarray(mc_probs.transpose(0, 2, 1))  # [n, T, c]
        n, t, c = p.shape
        cond = entropy(p, axis=2).mean(axis=1)  # [n] E_w H[y | w]
        p32 = p.astype(np.float32)
        bounds = bald_scores(mc_probs)  # upper bounds on every later gain
        cols = np.ones((t, 1))  # exact: prod_j p(y_j | w_t) per configuration; sampled: column-normalised
        sampled = False
        available = np.ones(n, dtype=bool)
        chosen, gains = [], []
        tie_rng = np.random.default_rng(rng.integers(0, 2**63))   # ordering keys, apart from the sampling stream
        for _ in range(k):
            step = self.lazy_chunk if self.lazy else int(available.sum())
            order, rest = self._candidates(bounds, available, 8 * step, tie_rng)
            pos = 0
            while True:
                blk = order[pos:pos + step]
                bounds[blk] = self._conditional_entropies(p32[blk], cols, sampled) - cond[blk]
                pos += blk.size
                fresh = order[:pos]
                if pos >= order.size and rest.size:    # the top candidates ran out: order the rest too
                    order = np.concatenate([order, rest[np.lexsort((tie_rng.random(rest.size), -bounds[rest]))]])
                    rest = rest[:0]
                # stale bounds are sorted, so order[pos] holds the largest one left
                if pos >= order.size or bounds[fresh].max() >= bounds[order[pos]]:
                    break
            i = int(fresh[argmax_random_tie(bounds[fresh], rng)])
            chosen.append(i)
            gains.append(bounds[i])
            available[i] = False
            cols, sampled = self._extend(cols, sampled, p[i], rng)
        return Selection(np.array(chosen), np.array(gains))

    @staticmethod
    def _candidates(bounds: np.ndarray, available: np.ndarray, m: int, rng: np.random.Generator
                    ) -> tuple[np.ndarray, np.ndarray]:
        """(the available rows whose bound is among the ``m`` largest, ties included, sorted by bound with
        random tie-breaks; the other available rows, unsorted). One O(n) partition per pick instead of
        sorting the whole pool."""
        cand = np.flatnonzero(available)
        if m < cand.size:
            b = bounds[cand]
            threshold = np.partition(b, cand.size - m)[cand.size - m]
            top = b >= threshold
            cand, rest = cand[top], cand[~top]
        else:
            rest = cand[:0]
        return cand[np.lexsort((rng.random(cand.size), -bounds[cand]))], rest

    def _extend(self, cols: np.ndarray, sampled: bool, p_new: np.ndarray,
                rng: np.random.Generator) -> tuple[np.ndarray, bool]:
        """Add the chosen point (p_new [T, c]) to the batch table; switch to sampling when it grows too big."""
        t, c = p_new.shape
        if not sampled:
            cols = (cols[:, :, None] * p_new[:, None, :]).reshape(t, -1)
            if cols.shape[1] * c <= self.max_configurations:
                return cols, False
            weights = cols.mean(axis=0)
            pick = rng.choice(cols.shape[1], size=self.n_samples, p=weights / weights.sum())
            cols = cols[:, pick]
            return cols / cols.mean(axis=0, keepdims=True), True
        cond_y = (cols.T @ p_new) / t  # [M, c] p(y_new | y_B^m)
        cum = np.cumsum(cond_y, axis=1)
        y = np.minimum((cum < rng.random((cum.shape[0], 1)) * cum[:, -1:]).sum(axis=1), c - 1)
        q = cond_y[np.arange(cond_y.shape[0]), y]
        return cols * p_new[:, y] / q[None, :], True


def top_bald(mc_probs: np.ndarray, size: int) -> np.ndarray:
    """The ``size`` rows with the largest BALD scores (ties broken by row), sorted by row."""
    order = np.argsort(-bald_scores(mc_probs), kind="stable")
    return np.sort(order[:size])
