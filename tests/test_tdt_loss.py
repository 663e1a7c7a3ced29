"""The CPU TDT loss: the same quantity as NeMo's TDT loss, checked by brute force and by NeMo's own references."""

from __future__ import annotations

import pytest
import torch

from jupyter_speechcustom.asr.tdt_loss import TDTLoss, transducer_log_likelihood

DURATIONS = [0, 1, 2, 4]


def _paths_tdt(frames: int, tokens: int, durations: list[int]):
    """Every TDT alignment of ``tokens`` tokens over ``frames`` frames, as (t, u, is_blank, duration index) steps."""

    def walk(t: int, u: int, steps: tuple):
        if t == frames and u == tokens:
            yield steps
            return
        for k, d in enumerate(durations):
            if u < tokens and t + d < frames:  # a token may not end the utterance: a blank does
                yield from walk(t + d, u + 1, (*steps, (t, u, False, k)))
            if d >= 1 and (t + d < frames or (t + d == frames and u == tokens)):
                yield from walk(t + d, u, (*steps, (t, u, True, k)))

    yield from walk(0, 0, ())


def _brute_force(label_lp, duration_lp, labels, frames, tokens, blank, durations):
    scores = []
    for path in _paths_tdt(frames, tokens, durations):
        score = label_lp.new_zeros(())
        for t, u, is_blank, k in path:
            score = score + label_lp[t, u, blank if is_blank else labels[u]] + duration_lp[t, u, k]
        scores.append(score)
    return torch.logsumexp(torch.stack(scores), 0)


@pytest.fixture
def tiny():
    torch.manual_seed(0)
    vocab = 5
    acts = torch.randn(3, 6, 4, vocab + 1 + len(DURATIONS), dtype=torch.float64)
    labels = torch.tensor([[1, 2, 3], [4, 0, 0], [2, 2, 0]])
    return acts, labels, torch.tensor([6, 4, 5]), torch.tensor([3, 1, 2]), vocab


def test_the_likelihood_is_the_sum_over_every_alignment(tiny):
    acts, labels, act_lens, label_lens, blank = tiny
    label_lp = torch.log_softmax(acts[..., : blank + 1], -1)
    duration_lp = torch.log_softmax(acts[..., blank + 1 :], -1)
    ours = transducer_log_likelihood(label_lp, duration_lp, labels, act_lens, label_lens, blank, DURATIONS)
    for b in range(3):
        expected = _brute_force(label_lp[b], duration_lp[b], labels[b].tolist(), int(act_lens[b]),
                                int(label_lens[b]), blank, DURATIONS)
        assert ours[b].item() == pytest.approx(expected.item(), abs=1e-9)


def test_the_plain_rnnt_lattice_matches_nemos_rnnt_loss(tiny):
    from nemo.collections.asr.losses.rnnt import RNNTLoss

    acts, labels, act_lens, label_lens, blank = tiny
    token_acts = acts[..., : blank + 1].float()
    ours = transducer_log_likelihood(torch.log_softmax(token_acts, -1), None, labels, act_lens, label_lens,
                                     blank, (0, 1))
    nemo = RNNTLoss(num_classes=blank, reduction=None, loss_name="warprnnt_numba")
    theirs = nemo(log_probs=token_acts, targets=labels, input_lengths=act_lens, target_lengths=label_lens)
    assert torch.allclose(-ours, theirs, atol=1e-4)


def test_the_loss_matches_nemos_reference_tdt_loss(tiny, monkeypatch):
    from nemo.collections.asr.losses.rnnt_pytorch import TDTLossPytorch

    acts, labels, act_lens, label_lens, blank = tiny
    monkeypatch.setattr(torch.Tensor, "cuda", lambda self, *a, **k: self)  # the reference moves tensors to CUDA
    reference = TDTLossPytorch(blank=blank, durations=DURATIONS, reduction="none", sigma=0.05)
    ours = TDTLoss(blank=blank, durations=DURATIONS, reduction="none", sigma=0.05)
    expected = reference(acts=acts.float(), labels=labels, act_lens=act_lens, label_lens=label_lens)
    assert torch.allclose(ours(acts.float(), labels, act_lens, label_lens), expected.float(), atol=1e-4)


def test_gradients_match_numerical_gradients(tiny):
    acts, labels, act_lens, label_lens, blank = tiny
    loss = TDTLoss(blank=blank, durations=DURATIONS, reduction="mean_batch", sigma=0.05)
    acts = acts[:, :5, :, :].clone().requires_grad_()
    act_lens = act_lens.clamp(max=5)
    assert torch.autograd.gradcheck(lambda a: loss(a, labels, act_lens, label_lens), (acts,))


@pytest.mark.parametrize("reduction", ["mean_batch", "mean", "sum", "mean_volume", "none"])
def test_reductions_match_nemos(tiny, reduction):
    acts, labels, act_lens, label_lens, blank = tiny
    per_utterance = TDTLoss(blank, DURATIONS, reduction="none")(acts, labels, act_lens, label_lens)
    reduced = TDTLoss(blank, DURATIONS, reduction=reduction)(acts, labels, act_lens, label_lens)
    expected = {"mean_batch": per_utterance.mean(), "mean": (per_utterance / label_lens).mean(),
                "sum": per_utterance.sum(), "mean_volume": per_utterance.sum() / label_lens.sum(),
                "none": per_utterance}[reduction]
    assert torch.allclose(reduced, expected)


def test_omega_samples_the_plain_rnnt_loss(tiny):
    acts, labels, act_lens, label_lens, blank = tiny
    always_rnnt = TDTLoss(blank, DURATIONS, reduction="none", omega=1.0)(acts, labels, act_lens, label_lens)
    token_lp = torch.log_softmax(acts[..., : blank + 1], -1)
    rnnt = -transducer_log_likelihood(token_lp, None, labels, act_lens, label_lens, blank, (0, 1))
    assert torch.allclose(always_rnnt, rnnt)
    tdt = TDTLoss(blank, DURATIONS, reduction="none", omega=0.0)(acts, labels, act_lens, label_lens)
    assert not torch.allclose(tdt, rnnt)


def test_invalid_settings_are_refused():
    with pytest.raises(ValueError, match="include 0 and 1"):
        TDTLoss(blank=3, durations=[1, 2])
    with pytest.raises(ValueError, match="fastemit_lambda=0"):
        TDTLoss(blank=3, durations=[0, 1], fastemit_lambda=0.001)


def test_a_nemo_tdt_model_gets_the_cpu_loss_and_trains_a_step(tmp_path):
    from nemo.collections.asr.models import ASRModel
    from omegaconf import open_dict

    from jupyter_speechcustom.asr.families import family_of
    from jupyter_speechcustom.asr.tdt_loss import use_cpu_tdt_loss
    from jupyter_speechcustom.demo.family_models import build_family_model, train_tokenizer

    tokenizer = train_tokenizer(tmp_path / "tok", vocab_size=64)
    model = ASRModel.restore_from(str(build_family_model("tdt", tmp_path / "tdt.nemo", tokenizer)),
                                  map_location="cpu")
    family = family_of(model)
    assert family.training_problem(model, "cpu") is None
    nemo_loss = model.loss._loss
    if torch.cuda.is_available():
        family.prepare_training(model, "gpu")  # NeMo's own CUDA loss stays where there is a GPU
        assert model.loss._loss is nemo_loss
    family.prepare_training(model, "cpu")  # the family's training hook: the CPU loss for a TDT model
    assert isinstance(model.loss._loss, TDTLoss) and model.loss._loss.durations == [0, 1, 2, 3, 4]
    assert model.loss._loss.blank == nemo_loss.blank and model.loss._loss.sigma == nemo_loss.sigma
    assert not use_cpu_tdt_loss(model)  # already swapped
    with open_dict(model.cfg):
        model.cfg.loss.tdt_kwargs.fastemit_lambda = 0.001
    assert "FastEmit" in (family.training_problem(model, "cpu") or "")  # refused before any work, with advice
    with open_dict(model.cfg):
        model.cfg.loss.tdt_kwargs.fastemit_lambda = 0.0
    model.train()
    audio = torch.randn(2, 16000)
    encoded, encoded_len = model(input_signal=audio, input_signal_length=torch.tensor([16000, 12000]))
    targets = torch.tensor([[5, 6, 7], [8, 9, 0]])
    target_len = torch.tensor([3, 2])
    decoder, _, _ = model.decoder(targets=targets, target_length=target_len)
    joint = model.joint(encoder_outputs=encoded, decoder_outputs=decoder)
    loss = model.loss(log_probs=joint, targets=targets, input_lengths=encoded_len, target_lengths=target_len)
    loss.backward()
    assert torch.isfinite(loss) and loss.item() > 0
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.joint.parameters())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="NeMo's TDT loss kernel needs a CUDA GPU")
@pytest.mark.parametrize(("sigma", "omega"), [(0.0, 0.0), (0.05, 0.0), (0.02, 1.0)])
def test_the_loss_matches_nemos_cuda_kernel(sigma, omega):
    """On a GPU, against NeMo's numba CUDA TDT loss: per-utterance losses and gradients, float32."""
    from nemo.collections.asr.losses.rnnt import RNNTLoss

    durations, (batch, frames, tokens, vocab) = [0, 1, 2, 3, 4], (8, 200, 40, 257)  # vocab counts the blank
    generator = torch.Generator().manual_seed(0)
    acts = torch.randn(batch, frames, tokens + 1, vocab + len(durations), generator=generator).cuda()
    labels = torch.randint(0, vocab - 1, (batch, tokens), generator=generator).cuda()
    act_lens = torch.randint(frames // 2, frames + 1, (batch,), generator=generator).cuda()
    label_lens = torch.randint(1, tokens + 1, (batch,), generator=generator).cuda()
    act_lens[0], label_lens[0] = frames, tokens
    nemo = RNNTLoss(num_classes=vocab - 1, reduction=None, loss_name="tdt",
                    loss_kwargs={"durations": durations, "sigma": sigma, "omega": omega, "clamp": -1.0,
                                 "fastemit_lambda": 0.0})
    ours = TDTLoss(blank=vocab - 1, durations=durations, reduction="none", sigma=sigma, omega=omega)
    results = []
    for loss in (lambda a: ours(a, labels, act_lens, label_lens),
                 lambda a: nemo(log_probs=a, targets=labels, input_lengths=act_lens, target_lengths=label_lens)):
        torch.manual_seed(0)  # omega draws which utterances get the plain RNN-T loss
        a = acts.clone().requires_grad_(True)
        per_utterance = loss(a)
        per_utterance.sum().backward()
        results.append((per_utterance.detach().double(), a.grad.double()))
    (our_loss, our_grad), (nemo_loss, nemo_grad) = results
    assert torch.allclose(our_loss, nemo_loss, rtol=1e-5, atol=1e-4)
    assert (our_grad - nemo_grad).abs().max() <= 2e-3 * nemo_grad.abs().max()  # float32 sums over the lattice
