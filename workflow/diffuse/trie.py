"""A target set as a prefix trie over its token sequences: the follow-up's soft and hard training targets.

Every target is a token sequence ending with the end-of-turn tokens (`targets.encode_task`), so the set is
prefix-free and each target ends at a leaf. At a prefix, the trie's next-token distribution is the target
mass through each child divided by the mass through the prefix: sampling token by token from it draws
targets exactly with probability p*(y). The soft objective (`soft_trie_kl`) matches the model's next-token
distribution to it at every prefix on a path; the hard one (`hard_ce`) is cross-entropy on sampled paths.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .tasks import find_prefix_pair


class TrieError(ValueError):
    """A target set that cannot be a trie: not prefix-free, empty, or without positive mass."""


@dataclass(frozen=True)
class PathTargets:
    """The trie's next-token distributions along a batch of paths, padded to the longest path.

    child_ids, child_probs: [rows, steps, width] (padding: token 0 with probability 0);
    steps: [rows, steps] True where the path has a token at that step.
    """

    child_ids: torch.Tensor
    child_probs: torch.Tensor
    steps: torch.Tensor


class TargetTrie:
    """Prefix trie over token sequences weighted by a target distribution (renormalised to sum to 1)."""

    def __init__(self, sequences: list[list[int]], weights, where: str = "target set"):
        sequences = [tuple(int(t) for t in s) for s in sequences]
        weights = np.asarray(weights, dtype=float)
        if not sequences:
            raise TrieError(f"{where}: no targets")
        if len(weights) != len(sequences):
            raise TrieError(f"{where}: {len(sequences)} targets but {len(weights)} weights")
        if any(len(s) == 0 for s in sequences):
            raise TrieError(f"{where}: a target has no tokens")
        if (weights < 0).any() or not np.isfinite(weights).all() or weights.sum() <= 0:
            raise TrieError(f"{where}: target weights must be finite, non-negative and not all zero")
        if len(set(sequences)) != len(sequences):
            raise TrieError(f"{where}: two targets have the same tokens")
        if pair := find_prefix_pair(sequences):
            raise TrieError(f"{where}: not prefix-free: target {pair[0]} is a prefix of {pair[1]}")
        self.sequences = sequences
        self.probs = weights / weights.sum()
        # prefix -> {next token: mass through it}; the mass through a prefix is the sum over its children.
        self.children: dict[tuple[int, ...], dict[int, float]] = {}
        for seq, p in zip(sequences, self.probs, strict=True):
            for t in range(len(seq)):
                node = self.children.setdefault(seq[:t], {})
                node[seq[t]] = node.get(seq[t], 0.0) + float(p)

    def __len__(self) -> int:
        return len(self.sequences)

    @property
    def nodes(self) -> int:
        """Inner nodes (prefixes with children): the distributions a full pass over the trie matches."""
        return len(self.children)

    def next_tokens(self, prefix) -> tuple[list[int], list[float]]:
        """The trie's next-token distribution after `prefix` (tokens, probabilities summing to 1)."""
        node = self.children[tuple(prefix)]
        total = sum(node.values())
        return list(node), [m / total for m in node.values()]

    def sample(self, k: int, rng: np.random.Generator) -> list[int]:
        """Indices of k targets drawn independently from the target distribution."""
        return rng.choice(len(self.sequences), size=k, p=self.probs).tolist()

    def path_targets(self, indices: list[int], device=None) -> PathTargets:
        """The next-token distributions at every step of each target path (one row per index)."""
        paths = [self.sequences[i] for i in indices]
        steps = max(len(p) for p in paths)
        per_step = [[self.next_tokens(path[:t]) for t in range(len(path))] for path in paths]
        width = max(len(tokens) for row in per_step for tokens, _ in row)
        ids = torch.zeros(len(paths), steps, width, dtype=torch.long)
        probs = torch.zeros(len(paths), steps, width, dtype=torch.float64)
        mask = torch.zeros(len(paths), steps, dtype=torch.bool)
        for r, row in enumerate(per_step):
            for t, (tokens, p) in enumerate(row):
                ids[r, t, : len(tokens)] = torch.tensor(tokens)
                probs[r, t, : len(p)] = torch.tensor(p, dtype=torch.float64)
                mask[r, t] = True
        return PathTargets(ids.to(device), probs.to(device), mask.to(device))


def trie_kl(logprobs: torch.Tensor, targets: PathTargets) -> torch.Tensor:
    """Per path: the mean over its steps of KL(trie's next-token distribution || model's), [rows].

    logprobs: [rows, steps, vocab] the model's log-softmax over the whole vocabulary after each prefix of
    the paths (step 0: after the prompt), so mass on tokens outside the trie's children counts against it.
    The soft objective's loss is its mean over paths drawn from p*; zero exactly when the model's
    next-token distribution equals the trie's at every prefix of the paths.
    """
    child_logp = logprobs.gather(-1, targets.child_ids)
    q = targets.child_probs.to(logprobs.dtype)
    positive = q > 0
    # q log q - q log p over the children; padding (q = 0) contributes nothing.
    terms = torch.where(positive, q * (torch.log(torch.where(positive, q, 1.0)) - child_logp), 0.0)
    per_step = terms.sum(-1) * targets.steps
    return per_step.sum(-1) / targets.steps.sum(-1)


def path_nll(logprobs: torch.Tensor, labels: torch.Tensor, steps: torch.Tensor) -> torch.Tensor:
    """Per path: -log p(path), summed over its tokens, [rows]. logprobs as in trie_kl; labels [rows, steps]."""
    token_logp = logprobs.gather(-1, labels.unsqueeze(-1)).squeeze(-1)
    return -(token_logp * steps).sum(-1)
