"""Tests of astra.cluster.shares: one split of the work for both method styles (batches, spectrum_pk
ranges), and which share a process takes."""

import random

import pytest

from astra.cluster import shares as cluster_shares
from astra.cluster.shares import (
    SpectrumShare,
    process_index,
    range_for_process,
    shares_of_job,
    split_spectrum_pks,
)


def _check_split(keys, n_shares):
    shares = split_spectrum_pks(keys, n_shares)
    assert len(shares) == n_shares
    assert [s.index for s in shares] == list(range(n_shares))
    unique = sorted(set(keys))
    # every key lies in exactly one share's range, and each share's count is its keys
    for key in unique:
        assert sum(s.contains(key) for s in shares) == 1, key
    for share in shares:
        assert share.count == sum(share.contains(k) for k in unique)
    # ranges are disjoint and in order
    ranges = [(s.lo, s.hi) for s in shares if not s.empty]
    for (lo1, hi1), (lo2, hi2) in zip(ranges, ranges[1:]):
        assert lo1 <= hi1 < lo2 <= hi2
    assert sum(s.count for s in shares) == len(unique)
    counts = [s.count for s in shares]
    assert max(counts) - min(counts) <= 1  # balanced by count
    return shares


@pytest.mark.parametrize("n_keys,n_shares", [(1, 1), (10, 1), (10, 3), (12, 4), (7, 7), (1000, 9)])
def test_shares_are_disjoint_cover_every_key_and_balance_by_count(n_keys, n_shares):
    _check_split(list(range(1, n_keys + 1)), n_shares)


def test_balanced_by_count_not_by_span():
    keys = [1, 2, 3, 4, 5, 6, 1000, 5000, 10**9]  # dense at the start, sparse at the end
    shares = _check_split(keys, 3)
    assert [(s.lo, s.hi, s.count) for s in shares] == [(1, 3, 3), (4, 6, 3), (1000, 10**9, 3)]


def test_unsorted_keys_with_repeats():
    rng = random.Random(3)
    keys = [rng.randrange(1, 10**6) for _ in range(500)]
    keys += keys[:50]
    rng.shuffle(keys)
    _check_split(keys, 7)


def test_more_shares_than_spectra_leaves_the_last_ones_empty():
    shares = _check_split([5, 9, 11], 5)
    assert [(s.lo, s.hi, s.count) for s in shares] == [
        (5, 5, 1), (9, 9, 1), (11, 11, 1), (None, None, 0), (None, None, 0)]
    assert shares[3].empty and not shares[3].contains(5)


def test_no_spectra_gives_only_empty_shares():
    shares = split_spectrum_pks([], 3)
    assert shares == [SpectrumShare(i, None, None, 0) for i in range(3)]


def test_zero_shares_is_an_error():
    with pytest.raises(ValueError, match="at least 1"):
        split_spectrum_pks([1, 2], 0)


def test_shares_of_job_skips_empty_shares():
    shares = split_spectrum_pks(range(1, 6), 8)  # 5 spectra, 2 jobs of 4 processes
    assert [s.lo for s in shares_of_job(shares, 0, 4)] == [1, 2, 3, 4]
    assert [s.lo for s in shares_of_job(shares, 1, 4)] == [5]
    assert shares_of_job(shares, 2, 4) == []


def test_process_index_and_range_for_process():
    ranges = [(1, 3), (4, 6)]
    assert process_index({}) == 0
    assert range_for_process(ranges, {}) == (1, 3)
    assert range_for_process(ranges, {"SLURM_PROCID": "1"}) == (4, 6)
    assert range_for_process(ranges, {"SLURM_PROCID": "2"}) is None          # nothing to do
    assert range_for_process(ranges, {"SLURM_PROCID": "0", "ASTRA_SHARE_INDEX": "1"}) == (4, 6)
    for bad in ("x", "-1"):
        with pytest.raises(ValueError, match="SLURM_PROCID"):
            process_index({"SLURM_PROCID": bad})


# --- batches (class style) ---------------------------------------------------------------------------

@pytest.mark.parametrize("n_batches,n_jobs", [(0, 1), (1, 3), (10, 3), (12, 4), (7, 7), (100, 9)])
def test_partition_batches_disjoint_complete_balanced(n_batches, n_jobs):
    batches = [("batch", i) for i in range(n_batches)]
    shares = cluster_shares.partition_batches(batches, n_jobs)
    assert len(shares) == n_jobs
    assert [b for share in shares for b in share] == batches      # disjoint, complete, ordered
    sizes = [len(share) for share in shares]
    assert max(sizes) - min(sizes) <= 1
    assert cluster_shares.partition_batches(iter(batches), n_jobs) == shares  # deterministic


def test_partition_batches_rejects_zero_jobs():
    with pytest.raises(ValueError, match="n_jobs"):
        cluster_shares.partition_batches([1, 2], 0)


def test_worker_share_from_environment():
    assert cluster_shares.worker_share({}) == (0, 1)
    env = {"ASTRA_SHARE_COUNT": "6", "ASTRA_SHARE_OFFSET": "2", "SLURM_PROCID": "1"}
    assert cluster_shares.worker_share(env) == (3, 6)
    assert cluster_shares.worker_share(dict(env, ASTRA_SHARE_INDEX="5")) == (5, 6)
    assert cluster_shares.select_share(list(range(12)), env) == [6, 7]
    with pytest.raises(ValueError, match="outside"):
        cluster_shares.worker_share({"ASTRA_SHARE_COUNT": "2", "ASTRA_SHARE_INDEX": "2"})
    # every process of a 3-way split together covers everything exactly once
    shares = [cluster_shares.select_share(list(range(10)), {"ASTRA_SHARE_COUNT": "3", "SLURM_PROCID": str(i)})
              for i in range(3)]
    assert sorted(sum(shares, [])) == list(range(10))


def test_the_old_import_path_of_the_batch_split_still_works():
    from astra.cluster import partition, select_share

    assert partition.select_share is select_share is cluster_shares.select_share
    assert partition.partition_batches is cluster_shares.partition_batches
