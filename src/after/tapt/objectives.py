"""The terms of Eq. 3, written out on plain tensors (no model inside), each averaged over its frames.

Shapes: ``B`` clips, ``T`` encoder frames, ``mask`` bool ``[B, T]`` (the masked frames a term is taken on).
The paper's Eq. 1 and 2 sum over the masked frames; we average, so a term's scale does not depend on the
batch size (Eq. 2 already divides by ``|N_m|``).
"""
from __future__ import annotations

import torch
from torch import nn


def contrastive_within_utterance(context: torch.Tensor, targets: torch.Tensor, mask: torch.Tensor,
                                 temperature: float) -> torch.Tensor:
    """Eq. 1 (wav2vec 2.0): for each masked frame i of a clip, ``-log softmax_j(sim(c_i, q_j)/kappa)[i]``
    over the masked frames j of the same clip (the other masked frames are the distractors).

    ``context``, ``targets``: ``[B, T, C]``. A distractor identical to the true target is left out (it is
    not a negative). Clips with fewer than two masked frames add nothing.
    """
    losses = []
    for b in range(context.shape[0]):
        idx = mask[b].nonzero().squeeze(-1)
        if idx.numel() < 2:
            continue
        c = nn.functional.normalize(context[b, idx].float(), dim=-1)
        q = nn.functional.normalize(targets[b, idx].float(), dim=-1)
        logits = c @ q.T / temperature                               # [M, M]
        same = (targets[b, idx][:, None, :] == targets[b, idx][None, :, :]).all(-1)
        same.fill_diagonal_(False)
        logits = logits.masked_fill(same, float("-inf"))
        losses.append(nn.functional.cross_entropy(logits, torch.arange(len(idx), device=logits.device),
                                                  reduction="none"))
    if not losses:
        return context.sum() * 0.0
    return torch.cat(losses).mean()


def contrastive_over_codebook(projected: torch.Tensor, codebook: torch.Tensor, codes: torch.Tensor,
                              mask: torch.Tensor, valid: torch.Tensor, temperature: float) -> torch.Tensor:
    """Eq. 1 for a random-projection quantizer: InfoNCE between the projected context vector ``[B, T, C]``
    and the codebook vectors ``[K, C]``, the true code against the other codes used in the same clip
    (``codes`` ``[B, T]`` over its ``valid`` frames), at the ``mask``-ed frames."""
    if not mask.any():
        return projected.sum() * 0.0
    k = codebook.shape[0]
    counts = torch.zeros(codes.shape[0], k, device=codes.device)
    used = counts.scatter_add_(1, codes, valid.float()) > 0               # [B, K]: codes in clip b
    logits = nn.functional.normalize(projected.float(), dim=-1) @ \
        nn.functional.normalize(codebook.float(), dim=-1).T / temperature  # [B, T, K]
    logits = logits.masked_fill(~used[:, None, :], float("-inf"))
    return nn.functional.cross_entropy(logits[mask], codes[mask])


def code_cross_entropy(logits: torch.Tensor, codes: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Eq. 2: mean cross-entropy of the true code at the masked frames. ``logits`` ``[B, T, K]`` with
    ``codes`` ``[B, T]``, or ``[B, T, G, V]`` with ``codes`` ``[B, T, G]`` (one code per codebook group)."""
    if not mask.any():
        return logits.sum() * 0.0
    picked = logits[mask].float()
    return nn.functional.cross_entropy(picked.reshape(-1, picked.shape[-1]), codes[mask].reshape(-1))


def codebook_diversity(code_logits: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """wav2vec 2.0's diversity term ``(GV - perplexity) / GV`` from the quantizer's logits
    ``[B, T, G, V]``, its soft code distribution averaged over the masked frames."""
    g, v = code_logits.shape[-2:]
    if not mask.any():
        return code_logits.sum() * 0.0
    avg = torch.softmax(code_logits[mask].float(), dim=-1).mean(0)       # [G, V]
    perplexity = torch.exp(-(avg * torch.log(avg + 1e-7)).sum(-1)).sum()
    return (g * v - perplexity) / (g * v)


def hidden_state_distillation(student: torch.Tensor, teacher: torch.Tensor, keep: torch.Tensor,
                              metric: str = "mse") -> torch.Tensor:
    """Guard against forgetting: distance between ``student`` and frozen ``teacher`` hidden states
    ``[S, B, T, D]`` (S selected layers) on the ``keep`` frames ``[B, T]`` (valid and unmasked)."""
    if not keep.any():
        return student.sum() * 0.0
    s, t = student[:, keep].float(), teacher[:, keep].float().detach()
    if metric == "mse":
        return nn.functional.mse_loss(s, t)
    if metric == "cosine":
        return (1.0 - nn.functional.cosine_similarity(s, t, dim=-1)).mean()
    raise ValueError(f"distill_metric must be mse or cosine, got {metric!r}")
