"""S-CLIP-family methods: hand-computed losses, option switches, gradient paths, distributed gather."""

from __future__ import annotations

import math
from typing import Any

import pytest
import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ssclip.methods.base import METHODS, MethodContext, create_method, no_gather
from ssclip.methods.clip_losses import clip_contrastive_loss, similarity_fp32
from ssclip.methods.hard_pl import HardPL
from ssclip.methods.sclip import SClip
from ssclip.methods.soft_pl import SoftPL
from ssclip.methods.supervised import Supervised
from ssclip.pseudo.sinkhorn import row_normalized, sinkhorn_log

# --- a tiny CLIP ------------------------------------------------------------------------------------------

PAD = 0
KEYWORDS = ["road", "tree", "river"]
KEYWORD_IDS = {"road": 1, "tree": 2, "river": 3}  # caption tokens use ids >= 4


class TinyCLIP(nn.Module):
    """open_clip-shaped: a linear image tower on vectors, a mean-of-embeddings text tower on token ids."""

    def __init__(self, in_dim: int = 4, dim: int = 4, vocab: int = 16, scale: float = 1.0) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(0)
        self.visual = nn.Linear(in_dim, dim, bias=False)
        self.token_embedding = nn.Embedding(vocab, dim, padding_idx=PAD)
        with torch.no_grad():  # identity image tower when shapes allow, so hand cases can use raw vectors
            weight = torch.eye(dim, in_dim) if in_dim == dim else torch.randn(dim, in_dim, generator=gen)
            self.visual.weight.copy_(weight)
            self.token_embedding.weight.copy_(torch.randn(vocab, dim, generator=gen))
            self.token_embedding.weight[PAD].zero_()
        self.logit_scale = nn.Parameter(torch.tensor(math.log(scale)))

    def encode_image(self, x: Tensor, normalize: bool = False) -> Tensor:
        features = self.visual(x)
        return F.normalize(features, dim=-1) if normalize else features

    def encode_text(self, tokens: Tensor, normalize: bool = False) -> Tensor:
        mask = (tokens != PAD).float()[..., None]
        features = (self.token_embedding(tokens) * mask).sum(1) / mask.sum(1).clamp(min=1)
        return F.normalize(features, dim=-1) if normalize else features


def keyword_tokenizer(texts: list[str]) -> Tensor:
    """Maps each keyword (optionally in a template) to its token id, one token per text."""
    return torch.tensor([[KEYWORD_IDS[t.split()[-1]]] for t in texts])


def context() -> MethodContext:
    return MethodContext(tokenizer=keyword_tokenizer, keywords=list(KEYWORDS))


def set_text_vectors(model: TinyCLIP, vectors: dict[int, list[float]]) -> None:
    with torch.no_grad():
        for token, vector in vectors.items():
            model.token_embedding.weight[token] = torch.tensor(vector)


def unit(*values: float) -> Tensor:
    return F.normalize(torch.tensor(values, dtype=torch.float32), dim=-1)


def random_batch(n: int = 6, m: int = 5, in_dim: int = 4, seed: int = 0, labels: bool = True) -> dict:
    gen = torch.Generator().manual_seed(seed)
    batch: dict[str, Any] = {
        "paired_images": torch.randn(n, in_dim, generator=gen),
        "paired_texts": torch.randint(4, 16, (n, 3), generator=gen),
        "unpaired_images": torch.randn(m, in_dim, generator=gen),
        "keyword_presence": torch.rand(n, len(KEYWORDS), generator=gen) < 0.5,
    }
    if labels:
        batch["paired_labels"] = torch.randint(0, 3, (n,), generator=gen)
        batch["unpaired_labels"] = torch.randint(0, 3, (m,), generator=gen)
    return batch


def make(name: str, **options: Any):
    method = create_method(name, **options)
    method.setup(context())
    return method


# --- pure losses ------------------------------------------------------------------------------------------


def test_contrastive_loss_two_pairs_by_hand() -> None:
    e1, e2 = torch.eye(2)
    images, texts = torch.stack([e1, e2]), torch.stack([e1, e2])
    # Logits [[1, 0], [0, 1]] both ways: every row's CE is -log(e / (e + 1)) = log(1 + 1/e).
    expected = math.log(1 + math.exp(-1))
    assert clip_contrastive_loss(images, texts, 1.0).item() == pytest.approx(expected, abs=1e-6)
    # Scale 3: logits [[3, 0], [0, 3]].
    assert clip_contrastive_loss(images, texts, torch.tensor(3.0)).item() == pytest.approx(
        math.log(1 + math.exp(-3)), abs=1e-6
    )
    # Both captions e1: image->text logits [[1, 1], [0, 0]] (log 2 per row), text->image [[1, 0], [1, 0]].
    swapped = torch.stack([e1, e1])
    i2t = math.log(2)
    t2i = 0.5 * (math.log(1 + math.exp(-1)) + math.log(1 + math.exp(1)))
    assert clip_contrastive_loss(images, swapped, 1.0).item() == pytest.approx(0.5 * (i2t + t2i), abs=1e-6)


def test_contrastive_loss_extra_negatives_only_in_text_to_image() -> None:
    e1, e2 = torch.eye(2)
    images, texts = torch.stack([e1, e2]), torch.stack([e1, e2])
    negatives = e1[None]  # an unpaired image identical to image 1
    i2t = math.log(1 + math.exp(-1))  # unchanged
    # text 1 vs images [e1, e2, e1] -> logits [1, 0, 1]; text 2 -> [0, 1, 0]
    t2i = 0.5 * (-math.log(math.e / (2 * math.e + 1)) + -math.log(math.e / (math.e + 2)))
    got = clip_contrastive_loss(images, texts, 1.0, extra_image_negatives=negatives)
    assert got.item() == pytest.approx(0.5 * (i2t + t2i), abs=1e-6)
    with pytest.raises(ValueError, match="extra_image_negatives"):
        clip_contrastive_loss(images, texts, 1.0, extra_image_negatives=torch.zeros(1, 3))
    with pytest.raises(ValueError, match="image_features and text_features"):
        clip_contrastive_loss(images, texts[:1], 1.0)


def test_cross_entropy_with_probability_targets_is_the_soft_cross_entropy() -> None:
    """The caption loss is ``F.cross_entropy(logits, target_probs)``: the mean over rows of
    ``-sum_k target[k] log_softmax(logits)[k]``, targets used as given, gradient flowing into them."""
    logits = torch.tensor([[0.0, math.log(3.0)], [0.0, 0.0]])
    targets = torch.tensor([[0.5, 0.5], [1.0, 0.0]])
    # row 1: probs [1/4, 3/4]; row 2: probs [1/2, 1/2]
    expected = 0.5 * (-0.5 * (math.log(0.25) + math.log(0.75)) + math.log(2))
    assert F.cross_entropy(logits, targets).item() == pytest.approx(expected, abs=1e-6)
    one_hot = F.one_hot(torch.tensor([1, 0]), 2).float()
    torch.testing.assert_close(F.cross_entropy(logits, one_hot), F.cross_entropy(logits, torch.tensor([1, 0])))
    # not renormalized, and differentiable in the targets (the S-CLIP plan's gradient goes through them)
    raw = torch.tensor([[0.2, 0.4], [0.3, 0.0]], requires_grad=True)
    by_hand = -(raw * logits.log_softmax(-1)).sum(-1).mean()
    torch.testing.assert_close(F.cross_entropy(logits, raw), by_hand)
    (grad,) = torch.autograd.grad(F.cross_entropy(logits, raw), raw)
    torch.testing.assert_close(grad, -logits.log_softmax(-1) / 2)


def test_similarity_fp32_ignores_autocast() -> None:
    a = F.normalize(torch.randn(3, 8), dim=-1)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        sim = similarity_fp32(a, a)
    assert sim.dtype == torch.float32
    torch.testing.assert_close(sim, a @ a.T)


# --- registry and options ---------------------------------------------------------------------------------


def test_registered_names_and_options() -> None:
    for name, cls in [("supervised", Supervised), ("hard-pl", HardPL), ("soft-pl", SoftPL), ("sclip", SClip)]:
        assert METHODS.get(name) is cls
        assert create_method(name).name == name
    assert not Supervised().uses_unpaired
    assert SClip().uses_unpaired and SClip().uses_keywords
    assert SClip().unpaired_negatives and not HardPL().unpaired_negatives and not SoftPL().unpaired_negatives
    assert HardPL().losses == ("caption",) and SoftPL().losses == ("caption",)
    assert not SClip(losses=("caption",)).uses_keywords
    assert SClip(losses="keyword").losses == ("keyword",)
    with pytest.raises(TypeError, match="'sclip'") as info:
        create_method("sclip", not_an_option=1, ot_itres=5)
    # every unknown option named, a near miss with its intended name, and where the options are listed
    assert "'not_an_option', 'ot_itres' (did you mean 'ot_iters'?)" in str(info.value)
    assert "`ssclip methods sclip` lists" in str(info.value)
    bad_options: list[dict[str, Any]] = [
        {"losses": ("caption", "captions")},
        {"losses": ("caption", "caption")},
        {"ot_reg": "1/t"},
        {"ot_reg": 0.0},
        {"ot_iters": 0},
        {"keyword_weighting": "max"},
        {"keyword_empty_rows": "drop"},
        {"keyword_template": "a photo"},
        {"pl_weight": -1.0},
    ]
    for options in bad_options:
        with pytest.raises(ValueError, match="sclip"):
            SClip(**options)


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


@pytest.mark.parametrize(
    ("name", "options", "expected"),
    [
        ("supervised", {}, {"contrastive"}),
        ("hard-pl", {}, {"contrastive", "caption_pl"}),
        ("hard-pl", {"losses": ("caption", "keyword")}, {"contrastive", "caption_pl", "keyword_pl"}),
        ("soft-pl", {}, {"contrastive", "caption_pl"}),
        ("sclip", {}, {"contrastive", "caption_pl", "keyword_pl"}),
        ("sclip", {"losses": ("caption",)}, {"contrastive", "caption_pl"}),
        ("sclip", {"losses": ("keyword",)}, {"contrastive", "keyword_pl"}),
        ("sclip", {"losses": ()}, {"contrastive"}),
    ],
)
def test_loss_switches(name: str, options: dict[str, Any], expected: set[str]) -> None:
    out = make(name, **options).training_step(TinyCLIP(), random_batch())
    assert set(out.losses) == expected
    assert all(torch.isfinite(v) for v in out.losses.values())
    assert out.total().item() == pytest.approx(sum(v.item() for v in out.losses.values()), rel=1e-6)


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


# --- each method on a hand case ---------------------------------------------------------------------------


def _hand_setup(scale: float) -> tuple[TinyCLIP, dict[str, Any], Tensor, Tensor]:
    """Paired images e1, e2 with captions t1, t2; unpaired u1 = e1, u2 = 0.8 e1 + 0.6 e2: both nearest to
    image 1, but only u1 is nearer to image 1 than u2 is (so OT pairs u1 -> 1, u2 -> 2)."""
    model = TinyCLIP(scale=scale)
    t1, t2 = unit(0.6, 0.8, 0, 0), unit(0, 0.6, 0.8, 0)
    set_text_vectors(model, {4: t1.tolist(), 5: t2.tolist()})
    set_text_vectors(model, {1: [1, 0, 0, 0], 2: [0, 1, 0, 0], 3: [0, 0, 1, 0]})  # keywords = e1, e2, e3
    batch = {
        "paired_images": torch.eye(4)[:2],
        "paired_texts": torch.tensor([[4], [5]]),
        "unpaired_images": torch.stack([unit(1, 0, 0, 0), unit(0.8, 0.6, 0, 0)]),
        "keyword_presence": torch.tensor([[True, False, True], [False, True, False]]),
        "paired_labels": torch.tensor([0, 1]),
        "unpaired_labels": torch.tensor([0, 1]),
    }
    return model, batch, torch.stack([t1, t2]), batch["unpaired_images"]


def test_supervised_equals_contrastive_and_ignores_unpaired() -> None:
    model, batch, texts, _ = _hand_setup(scale=2.0)
    batch["unpaired_images"] = batch["unpaired_images"].clone().requires_grad_(True)
    out = make("supervised").training_step(model, batch)
    expected = clip_contrastive_loss(torch.eye(4)[:2], texts, 2.0)
    torch.testing.assert_close(out.losses["contrastive"], expected)
    out.total().backward()
    assert batch["unpaired_images"].grad is None
    assert model.logit_scale.grad is not None and model.visual.weight.grad is not None


def test_hard_pl_targets_the_nearest_paired_caption() -> None:
    model, batch, texts, unpaired = _hand_setup(scale=10.0)
    out = make("hard-pl").training_step(model, batch)
    # both unpaired images are nearest to paired image 1, so both target caption 1
    expected = 0.5 * F.cross_entropy(10.0 * unpaired @ texts.T, torch.tensor([0, 0]))
    torch.testing.assert_close(out.losses["caption_pl"], expected)
    assert out.metrics["pl_accuracy"].item() == pytest.approx(0.5)
    assert out.metrics["pl_entropy"].item() == pytest.approx(0.0, abs=1e-6)
    doubled = make("hard-pl", pl_weight=2.0).training_step(model, batch)
    torch.testing.assert_close(doubled.losses["caption_pl"], 2 * expected)


def test_soft_pl_targets_the_image_similarity_softmax() -> None:
    model, batch, texts, unpaired = _hand_setup(scale=10.0)
    out = make("soft-pl").training_step(model, batch)
    targets = (10.0 * unpaired @ torch.eye(4)[:2].T).softmax(-1)  # rows softmax(10 * [1, 0]), (10 * [.8, .6])
    expected = 0.5 * -(targets * (10.0 * unpaired @ texts.T).log_softmax(-1)).sum(-1).mean()
    torch.testing.assert_close(out.losses["caption_pl"], expected)


def test_sclip_ot_balances_where_nearest_neighbour_does_not() -> None:
    model, batch, texts, unpaired = _hand_setup(scale=100.0)  # reg = 1/s = 0.01
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
    model, batch, _, unpaired = _hand_setup(scale=100.0)
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
    model, batch, _, unpaired = _hand_setup(scale=100.0)
    batch["keyword_presence"][1] = False  # u2's neighbour caption has no keyword
    row1 = 0.5 * -(100.0 * unpaired[0] @ torch.eye(4)[:3].T).log_softmax(-1)[[0, 2]].sum()
    skip = make("sclip", keyword_weighting="uniform").training_step(model, batch)
    count = make("sclip", keyword_weighting="uniform", keyword_empty_rows="count").training_step(model, batch)
    torch.testing.assert_close(skip.losses["keyword_pl"], 0.5 * row1, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(count.losses["keyword_pl"], 0.5 * row1 / 2, atol=1e-4, rtol=1e-4)
    assert skip.metrics["keyword_coverage"].item() == 0.5


def test_unpaired_negatives_option() -> None:
    model, batch = TinyCLIP(scale=3.0), random_batch()
    batch["unpaired_images"].requires_grad_(True)
    paired = model.encode_image(batch["paired_images"], normalize=True)
    texts = model.encode_text(batch["paired_texts"], normalize=True)
    unpaired = model.encode_image(batch["unpaired_images"], normalize=True)
    for name, options, with_negatives in [
        ("sclip", {}, True),
        ("sclip", {"unpaired_negatives": False}, False),
        ("hard-pl", {}, False),
        ("hard-pl", {"unpaired_negatives": True}, True),
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


# --- distributed: gather --------------------------------------------------------------------------------


class TwoRankGather:
    """Simulates rank 0 of two: the i-th gather call returns ``cat([local, remote_i.detach()])`` where
    remote_i is what rank 1 passed to its i-th gather call (recorded by running the method on its half)."""

    def __init__(self) -> None:
        self.recorded: list[Tensor] = []
        self.calls = 0

    def record(self, x: Tensor) -> Tensor:
        self.recorded.append(x.detach())
        return x

    def __call__(self, x: Tensor) -> Tensor:
        remote = self.recorded[self.calls]
        self.calls += 1
        return torch.cat([x, remote.to(x.dtype)])


def _halves(batch: dict[str, Any], n: int, m: int) -> tuple[dict[str, Any], dict[str, Any]]:
    def split(key: str, value: Tensor, first: bool) -> Tensor:
        size = m if key.startswith("unpaired") else n
        return value[:size] if first else value[size:]

    first = {k: split(k, v, True) for k, v in batch.items()}
    return first, {k: split(k, v, False) for k, v in batch.items()}


@pytest.mark.parametrize("name", ["supervised", "hard-pl", "soft-pl", "sclip"])
def test_gather_over_two_simulated_ranks_equals_the_global_batch(name: str) -> None:
    n, m = 4, 3
    model, full = TinyCLIP(scale=4.0), random_batch(n=2 * n, m=2 * m, seed=3)
    options = {} if name == "supervised" else {"losses": ("caption", "keyword"), "unpaired_negatives": True}
    method = make(name, **options)
    local, remote = _halves(full, n, m)

    gather = TwoRankGather()
    method.training_step(model, remote, gather.record)  # what rank 1 contributes
    local["paired_images"].requires_grad_(True)
    distributed = method.training_step(model, local, gather)

    full["paired_images"].requires_grad_(True)
    reference = method.training_step(model, full, no_gather)
    assert set(distributed.losses) == set(reference.losses)
    for key in reference.losses:
        torch.testing.assert_close(distributed.losses[key], reference.losses[key], atol=1e-5, rtol=1e-5)
    for key in reference.metrics:
        torch.testing.assert_close(distributed.metrics[key], reference.metrics[key], atol=1e-5, rtol=1e-5)
    # Rank 0's inputs get exactly their share of the global loss's gradient.
    distributed.total().backward()
    reference.total().backward()
    expected_grad = full["paired_images"].grad[:n]
    torch.testing.assert_close(local["paired_images"].grad, expected_grad, atol=1e-5, rtol=1e-4)


# --- numerics and training --------------------------------------------------------------------------------


def test_no_host_sync_in_training_step(monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("host sync in training_step")

    model, batch = TinyCLIP(scale=5.0), random_batch()
    methods = [make(name) for name in ("supervised", "hard-pl", "soft-pl", "sclip")]
    for attribute in ("item", "tolist", "__bool__", "__float__", "__int__"):
        monkeypatch.setattr(torch.Tensor, attribute, forbidden)
    outputs = [method.training_step(model, batch) for method in methods]
    monkeypatch.undo()
    assert all(isinstance(v, Tensor) for out in outputs for v in out.metrics.values())


def test_sclip_under_bfloat16_autocast() -> None:
    model, batch = TinyCLIP(scale=100.0), random_batch()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = make("sclip").training_step(model, batch)
    assert all(torch.isfinite(v) for v in out.losses.values())
    out.total().backward()
    assert torch.isfinite(model.visual.weight.grad).all()


@pytest.mark.parametrize("name", ["supervised", "hard-pl", "soft-pl", "sclip"])
def test_a_few_optimizer_steps_lower_the_loss(name: str) -> None:
    torch.manual_seed(0)
    model, batch = TinyCLIP(in_dim=6, dim=8, scale=10.0), random_batch(n=8, m=8, in_dim=6, seed=4)
    method = make(name)
    optimizer = torch.optim.Adam(model.parameters(), lr=0.05)

    def step() -> float:
        out = method.training_step(model, batch)
        optimizer.zero_grad()
        out.total().backward()
        optimizer.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0, math.log(100))  # what the engine does after each step
        return out.total().item()

    losses = [step() for _ in range(30)]
    assert losses[-1] < 0.7 * losses[0], losses


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


def test_bank_leaves_unseen_items_out_and_gradients_reach_only_the_live_rows() -> None:
    from ssclip.pseudo.bank import PairedBank

    bank = PairedBank(5)
    stored = F.normalize(torch.randn(2, 3), dim=-1)
    bank.update(torch.tensor([0, 4]), stored, stored, None, None)
    live = F.normalize(torch.randn(2, 3), dim=-1).requires_grad_()
    view = bank.view(torch.tensor([2, 4]), live, live, None, None)
    assert view.columns.tolist() == [0, 2, 4]  # item 1 and 3 never seen
    assert torch.equal(view.images[0], stored[0])
    assert torch.equal(view.images[2], live[1].detach())  # the live row replaces the stored one
    view.images.sum().backward()
    assert torch.equal(live.grad, torch.ones(2, 3))
    assert bank.images.grad is None and not bank.images.requires_grad


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
