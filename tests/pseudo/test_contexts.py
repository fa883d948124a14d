"""Label co-occurrence affinity, spectral contexts, context targets, JSON round trip, the figure, and the
:class:`LabelContexts` artifact that saves both."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import ssclip.pseudo.contexts as contexts_module
from ssclip.pseudo.contexts import (
    LabelContexts,
    cluster_contexts,
    context_mask,
    context_targets,
    cooccurrence_affinity,
    load_contexts,
    plot_contexts,
    save_contexts,
)


def _block_labels(block_sizes: list[int], n_images: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Images each draw labels from one block only; returns (labels (N, C), true block of each class)."""
    rng = np.random.default_rng(seed)
    blocks = np.repeat(np.arange(len(block_sizes)), block_sizes)
    labels = np.zeros((n_images, len(blocks)), dtype=np.int64)
    for row in labels:
        members = np.flatnonzero(blocks == rng.integers(len(block_sizes)))
        row[rng.choice(members, size=min(2, len(members)), replace=False)] = 1
    return labels, blocks


def _same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    return all((a[i] == a[j]) == (b[i] == b[j]) for i in range(len(a)) for j in range(len(a)))


def test_conditional_affinity_by_hand() -> None:
    labels = np.array([[1, 1, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]])
    # A = [[3, 2, 0], [2, 3, 0], [0, 0, 0]]; P(1|0) = 2/3, P(0|1) = 2/3
    expected = np.array([[0, 2 / 3, 0], [2 / 3, 0, 0], [0, 0, 0]])
    np.testing.assert_allclose(cooccurrence_affinity(labels), expected)
    labels = np.array([[1, 1], [1, 0], [1, 0], [1, 0]])  # P(1|0) = 1/4, P(0|1) = 1
    np.testing.assert_allclose(cooccurrence_affinity(labels), [[0, 0.625], [0.625, 0]])
    np.testing.assert_allclose(cooccurrence_affinity(labels, kind="jaccard"), [[0, 0.25], [0.25, 0]])
    np.testing.assert_allclose(cooccurrence_affinity(torch.tensor(labels)), [[0, 0.625], [0.625, 0]])


def test_affinity_symmetric_nonnegative_zero_diagonal() -> None:
    labels = (np.random.default_rng(0).random((200, 12)) < 0.25).astype(int)
    labels[:, 5] = 0  # a class that never occurs
    for kind in ("conditional", "jaccard"):
        affinity = cooccurrence_affinity(labels, kind=kind)  # type: ignore[arg-type]
        assert affinity.shape == (12, 12)
        np.testing.assert_allclose(affinity, affinity.T)
        assert (affinity >= 0).all() and (affinity <= 1).all() and np.isfinite(affinity).all()
        assert (np.diag(affinity) == 0).all() and (affinity[5] == 0).all()


def test_affinity_rejects_bad_labels() -> None:
    with pytest.raises(ValueError, match="0/1"):
        cooccurrence_affinity(np.array([[0.5, 1.0]]))
    with pytest.raises(ValueError, match="kind"):
        cooccurrence_affinity(np.eye(2), kind="pmi")  # type: ignore[arg-type]


def test_spectral_clustering_recovers_shuffled_blocks() -> None:
    labels, blocks = _block_labels([4, 5, 3, 4], n_images=400, seed=1)
    permutation = np.random.default_rng(2).permutation(labels.shape[1])
    labels, blocks = labels[:, permutation], blocks[permutation]
    # a little cross-block noise, so the graph is connected as in real data
    labels[np.arange(0, 400, 40), np.arange(10) % labels.shape[1]] = 1
    for kind in ("conditional", "jaccard"):
        assignment = cluster_contexts(cooccurrence_affinity(labels, kind=kind), n_contexts=4)  # type: ignore[arg-type]
        assert assignment.dtype == np.int64
        assert _same_partition(assignment, blocks)
        # contexts numbered in order of their first class
        first_seen = [assignment[i] for i in range(len(assignment)) if assignment[i] not in assignment[:i]]
        assert first_seen == list(range(4))
    affinity = cooccurrence_affinity(labels)
    again = cluster_contexts(affinity, 4, seed=3)
    np.testing.assert_array_equal(cluster_contexts(affinity, 4, seed=3), again)


@pytest.mark.filterwarnings("ignore:Graph is not fully connected")
@pytest.mark.filterwarnings("ignore:cluster_contexts.*never co-occur")
def test_isolated_classes_and_k_guard() -> None:
    labels, _ = _block_labels([3, 3], n_images=100, seed=0)
    labels = np.concatenate([np.zeros((100, 1), int), labels, np.zeros((100, 1), int)], axis=1)
    alone = np.zeros((1, 8), int)
    alone[0, 7] = 1
    labels = np.concatenate([labels, alone])  # class 7 occurs, but only alone: isolated too
    affinity = cooccurrence_affinity(labels)
    with pytest.warns(UserWarning, match=r"2 of 8 classes never co-occur .*\[0, 7\]"):
        assignment = cluster_contexts(affinity, n_contexts=2)
    np.testing.assert_array_equal(assignment, [0, 0, 0, 0, 1, 1, 1, 0])
    with pytest.warns(UserWarning, match="n_contexts=10 exceeds the 6 classes"):
        many = cluster_contexts(affinity, n_contexts=10)
    np.testing.assert_array_equal(many, [0, 0, 1, 2, 3, 4, 5, 0])
    with pytest.warns(UserWarning, match="using 1 contexts"):
        none = cluster_contexts(np.zeros((3, 3)), n_contexts=2)
    np.testing.assert_array_equal(none, [0, 0, 0])


def test_cluster_contexts_rejects_bad_affinity() -> None:
    with pytest.raises(ValueError, match="symmetric"):
        cluster_contexts(np.array([[0, 1.0], [0, 0]]), 1)
    with pytest.raises(ValueError, match="non-negative"):
        cluster_contexts(np.array([[0, -1.0], [-1.0, 0]]), 1)
    with pytest.raises(ValueError, match="square"):
        cluster_contexts(np.zeros((2, 3)), 1)


def test_context_targets_by_hand() -> None:
    labels = np.array([[1, 0, 0, 0, 0], [0, 0, 1, 1, 0], [0, 0, 0, 0, 0], [0, 1, 0, 0, 1]], dtype=np.float32)
    assignment = np.array([0, 2, 1, 1, 2])
    expected = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 0], [0, 0, 1]], dtype=np.float32)
    targets = context_targets(labels, assignment, n_contexts=3)
    assert isinstance(targets, np.ndarray) and targets.dtype == np.float32
    np.testing.assert_array_equal(targets, expected)

    tensor_targets = context_targets(torch.from_numpy(labels), assignment, n_contexts=4)  # context 3 empty
    assert isinstance(tensor_targets, torch.Tensor) and tensor_targets.dtype == torch.float32
    np.testing.assert_array_equal(tensor_targets.numpy(), np.concatenate([expected, np.zeros((4, 1))], 1))

    soft = torch.tensor([[0.2, 0.9, 0.1, 0.7, 0.3]])
    torch.testing.assert_close(context_targets(soft, assignment, 3), torch.tensor([[0.2, 0.7, 0.9]]))
    with pytest.raises(ValueError, match=r"\[0, 2\)"):
        context_targets(labels, assignment, n_contexts=2)
    with pytest.raises(ValueError, match="must be \\(C,\\)"):
        context_targets(labels, assignment[:3], n_contexts=3)


def test_context_mask_keeps_the_entries_the_kept_labels_decide() -> None:
    assignment = np.array([0, 0, 1, 1])  # contexts {0, 1} and {2, 3}
    labels = torch.tensor([[1.0, 0.0, 0.0, 0.0], [0.0, 1.0, 0.0, 1.0], [0.0, 0.0, 0.0, 0.0]])
    mask = torch.tensor([[1.0, 0.0, 1.0, 0.0], [0.0, 1.0, 1.0, 1.0], [1.0, 1.0, 0.0, 1.0]])
    expected = torch.tensor(
        [
            [1.0, 0.0],  # a kept positive decides context 0; context 1 has a masked class and no kept positive
            [1.0, 1.0],  # class 1 kept positive; class 3 kept positive (class 2 kept too)
            [1.0, 0.0],  # context 0 all kept (negative); context 1 has masked class 2
        ]
    )
    torch.testing.assert_close(context_mask(labels, mask, assignment, 2), expected)
    torch.testing.assert_close(context_mask(labels, torch.ones_like(labels), assignment, 2), torch.ones(3, 2))
    with pytest.raises(ValueError, match="shape of labels"):
        context_mask(labels, mask[:2], assignment, 2)


def test_contexts_on_ucm_multilabels(ucm_root: Path) -> None:
    lines = (ucm_root / "LandUse_Multilabeled.txt").read_text().splitlines()
    classnames = lines[0].split("\t")[1:]
    labels = np.array([[int(v) for v in line.split("\t")[1:]] for line in lines[1:] if line.strip()])
    affinity = cooccurrence_affinity(labels)
    assignment = cluster_contexts(affinity, n_contexts=4)
    assert sorted(set(assignment.tolist())) == [0, 1, 2, 3]
    assert assignment[classnames.index("sea")] == assignment[classnames.index("sand")]  # beach images


def test_save_load_roundtrip_and_errors(tmp_path: Path) -> None:
    names = ["airplane", "cars", "sea", "sand", "trees"]
    assignment = np.array([0, 0, 1, 1, 2])
    path = tmp_path / "contexts.json"
    save_contexts(path, assignment, names)
    payload = json.loads(path.read_text())
    assert payload["contexts"] == [["airplane", "cars"], ["sea", "sand"], ["trees"]]
    loaded, loaded_names = load_contexts(path)
    np.testing.assert_array_equal(loaded, assignment)
    assert loaded_names == names

    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"classnames": names, "assignment": [0, 1]}))
    with pytest.raises(ValueError, match="bad.json: field 'assignment' has 2 entries, expected 5"):
        load_contexts(bad)
    bad.write_text(json.dumps({"classnames": names}))
    with pytest.raises(ValueError, match="field 'assignment' is missing"):
        load_contexts(bad)
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="bad.json: not valid JSON"):
        load_contexts(bad)


@pytest.mark.filterwarnings("ignore:Graph is not fully connected")
def test_plot_contexts_writes_file(tmp_path: Path) -> None:
    labels, _ = _block_labels([3, 4, 2], n_images=120, seed=5)
    affinity = cooccurrence_affinity(labels)
    assignment = cluster_contexts(affinity, 3)
    names = [f"class {i}" for i in range(labels.shape[1])]
    out = plot_contexts(affinity, assignment, names, tmp_path / "contexts.png")
    assert out.exists() and out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert out.stat().st_size > 5000
    with pytest.raises(ValueError, match="class names"):
        plot_contexts(affinity, assignment, names[:-1], tmp_path / "x.png")


@pytest.mark.filterwarnings("ignore:Graph is not fully connected")
def test_label_contexts_save_the_json_and_the_figure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    labels, _ = _block_labels([3, 3], n_images=60, seed=4)
    affinity = cooccurrence_affinity(labels)
    names = [f"class {i}" for i in range(labels.shape[1])]
    contexts = LabelContexts(cluster_contexts(affinity, 2), affinity, names)
    folder = tmp_path / "run" / "nested"  # created on demand
    written = contexts.save(folder)
    assert written == [folder / "contexts.json", folder / "contexts.png"]
    save_contexts(tmp_path / "reference.json", contexts.assignment, names)  # exactly save_contexts' record
    assert written[0].read_text() == (tmp_path / "reference.json").read_text()
    assert written[1].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    def no_matplotlib(*args, **kwargs):
        raise ImportError("No module named 'matplotlib'")

    monkeypatch.setattr(contexts_module, "plot_contexts", no_matplotlib)
    with pytest.warns(UserWarning, match="contexts.png not written: No module named 'matplotlib'"):
        written = contexts.save(tmp_path / "bare")
    assert written == [tmp_path / "bare" / "contexts.json"] and sorted((tmp_path / "bare").iterdir()) == written
