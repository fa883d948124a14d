"""S-CLIP and the caption pseudo-label methods it shares code with: set-up, OT targets, keyword loss, gradient
paths, the paired bank."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
from torch import Tensor
from torch.nn import functional as F

from ssclip.methods.base import MethodContext, create_method
from ssclip.methods.clip_losses import clip_contrastive_loss
from ssclip.methods.sclip import SClip
from ssclip.pseudo.sinkhorn import row_normalized, sinkhorn_log

from .fakes import KEYWORD_IDS, KEYWORDS, TinyCLIP, context, hand_setup, keyword_tokenizer, make, random_batch


def test_setup_tokenizes_keywords_with_template_and_checks_inputs() -> None:
    seen: list[list[str]] = []

    def recording_tokenizer(texts: list[str]) -> Tensor:
        seen.append(list(texts))
        return keyword_tokenizer(texts)

    SClip().setup(MethodContext(tokenizer=recording_tokenizer, keywords=KEYWORDS))
    templated = SClip(keyword_template="a photo of {}")
    templated.setup(MethodContext(tokenizer=recording_tokenizer, keywords=KEYWORDS))
    assert seen == [KEYWORDS, [f"a photo of {k}" for k in KEYWORDS]]
    with pytest.raises(ValueError, match="keyword vocabulary"):
        SClip().setup(MethodContext(tokenizer=keyword_tokenizer, keywords=[]))
    with pytest.raises(ValueError, match="tokenizer"):
        SClip().setup(MethodContext(tokenizer=None, keywords=KEYWORDS))
    SClip(losses=("caption",)).setup(MethodContext())  # no keywords needed
    with pytest.raises(RuntimeError, match="setup"):
        SClip().training_step(TinyCLIP(), random_batch())


def test_batch_errors_name_the_field() -> None:
    method, model, batch = make("sclip"), TinyCLIP(), random_batch()
    del batch["keyword_presence"]
    with pytest.raises(KeyError, match="keyword_presence"):
        method.training_step(model, batch)
    batch["keyword_presence"] = torch.zeros(6, 2, dtype=torch.bool)
    with pytest.raises(ValueError, match=r"keyword_presence.*\(6, 3\)"):
        method.training_step(model, batch)
    # caption-only S-CLIP never looks at keyword presence
    del batch["keyword_presence"]
    out = make("sclip", losses=("caption",)).training_step(model, batch)
    assert set(out.losses) == {"contrastive", "caption_pl"}


def test_missing_unpaired_images_give_zero_pseudo_label_losses() -> None:
    batch = random_batch()
    del batch["unpaired_images"]
    model = TinyCLIP()
    out = make("sclip").training_step(model, batch)
    assert set(out.losses) == {"contrastive", "caption_pl", "keyword_pl"}
    assert out.losses["caption_pl"].item() == 0 and out.losses["keyword_pl"].item() == 0
    expected = clip_contrastive_loss(
        model.encode_image(batch["paired_images"], normalize=True),
        model.encode_text(batch["paired_texts"], normalize=True),
        model.logit_scale.exp(),
    )
    torch.testing.assert_close(out.losses["contrastive"], expected)


def test_sclip_ot_balances_where_nearest_neighbour_does_not() -> None:
    model, batch, texts, unpaired = hand_setup(scale=100.0)  # reg = 1/s = 0.01
    method = make("sclip")
    q = method.pseudo_targets(unpaired, torch.eye(4)[:2], torch.tensor(100.0))
    torch.testing.assert_close(q, torch.eye(2), atol=1e-4, rtol=0)  # u1 -> image 1, u2 -> image 2
    out = method.training_step(model, batch)
    assert out.metrics["pl_accuracy"].item() == pytest.approx(1.0)  # hard-pl gets 0.5 on this batch
    expected_caption = 0.5 * F.cross_entropy(100.0 * unpaired @ texts.T, torch.tensor([0, 1]))
    torch.testing.assert_close(out.losses["caption_pl"], expected_caption, atol=1e-4, rtol=1e-4)


def test_sclip_ot_target_near_one_hot_for_a_permutation() -> None:
    gen = torch.Generator().manual_seed(1)
    paired = F.normalize(torch.eye(5, 8) + 0.05 * torch.randn(5, 8, generator=gen), dim=-1)
    permutation = torch.tensor([3, 0, 4, 1, 2])
    unpaired = F.normalize(paired[permutation] + 0.05 * torch.randn(5, 8, generator=gen), dim=-1)
    q = SClip(ot_reg=0.01).pseudo_targets(unpaired, paired, torch.tensor(1.0))
    torch.testing.assert_close(q, F.one_hot(permutation, 5).float(), atol=1e-3, rtol=0)
    torch.testing.assert_close(q.sum(-1), torch.ones(5))


def test_sclip_ot_options_reach_the_solver() -> None:
    gen = torch.Generator().manual_seed(2)
    unpaired = F.normalize(torch.randn(4, 6, generator=gen), dim=-1)
    paired = F.normalize(torch.randn(3, 6, generator=gen), dim=-1)
    cost, scale = 1 - unpaired @ paired.T, torch.tensor(5.0)
    cases = [({}, 0.2, 10), ({"ot_reg": 0.5, "ot_iters": 3}, 0.5, 3), ({"ot_iters": 1}, 0.2, 1)]  # 0.2 = 1/s
    for options, reg, iters in cases:
        got = SClip(**options).pseudo_targets(unpaired, paired, scale)
        torch.testing.assert_close(got, row_normalized(sinkhorn_log(cost, reg, n_iters=iters)))
    assert not torch.allclose(
        SClip(ot_iters=1).pseudo_targets(unpaired, paired, scale),
        SClip(ot_iters=50).pseudo_targets(unpaired, paired, scale),
        atol=1e-3,
    )


@pytest.mark.parametrize("weighting", ["uniform", "softmax"])
def test_sclip_keyword_loss_by_hand(weighting: str) -> None:
    model, batch, _, unpaired = hand_setup(scale=100.0)
    out = make("sclip", keyword_weighting=weighting).training_step(model, batch)
    # OT assigns u1 -> caption 1 (keywords road, river), u2 -> caption 2 (tree); keyword vectors e1, e2, e3
    logits = 100.0 * unpaired @ torch.eye(4)[:3].T
    log_probs = logits.log_softmax(-1)
    if weighting == "uniform":
        row1 = torch.tensor([0.5, 0.0, 0.5])
    else:  # softmax of the logits over the candidates {road, river}: logits 100 and 0
        row1 = torch.tensor([1 / (1 + math.exp(-100)), 0.0, math.exp(-100) / (1 + math.exp(-100))])
    targets = torch.stack([row1, torch.tensor([0.0, 1.0, 0.0])])
    expected = 0.5 * -(targets * log_probs).sum(-1).mean()
    torch.testing.assert_close(out.losses["keyword_pl"], expected, atol=1e-4, rtol=1e-4)
    assert out.metrics["keyword_coverage"].item() == 1.0


def test_sclip_keyword_empty_rows_rule() -> None:
    model, batch, _, unpaired = hand_setup(scale=100.0)
    batch["keyword_presence"][1] = False  # u2's neighbour caption has no keyword
    row1 = 0.5 * -(100.0 * unpaired[0] @ torch.eye(4)[:3].T).log_softmax(-1)[[0, 2]].sum()
    skip = make("sclip", keyword_weighting="uniform", keyword_empty_rows="skip").training_step(model, batch)
    count = make("sclip", keyword_weighting="uniform").training_step(model, batch)  # the default: the code's
    torch.testing.assert_close(skip.losses["keyword_pl"], 0.5 * row1, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(count.losses["keyword_pl"], 0.5 * row1 / 2, atol=1e-4, rtol=1e-4)
    assert skip.metrics["keyword_coverage"].item() == 0.5


@pytest.mark.parametrize("name", ["sclip", "soft-pl", "hard-pl"])
def test_pl_keep_trains_only_the_most_confident_rows(name: str) -> None:
    model, batch = TinyCLIP(scale=3.0), random_batch()
    method = make(name, pl_keep=0.5)
    out = method.training_step(model, batch)
    paired = model.encode_image(batch["paired_images"], normalize=True)
    texts = model.encode_text(batch["paired_texts"], normalize=True)
    unpaired = model.encode_image(batch["unpaired_images"], normalize=True)
    targets = method.pseudo_targets(unpaired, paired, torch.tensor(3.0))
    kept = targets.max(-1).values.topk(round(0.5 * len(unpaired))).indices
    expected = 0.5 * F.cross_entropy(3.0 * unpaired[kept] @ texts.T, targets[kept])
    torch.testing.assert_close(out.losses["caption_pl"], expected)
    full = make(name).training_step(model, batch).losses["caption_pl"]
    assert not torch.allclose(full, expected)  # the option changes what trains
    with pytest.raises(ValueError, match="pl_keep"):
        make(name, pl_keep=0.0)


def test_unpaired_negatives_option() -> None:
    model, batch = TinyCLIP(scale=3.0), random_batch()
    batch["unpaired_images"].requires_grad_(True)
    paired = model.encode_image(batch["paired_images"], normalize=True)
    texts = model.encode_text(batch["paired_texts"], normalize=True)
    unpaired = model.encode_image(batch["unpaired_images"], normalize=True)
    for name, options, with_negatives in [
        ("sclip", {}, True),
        ("sclip", {"unpaired_negatives": False}, False),
        ("hard-pl", {}, True),
        ("hard-pl", {"unpaired_negatives": False}, False),
        ("soft-pl", {}, True),
    ]:
        batch["unpaired_images"].grad = None
        out = make(name, **options).training_step(model, batch)
        expected = clip_contrastive_loss(paired, texts, 3.0, unpaired if with_negatives else None)
        torch.testing.assert_close(out.losses["contrastive"], expected)
        out.losses["contrastive"].backward()
        assert (batch["unpaired_images"].grad is not None) == with_negatives


# --- gradient paths ---------------------------------------------------------------------------------------


def _caption_grads(name: str, **options: Any) -> tuple[Tensor | None, Tensor | None, Tensor | None]:
    """Gradients of the caption loss alone w.r.t. paired inputs, unpaired inputs and the log-scale."""
    model, batch = TinyCLIP(scale=5.0), random_batch()
    batch["paired_images"].requires_grad_(True)
    batch["unpaired_images"].requires_grad_(True)
    out = make(name, losses=("caption",), **options).training_step(model, batch)
    out.losses["caption_pl"].backward()
    return batch["paired_images"].grad, batch["unpaired_images"].grad, model.logit_scale.grad


def test_detach_plan_cuts_the_gradient_through_the_ot_target() -> None:
    paired_grad, unpaired_grad, scale_grad = _caption_grads("sclip", detach_plan=True)
    assert paired_grad is None  # the paired images enter the caption loss only through Q
    assert unpaired_grad is not None and scale_grad is not None
    paired_grad_through, _, scale_grad_through = _caption_grads("sclip")
    assert paired_grad_through is not None and paired_grad_through.abs().sum() > 1e-6
    assert not torch.allclose(scale_grad, scale_grad_through)  # reg = 1/s also carries gradient
    assert SClip(detach_plan=True).detach_plan


def test_hard_and_soft_pl_target_gradients() -> None:
    assert _caption_grads("hard-pl")[0] is None  # argmax target: no gradient to the paired images
    assert _caption_grads("soft-pl")[0] is not None
    assert _caption_grads("soft-pl", detach_target=True)[0] is None


def test_keyword_loss_trains_the_keyword_embeddings_only_through_text() -> None:
    model, batch = TinyCLIP(scale=5.0), random_batch()
    out = make("sclip", losses=("keyword",), unpaired_negatives=False).training_step(model, batch)
    out.losses["keyword_pl"].backward()
    grad = model.token_embedding.weight.grad
    keyword_rows = list(KEYWORD_IDS.values())
    assert grad[keyword_rows].abs().sum(-1).gt(0).all()  # re-encoded with gradient every step
    caption_rows = [i for i in range(16) if i not in keyword_rows]
    assert grad[caption_rows].abs().sum() == 0  # captions do not enter the keyword loss
    assert model.logit_scale.grad is not None and model.visual.weight.grad.abs().sum() > 0


# --- numerics and metrics ---------------------------------------------------------------------------------


def test_sclip_under_bfloat16_autocast() -> None:
    model, batch = TinyCLIP(scale=100.0), random_batch()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = make("sclip").training_step(model, batch)
    assert all(torch.isfinite(v) for v in out.losses.values())
    out.total().backward()
    assert torch.isfinite(model.visual.weight.grad).all()


def test_pl_accuracy_only_with_labels() -> None:
    model = TinyCLIP()
    out = make("sclip").training_step(model, random_batch(labels=False))
    assert "pl_accuracy" not in out.metrics and "pl_entropy" in out.metrics
    batch = random_batch()
    out = make("hard-pl").training_step(model, batch)
    nearest = (
        model.encode_image(batch["unpaired_images"], normalize=True)
        @ model.encode_image(batch["paired_images"], normalize=True).T
    ).argmax(-1)
    expected = (batch["paired_labels"][nearest] == batch["unpaired_labels"]).float().mean()
    torch.testing.assert_close(out.metrics["pl_accuracy"], expected)


# --- the paired bank ----------------------------------------------------------------------------------------


def banked(name: str, n_paired: int, **options: Any):
    method = create_method(name, paired_bank=True, **options)
    method.setup(MethodContext(tokenizer=keyword_tokenizer, keywords=list(KEYWORDS), n_paired=n_paired))
    return method


@pytest.mark.parametrize("name", ["sclip", "soft-pl", "hard-pl"])
def test_bank_holding_only_the_batch_gives_the_in_batch_losses(name: str) -> None:
    # Every paired item in the batch, in a shuffled order: the bank's targets range over the same items, so
    # every loss equals the in-batch method's (the column order of the targets must not matter).
    batch = random_batch(n=6, m=5)
    batch["paired_index"] = torch.tensor([3, 0, 5, 1, 4, 2])
    options = {"losses": ("caption", "keyword")}
    plain = make(name, **options)(TinyCLIP(), batch)
    bank = banked(name, 6, **options)(TinyCLIP(), batch)
    for key in plain.losses:
        assert bank.losses[key].item() == pytest.approx(plain.losses[key].item(), abs=1e-5), key
    assert bank.metrics["pl_accuracy"].item() == pytest.approx(plain.metrics["pl_accuracy"].item())


def test_bank_lets_the_target_reach_a_paired_item_of_an_earlier_batch() -> None:
    model = TinyCLIP()
    method = banked("hard-pl", 4)
    e = torch.eye(4)
    first = {
        "paired_images": e[:2],
        "paired_texts": torch.tensor([[4], [5]]),
        "paired_index": torch.tensor([0, 1]),
        "paired_labels": torch.tensor([0, 1]),
        "unpaired_images": e[:1],
        "unpaired_labels": torch.tensor([0]),
    }
    method(model, first)
    # Second batch: paired items 2 and 3 (images e3, e4); the unpaired image is e1, i.e. paired item 0 of the
    # first batch. In-batch, its target would be item 2 or 3; with the bank it is item 0 and its caption.
    second = {
        "paired_images": e[2:],
        "paired_texts": torch.tensor([[6], [7]]),
        "paired_index": torch.tensor([2, 3]),
        "paired_labels": torch.tensor([2, 3]),
        "unpaired_images": e[:1],
        "unpaired_labels": torch.tensor([0]),
    }
    out = method(model, second)
    assert out.metrics["pl_accuracy"].item() == 1.0
    texts = F.normalize(model.token_embedding.weight[4:8].detach(), dim=-1)  # bank columns 0-3, in order
    logits = model.logit_scale.exp() * F.normalize(e[:1], dim=-1) @ texts.T
    expected = 0.5 * F.cross_entropy(logits, torch.tensor([0]))
    assert out.losses["caption_pl"].item() == pytest.approx(expected.item(), abs=1e-6)
    in_batch = make("hard-pl")(model, second)
    assert in_batch.metrics["pl_accuracy"].item() == 0.0


def test_bank_state_survives_a_checkpoint_into_a_fresh_method() -> None:
    method = banked("sclip", 8)
    batch = random_batch(n=6, m=5)
    batch["paired_index"] = torch.tensor([7, 1, 2, 3, 0, 5])
    method(TinyCLIP(), batch)
    fresh = banked("sclip", 8)
    fresh.load_state_dict(method.state_dict())  # strict: the lazily allocated buffers take the saved shapes
    for name in ("images", "texts", "presence", "labels", "filled"):
        assert torch.equal(getattr(fresh.bank, name), getattr(method.bank, name)), name
    assert fresh.bank.filled.tolist() == [True, True, True, True, False, True, False, True]


def test_bank_errors_name_what_is_missing() -> None:
    with pytest.raises(ValueError, match="n_paired"):
        create_method("sclip", paired_bank=True).setup(context())
    method = banked("sclip", 6)
    with pytest.raises(ValueError, match="paired_index"):
        method(TinyCLIP(), random_batch(n=6, m=5))
    batch = random_batch(n=6, m=5)
    batch["paired_index"] = torch.tensor([0, 1, 2, 3, 4, 6])
    with pytest.raises(IndexError, match=r"\[0, 6\)"):
        method(TinyCLIP(), batch)


# --- the defaults are the public S-CLIP code's loss ---------------------------------------------------------
#
# An independent transcription of alinlab/s-clip ``custom/loss.py`` (SemiSupervisedClipLoss.forward with
# method="ours", get_assignments, ot_plan through POT's ``ot.bregman.sinkhorn``, soft_cross_entropy), written
# from that code, run in float64 on the same features. POT's default solver is Sinkhorn-Knopp in the exp domain,
# with a convergence test every 10th iteration (stopThr 1e-9); transcribed here as such.


def _pot_sinkhorn_knopp(a: Tensor, b: Tensor, cost: Tensor, reg: Tensor, n_iter: int = 10) -> Tensor:
    u = torch.ones_like(a) / a.shape[0]
    v = torch.ones_like(b) / b.shape[0]
    kernel = torch.exp(cost / -reg)
    kernel_p = (1 / a).reshape(-1, 1) * kernel
    for ii in range(n_iter):
        u_prev, v_prev = u, v
        kt_u = kernel.T @ u
        v = b / kt_u
        u = 1.0 / (kernel_p @ v)
        if (kt_u == 0).any() or not (torch.isfinite(u).all() and torch.isfinite(v).all()):
            u, v = u_prev, v_prev
            break
        if ii % 10 == 0:
            marginal = torch.einsum("i,ij,j->j", u, kernel, v)
            if torch.linalg.norm(marginal - b) < 1e-9:
                break
    return u.reshape(-1, 1) * kernel * v.reshape(1, -1)


def _official_plan(query: Tensor, image: Tensor, logit_scale: Tensor, kind: str) -> Tensor:
    if kind == "hard-image":
        return F.one_hot((query @ image.T).max(dim=1)[1], len(image)).to(query.dtype)
    if kind == "soft-image":
        return F.softmax(query @ image.T * logit_scale, dim=1)
    cost = 1 - query @ image.T
    p = torch.ones(cost.shape[0], dtype=torch.double) / cost.shape[0]
    q = torch.ones(cost.shape[1], dtype=torch.double) / cost.shape[1]
    plan = _pot_sinkhorn_knopp(p, q, cost, 1 / logit_scale)
    return plan / plan.sum(dim=1, keepdim=True)


def _soft_cross_entropy(outputs: Tensor, targets: Tensor) -> Tensor:
    return (-targets * F.log_softmax(outputs, dim=1)).sum(dim=1).mean()


def _official_loss(
    image: Tensor, text: Tensor, query: Tensor, keyword: Tensor, keyword_labels: Tensor, scale: Tensor, kind: str
) -> tuple[dict[str, Tensor], Tensor]:
    logits_per_image = scale * image @ text.T
    logits_per_query = scale * query @ text.T
    logits_per_text = torch.cat([logits_per_image, logits_per_query]).T
    labels = torch.arange(image.shape[0])
    losses = {"contrastive": (F.cross_entropy(logits_per_image, labels) + F.cross_entropy(logits_per_text, labels)) / 2}
    plan = _official_plan(query, image, scale, kind)
    losses["caption_pl"] = _soft_cross_entropy(logits_per_query, plan @ F.one_hot(labels).to(plan.dtype)) / 2
    pseudo_keyword = torch.zeros(len(query), len(keyword), dtype=query.dtype)
    for query_id, q in enumerate(query):
        sample_id = int(plan[query_id].max(dim=0)[1])
        candidates = keyword_labels[sample_id, :, 0].nonzero().flatten().tolist()
        if len(candidates) == 1:
            pseudo_keyword[query_id, candidates[0]] = 1
        elif len(candidates) > 1:
            k = torch.stack([keyword[i] for i in candidates])
            sim = (q @ k.T * scale).detach()
            prob = sim / sim.sum()
            for i in range(len(sim)):
                pseudo_keyword[query_id, candidates[i]] = prob[i]
    losses["keyword_pl"] = _soft_cross_entropy(scale * query @ keyword.T, pseudo_keyword) / 2
    return losses, plan


class _GivenFeatures(torch.nn.Module):
    """encode_image normalizes its input; encode_text looks token ids up in a table (captions, then keywords)."""

    def __init__(self, table: Tensor, scale: float) -> None:
        super().__init__()
        self.table = torch.nn.Parameter(table.clone())
        self.logit_scale = torch.nn.Parameter(torch.tensor(math.log(scale)))

    def encode_image(self, x: Tensor, normalize: bool = False) -> Tensor:
        return F.normalize(x, dim=-1) if normalize else x

    def encode_text(self, tokens: Tensor, normalize: bool = False) -> Tensor:
        features = self.table[tokens[:, 0]]
        return F.normalize(features, dim=-1) if normalize else features


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("scale", [10.0, 100.0])
@pytest.mark.parametrize(
    ("name", "kind", "options"),
    [
        ("sclip", "ot-image", {}),
        ("hard-pl", "hard-image", {"losses": ("caption", "keyword")}),
        ("soft-pl", "soft-image", {"losses": ("caption", "keyword")}),
    ],
)
def test_defaults_equal_the_public_sclip_code(name: str, kind: str, options: dict, seed: int, scale: float) -> None:
    n, m, n_keywords, dim = 8, 6, 5, 16
    gen = torch.Generator().manual_seed(seed)
    shared = torch.randn(dim, generator=gen)  # a common direction: positive cosines, as between CLIP features
    paired_raw = shared + torch.randn(n, dim, generator=gen)
    unpaired_raw = shared + torch.randn(m, dim, generator=gen)
    table = shared + torch.randn(n + n_keywords, dim, generator=gen)
    presence = torch.rand(n, n_keywords, generator=gen) < 0.35
    presence[0] = False  # a caption without keyword: its unpaired images count as 0 in the keyword mean
    presence[1] = torch.arange(n_keywords) == 2  # a single candidate

    keyword_names = [f"kw{i}" for i in range(n_keywords)]
    method = create_method(name, **options)
    method.setup(
        MethodContext(
            tokenizer=lambda texts: torch.tensor([[n + keyword_names.index(t)] for t in texts]),
            keywords=keyword_names,
        )
    )
    model = _GivenFeatures(table, scale)
    paired_in, unpaired_in = paired_raw.clone().requires_grad_(True), unpaired_raw.clone().requires_grad_(True)
    batch = {
        "paired_images": paired_in,
        "paired_texts": torch.arange(n)[:, None],
        "unpaired_images": unpaired_in,
        "keyword_presence": presence,
    }
    out = method.training_step(model, batch)

    leaves = [t.double().requires_grad_(True) for t in (paired_raw, unpaired_raw, table)]
    log_scale = torch.tensor(math.log(scale), dtype=torch.double, requires_grad=True)
    features = [F.normalize(t, dim=-1) for t in leaves]
    official, plan = _official_loss(
        features[0], features[2][:n], features[1], features[2][n:], presence[:, :, None], log_scale.exp(), kind
    )
    for term in ("contrastive", "caption_pl", "keyword_pl"):
        assert out.losses[term].item() == pytest.approx(official[term].item(), abs=1e-5), term
    ours_plan = method.pseudo_targets(
        F.normalize(unpaired_raw, dim=-1), F.normalize(paired_raw, dim=-1), torch.tensor(scale)
    )
    torch.testing.assert_close(ours_plan.double(), plan, atol=1e-5, rtol=0)

    out.total().backward()
    sum(official.values()).backward()
    for ours_grad, official_grad in [
        (paired_in.grad, leaves[0].grad),
        (unpaired_in.grad, leaves[1].grad),
        (model.table.grad, leaves[2].grad),
        (model.logit_scale.grad, log_scale.grad),
    ]:
        torch.testing.assert_close(ours_grad.double(), official_grad, atol=1e-5, rtol=1e-4)


def test_sclip_bank_is_ours_the_bank_with_softmax_weights_and_skipped_rows() -> None:
    method = create_method("sclip-bank")
    assert isinstance(method, SClip) and method.name == "sclip-bank"
    assert (method.paired_bank, method.keyword_weighting, method.keyword_empty_rows) == (True, "softmax", "skip")
    assert create_method("sclip-bank", paired_bank=False, ot_iters=3).ot_iters == 3
    paper = create_method("sclip")
    assert (paper.paired_bank, paper.keyword_weighting, paper.keyword_empty_rows) == (False, "linear", "count")
    assert paper.unpaired_negatives and create_method("hard-pl").unpaired_negatives
    assert create_method("soft-pl").unpaired_negatives
