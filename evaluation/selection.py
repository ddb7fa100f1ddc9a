"""Checkpoint and seed selection by Fréchet distance (APF-GAN's trick, seeds.md §4).

Any trainer can rank candidates — checkpoints, sampling seeds, merged weights — by the Fréchet
distance of their outputs' features to a reference set. Candidates are given lazily so that only
one candidate's outputs are computed at a time:

    ranking = rank_by_fd({f"step{s}": (lambda s=s: features_of(sample_with(s))) for s in steps},
                         reference_features)
    best = ranking[0].label

Selecting on the evaluation set itself biases its score downwards (seeds.md §4 calls the contest
use a leaderboard trick): select on a split that the final report does not score.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Mapping

import numpy as np
from tqdm import tqdm

from evaluation import metrics


@dataclass(frozen=True)
class Ranked:
    label: str
    fd: float


def rank_by_fd(candidates: Mapping[str, np.ndarray | Callable[[], np.ndarray]],
               reference: np.ndarray | tuple[np.ndarray, np.ndarray], progress: bool = False) -> list[Ranked]:
    """Rank candidates by FD to `reference`, lowest first (ties keep the given order).

    candidates: label -> (N, D) features, or a zero-argument function returning them.
    reference: (M, D) features, or their precomputed (mean, covariance).
    """
    if not candidates:
        raise ValueError("rank_by_fd: no candidates")
    ref_stats = reference if isinstance(reference, tuple) else metrics.feature_stats(reference)
    scored = []
    for label, source in tqdm(candidates.items(), desc="FD selection", disable=not progress):
        features = source() if callable(source) else source
        scored.append(Ranked(label, metrics.frechet_distance(*metrics.feature_stats(features), *ref_stats)))
    return sorted(scored, key=lambda r: r.fd)


def select_by_fd(candidates: Mapping[str, np.ndarray | Callable[[], np.ndarray]],
                 reference: np.ndarray | tuple[np.ndarray, np.ndarray], progress: bool = False) -> str:
    """The label of the candidate whose features are closest to the reference in FD."""
    return rank_by_fd(candidates, reference, progress)[0].label
