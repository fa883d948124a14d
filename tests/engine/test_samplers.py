"""Deterministic sample streams."""

from __future__ import annotations

import numpy as np

from ssclip.engine.samplers import EpochSampler, InfiniteSampler


def test_epoch_sampler_is_a_function_of_seed_and_epoch():
    s = EpochSampler(10, 4, seed=3)
    assert len(s) == 3
    a, b = s.batches(0), s.batches(0)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert sorted(np.concatenate(a).tolist()) == list(range(10))
    assert not np.array_equal(np.concatenate(s.batches(1)), np.concatenate(a))
    assert len(EpochSampler(10, 4, 0, drop_last=True).batches(0)) == 2


def test_infinite_sampler_covers_every_item_each_cycle_and_can_jump():
    s = InfiniteSampler(10, 4, seed=1)
    drawn = np.concatenate([s.next() for _ in range(5)])  # 20 draws = two full cycles
    assert sorted(drawn[:10].tolist()) == list(range(10)) and sorted(drawn[10:].tolist()) == list(range(10))
    t = InfiniteSampler(10, 4, seed=1)
    assert np.array_equal(t.batch_at(3), drawn[12:16])


def test_a_step_costs_o_batch_and_draws_the_unmemoized_batches():
    from ssclip.engine import samplers

    n, bs = 50_000, 32
    s = InfiniteSampler(n, bs, seed=3)
    samplers._cached_permutation.cache_clear()
    batches = [s.next() for _ in range(n // bs + 5)]  # more than one pass: two permutations, drawn once each
    assert samplers._cached_permutation.cache_info().misses == 2
    first = np.random.default_rng([3, 1, 0]).permutation(n)  # what the sampler drew before memoization
    np.testing.assert_array_equal(np.concatenate(batches)[:n], first)
    e = EpochSampler(n, bs, seed=3)
    np.testing.assert_array_equal(e.batch(2, 7), np.random.default_rng([3, 0, 2]).permutation(n)[7 * bs : 8 * bs])
    assert e.batches(2)[7].flags.writeable
