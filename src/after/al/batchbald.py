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

    Merged configurations (``merge_tol``): once the batch's labels pin down the weights, most sampled
    configurations have the same posterior over the T samples (a one-hot column: with T = 20 and the
    archive benchmark's pool, 1,024 configurations collapse to about 20 distinct columns after 200 picks).
    Columns that agree within ``merge_tol`` (in units of T x posterior) are evaluated once and weighted by
    their count; ``merge_tol=0`` merges only bit-identical columns. The configurations themselves are
    still drawn one by one, so the random stream is the same with and without merging.

    Saturation: with T MC samples I[y_B; w] <= H[w] = log T, and a batch reaches it quickly (on the
    archive benchmark the first 20 BatchBALD picks carry 2.97 of the 3.00 nats). After that every true
    gain is ~0 and picks are decided by sampling noise; :meth:`select` logs a warning saying after how
    many picks. More ``mc_samples`` (T) or fewer clips per round keep the criterion informative for longer
    (on the merged 4-class pool T = 100 did not raise the learning curve, bench/RESULTS.md).

    Archive scale (an approximation, on by default above ``sample`` candidates): the greedy runs on the
    ``sample`` candidates with the largest BALD scores (``top_bald``; a point's BALD score bounds every
    gain it can add, so the rows left out are those that could add the least). With at most ``sample``
    candidates (or ``sample=0``) it is the exact greedy above, with the same picks.
    """

    requires = frozenset({"mc_probs"})

    def __init__(self, max_configurations: int = 1024, n_samples: int = 1024, memory_mb: float = 256.0,
                 lazy: bool = True, lazy_chunk: int = 256, sample: int = 20_000, merge_tol: float = 1e-4,
                 saturation_nats: float = 0.01):
        if min(max_configurations, n_samples, lazy_chunk) < 1 or memory_mb <= 0:
            raise ValueError("max_configurations, n_samples, lazy_chunk and memory_mb must be positive")
        if merge_tol < 0 or saturation_nats < 0:
            raise ValueError(f"merge_tol and saturation_nats must be >= 0; got {merge_tol}, {saturation_nats}")
        self.merge_tol = float(merge_tol)
        self.saturation_nats = float(saturation_nats)
        if sample < 0:
            raise ValueError(f"sample must be >= 0 (0 = exact); got {sample}")
        self.sample = int(sample)
        self.max_configurations = int(max_configurations)
        self.n_samples = int(n_samples)
        self.memory_mb = float(memory_mb)
        self.lazy = bool(lazy)
        self.lazy_chunk = int(lazy_chunk)

    def _conditional_entropies(self, p: np.ndarray, cols: np.ndarray, sampled: bool,
                               weights: np.ndarray | None = None) -> np.ndarray:
        """[b] H[y_x | y_B] for candidates p [b, T, c] (float32) given the batch table cols [T, K]; sampled
        configurations may come merged, ``weights`` [K] counting the configurations behind each column."""
        b, t, c = p.shape
        k_conf = cols.shape[1]
        chunk = max(1, int(self.memory_mb * 2**20 / 4 / (k_conf * c * 3)))  # q, log q, product
        cols_t = (cols.T / t).astype(np.float32)
        out = np.empty(b)
        for s in range(0, b, chunk):
            q = cols_t @ p[s:s + chunk].transpose(1, 0, 2).reshape(t, -1)  # [K, chunk*c]
            # -q log q by hand (scipy's entr is several times slower); sum over configurations first,
            # a reduction along contiguous rows, then over the c classes
            qlogq = q * np.log(np.maximum(q, np.float32(1e-30)))
            h = -(qlogq.sum(axis=0, dtype=np.float64) if weights is None
                  else weights.astype(np.float64) @ qlogq.astype(np.float64))
            out[s:s + chunk] = h.reshape(-1, c).sum(axis=1)
        if sampled:
            return out / (k_conf if weights is None else weights.sum())
        return out - entropy(cols.mean(axis=0))

    def _merged(self, cols: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(distinct columns [T, G], their counts [G]): sampled configurations whose columns agree within
        ``merge_tol`` are evaluated once (the first of each group stands for it)."""
        t, m = cols.shape
        if self.merge_tol > 0:
            keys = np.rint(cols / self.merge_tol).astype(np.int64)
        else:
            keys = np.ascontiguousarray(cols).view(np.int64)
        # one int64 per column: a random linear hash of its keys (wrapping), then exact grouping on it
        h = (np.random.default_rng(0).integers(1, 2**62, size=t, dtype=np.int64)[:, None] * keys).sum(axis=0)
        _, first, inverse, counts = np.unique(h, return_index=True, return_inverse=True, return_counts=True)
        rep = cols[:, first]
        if np.abs(cols - rep[:, inverse]).max() > self.merge_tol:   # a hash collision: merge nothing
            return cols, np.ones(m)
        return rep, counts.astype(np.float64)

    def _select(self, view: PoolView, k: int, rng: np.random.Generator) -> Selection:
        n = view.mc_probs.shape[0]
        if not self.sample or n <= max(self.sample, k):
            return self._greedy(view.mc_probs, k, rng)
        rows = top_bald(view.mc_probs, max(self.sample, k))
        sel = self._greedy(view.mc_probs[rows], k, rng)
        return Selection(rows[sel.indices], sel.scores)

    def _warn_saturated(self, information: list[float], t: int) -> None:
        """Log once when the batch's joint mutual information came within ``saturation_nats`` of log T."""
        ceiling = float(np.log(t))
        done = [j for j, v in enumerate(information) if v >= ceiling - self.saturation_nats]
        if done and done[0] + 1 < len(information):
            log.warning("BatchBALD: the batch's labels pin down the %d MC-dropout samples after %d of %d picks "
                        "(I[y_B; w] ~ %.3f of at most log %d = %.3f nats); the remaining %d picks are decided by "
                        "sampling noise. More mc_samples or fewer clips per round keep the criterion "
                        "informative (what that bought on a real pool: bench/RESULTS.md, "
                        "'BatchBALD: the batch saturates').",
                        t, done[0] + 1, len(information), information[done[0]], t, ceiling,
                        len(information) - done[0] - 1)

    def _greedy(self, mc_probs: np.ndarray, k: int, rng: np.random.Generator) -> Selection:
        p = np.ascontiguousarray(mc_probs.transpose(0, 2, 1))  # [n, T, c]
        n, t, c = p.shape
        cond = entropy(p, axis=2).mean(axis=1)  # [n] E_w H[y | w]
        p32 = p.astype(np.float32)
        bounds = bald_scores(mc_probs)  # upper bounds on every later gain
        cols = np.ones((t, 1))  # exact: prod_j p(y_j | w_t) per configuration; sampled: column-normalised
        sampled = False
        table, counts = cols, None   # what the entropies are computed on: sampled, the merged columns + counts
        information = []   # I[y_B; w] after each pick
        available = np.ones(n, dtype=bool)
        chosen, gains = [], []
        tie_rng = np.random.default_rng(rng.integers(0, 2**63))   # ordering keys, apart from the sampling stream
        for _ in range(k):
            step = self.lazy_chunk if self.lazy else int(available.sum())
            order, rest = self._candidates(bounds, available, 8 * step, tie_rng)
            pos = 0
            while True:
                blk = order[pos:pos + step]
                bounds[blk] = self._conditional_entropies(p32[blk], table, sampled, counts) - cond[blk]
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
            table, counts = self._merged(cols) if sampled else (cols, None)
            information.append(batch_information(table, sampled, counts))
        self._warn_saturated(information, t)
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


def batch_information(cols: np.ndarray, sampled: bool, counts: np.ndarray | None = None) -> float:
    """I[y_B; w] = H[w] - E H[w | y_B] = log T - E_{y_B} H[p(w | y_B)] from the greedy's batch table
    ``cols`` [T, K]: every configuration with its probability (exact), or K configurations drawn from
    p(y_B) with columns normalised to mean 1 (sampled, a Monte-Carlo estimate; ``counts`` [K]: how many
    configurations each merged column stands for)."""
    t = cols.shape[0]
    mass = cols.sum(axis=0)
    post = cols / np.maximum(mass, 1e-300)   # p(w_t | y_B) per configuration
    h = entropy(post.T, axis=1)
    if not sampled:
        weight = mass / t
    else:
        weight = np.ones(cols.shape[1]) if counts is None else np.asarray(counts, dtype=np.float64)
        weight = weight / weight.sum()
    return float(np.log(t) - weight @ h)


def joint_mutual_information(mc_probs: np.ndarray, picks: np.ndarray, n_configurations: int = 20_000,
                             rng: np.random.Generator | None = None) -> float:
    """Monte-Carlo I[y_B; w] of the batch ``picks`` under the T MC-dropout samples of ``mc_probs``
    [n, c, T], independent of any greedy: draw t ~ U(T) and y_j ~ p(y | w_t) for every j in B, and average
    log T + log p(w_t | y_B) (a quantity in (-inf, log T], so the estimate stays accurate when the
    posterior collapses). A check on what a batch carries; at most log T."""
    rng = np.random.default_rng(0) if rng is None else rng
    p = np.asarray(mc_probs[np.asarray(picks)], dtype=np.float64)   # [b, c, T]
    _, c, t = p.shape
    logp = np.log(np.maximum(p, 1e-300))
    w = rng.integers(0, t, n_configurations)
    loglik = np.zeros((n_configurations, t))   # log p(y_B^m | w_t)
    for j in range(p.shape[0]):
        cum = np.cumsum(p[j][:, w], axis=0)    # [c, M]
        y = np.minimum((cum < rng.random(n_configurations) * cum[-1]).sum(axis=0), c - 1)
        loglik += logp[j][y]
    top = loglik.max(axis=1, keepdims=True)
    log_post = loglik[np.arange(n_configurations), w] - top[:, 0] - np.log(np.exp(loglik - top).sum(axis=1))
    return float(np.log(t) + log_post.mean())


def top_bald(mc_probs: np.ndarray, size: int) -> np.ndarray:
    """The ``size`` rows with the largest BALD scores (ties broken by row), sorted by row."""
    order = np.argsort(-bald_scores(mc_probs), kind="stable")
    return np.sort(order[:size])
