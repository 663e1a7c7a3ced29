"""The TDT (token-and-duration transducer) loss on any device, for fine-tuning TDT models on a CPU.

NeMo computes the TDT loss with a CUDA kernel only: its numba loss raises "TDT is not yet
implemented for non CUDA computation" on a CPU, and its pure-Python reference loops over every
(batch, frame, token) cell and calls ``.cuda()``. This module computes the same quantity
(equation 7 of https://arxiv.org/abs/2304.06795, with NeMo's logit under-normalization ``sigma``
and its ``omega`` sampling of the plain RNN-T loss) with vectorized torch and autograd: one loop
over frames, everything else batched. Tests check it against a brute-force sum over every
alignment on tiny inputs and against autograd's numerical gradients.

The recursion, for the forward variable ``alpha[t, u]`` (log-probability of having emitted ``u``
tokens when frame ``t`` is reached)::

    alpha[t, u] = logsumexp over durations d of
        alpha[t-d, u]   + blank(t-d, u)       + dur(d | t-d, u)      (d >= 1)
        alpha[t-d, u-1] + label(t-d, u-1, y_u) + dur(d | t-d, u-1)   (d >= 0)

Duration 0 only exists for tokens, so within one frame ``alpha[t, u]`` depends on
``alpha[t, u-1]``: a first-order log-linear recurrence along ``u``, solved in closed form with a
cumulative sum and ``logcumsumexp`` instead of a loop over tokens.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

__all__ = ["TDTLoss", "transducer_log_likelihood", "use_cpu_tdt_loss"]

# Log-probability of an unreachable state: finite, so that gradients of logsumexp stay defined.
_IMPOSSIBLE = -1e30


def transducer_log_likelihood(
    label_logprobs: torch.Tensor,
    duration_logprobs: torch.Tensor | None,
    labels: torch.Tensor,
    act_lens: torch.Tensor,
    label_lens: torch.Tensor,
    blank: int,
    durations: Sequence[int],
) -> torch.Tensor:
    """Log-likelihood of each label sequence under a TDT (or, with ``durations=(0, 1)`` and no
    duration log-probs, a plain RNN-T) lattice.

    ``label_logprobs``: (B, T, U+1, V+1) log-probabilities of the tokens and blank;
    ``duration_logprobs``: (B, T, U+1, len(durations)) or None for the plain RNN-T lattice, where a
    token takes no frame and a blank takes one. Returns a (B,) tensor.
    """
    batch, frames, states, _ = label_logprobs.shape
    device, dtype = label_logprobs.device, label_logprobs.dtype
    labels = labels[:, : states - 1].long()
    blank_lp = label_logprobs[..., blank]  # (B, T, U+1)
    if states > 1:
        index = labels.clamp(min=0)[:, None, :, None].expand(batch, frames, states - 1, 1)
        token_lp = label_logprobs[:, :, : states - 1, :].gather(3, index).squeeze(3)  # (B, T, U)
    else:
        token_lp = label_logprobs.new_zeros(batch, frames, 0)

    def dur(position: int) -> torch.Tensor:
        if duration_logprobs is None:
            return label_logprobs.new_zeros(batch, frames, states)
        return duration_logprobs[..., position]

    steps = [(k, d, dur(k)) for k, d in enumerate(durations)]
    zero = next((lp for _, d, lp in steps if d == 0), None)
    # Within a frame: alpha[t, u] = logaddexp(A[t, u], alpha[t, u-1] + chain[t, u-1]).
    chain = token_lp + zero[:, :, : states - 1] if zero is not None else None
    alphas: list[torch.Tensor] = []
    for t in range(frames):
        terms = []
        if t == 0:
            start = torch.full((batch, states), _IMPOSSIBLE, device=device, dtype=dtype)
            start[:, 0] = 0.0
            terms.append(start)
        for _, d, lp in steps:
            if d < 1 or t - d < 0:
                continue
            prev, s = alphas[t - d], t - d
            blank_term = prev + blank_lp[:, s] + lp[:, s]
            terms.append(blank_term)
            if states > 1 and duration_logprobs is not None:  # in a plain RNN-T lattice tokens take no frame
                token_term = prev[:, :-1] + token_lp[:, s] + lp[:, s, :-1]
                terms.append(torch.cat([torch.full_like(prev[:, :1], _IMPOSSIBLE), token_term], dim=1))
        arrive = torch.logsumexp(torch.stack(terms), dim=0) if len(terms) > 1 else terms[0]
        if chain is not None and states > 1:
            cum = torch.cat([arrive.new_zeros(batch, 1), torch.cumsum(chain[:, t], dim=1)], dim=1)
            arrive = cum + torch.logcumsumexp(arrive - cum, dim=1)
        alphas.append(arrive)
    alpha = torch.stack(alphas, dim=1)  # (B, T, U+1)

    rows = torch.arange(batch, device=device)
    ends = []
    for _, d, lp in steps:
        if d < 1:
            continue
        frame = act_lens.long() - d
        ok = frame >= 0
        frame = frame.clamp(min=0)
        value = alpha[rows, frame, label_lens.long()] + blank_lp[rows, frame, label_lens.long()] \
            + lp[rows, frame, label_lens.long()]
        ends.append(torch.where(ok, value, torch.full_like(value, _IMPOSSIBLE)))
    return torch.logsumexp(torch.stack(ends), dim=0)


class TDTLoss(torch.nn.Module):
    """A drop-in for NeMo's ``TDTLossNumba`` (same inputs: the joint's raw outputs, tokens then
    durations on the last axis; same ``sigma``, ``omega`` and reductions) that runs on any device.

    ``clamp`` (NeMo's gradient clamp) is applied to the gradient of the joint's outputs.
    ``fastemit_lambda`` is not supported and must be 0.
    """

    def __init__(self, blank: int, durations: Sequence[int], reduction: str | None = "mean_batch",
                 sigma: float = 0.0, omega: float = 0.0, clamp: float = 0.0, fastemit_lambda: float = 0.0) -> None:
        super().__init__()
        durations = [int(d) for d in durations]
        if 0 not in durations or 1 not in durations or any(d < 0 for d in durations):
            raise ValueError(f"TDT durations must include 0 and 1 and be non-negative, got {durations}")
        if fastemit_lambda:
            raise ValueError("FastEmit regularization is not supported by the CPU TDT loss: set fastemit_lambda=0")
        self.blank = blank
        self.durations = durations
        self.reduction = reduction
        self.sigma = float(sigma)
        self.omega = float(omega)
        self.clamp = float(clamp) if clamp and clamp > 0 else 0.0

    def forward(self, acts: torch.Tensor, labels: torch.Tensor, act_lens: torch.Tensor,
                label_lens: torch.Tensor) -> torch.Tensor:
        if self.clamp and acts.requires_grad:
            acts.register_hook(lambda grad: grad.clamp(-self.clamp, self.clamp))
        n = len(self.durations)
        if acts.dtype in (torch.float16, torch.bfloat16):
            acts = acts.float()
        token_acts, duration_acts = acts[..., :-n], acts[..., -n:]
        token_lp = torch.log_softmax(token_acts, dim=-1)
        if self.omega and float(torch.rand(())) < self.omega:
            # NeMo's sampled training: with probability omega, the plain RNN-T loss on the tokens.
            loglik = transducer_log_likelihood(token_lp, None, labels, act_lens, label_lens, self.blank, (0, 1))
        else:
            loglik = transducer_log_likelihood(token_lp - self.sigma, torch.log_softmax(duration_acts, dim=-1),
                                               labels, act_lens, label_lens, self.blank, self.durations)
        losses = -loglik
        if self.reduction in (None, "none"):
            return losses
        if self.reduction == "sum":
            return losses.sum()
        if self.reduction == "mean":
            return (losses / label_lens.clamp(min=1)).mean()
        if self.reduction == "mean_volume":
            return losses.sum() / label_lens.sum().clamp(min=1)
        return losses.mean()  # "mean_batch"


def use_cpu_tdt_loss(asr_model: Any) -> bool:
    """Swap a TDT model's CUDA-only loss for :class:`TDTLoss`; True if it was swapped (False: the
    model has no TDT loss, or has this one already).

    The model's ``RNNTLoss`` wrapper (and the joint's fused loss, which is the same object) keeps
    its reduction and its call convention; only the function inside changes, with its settings.
    Whether a model is a TDT model is its family's to say: this runs from
    :meth:`~jupyter_speechcustom.asr.family_transducer.TransducerFamily.prepare_training`.
    """
    wrapper: Any = getattr(asr_model, "loss", None)
    inner = getattr(wrapper, "_loss", None)
    if wrapper is None or inner is None or isinstance(inner, TDTLoss) or not hasattr(inner, "durations"):
        return False
    wrapper._loss = TDTLoss(blank=inner.blank, durations=inner.durations, reduction=inner.reduction,
                            sigma=inner.sigma, omega=inner.omega, clamp=inner.clamp,
                            fastemit_lambda=inner.fastemit_lambda)
    return True
