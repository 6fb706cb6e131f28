"""Length buckets for variable-length captions: every batch holds captions of one bucket,
padded to the bucket's length, so a compiled training step sees at most len(BOUNDARIES)
caption shapes (a bucket pads to its longest caption, at most its boundary) (JAX and XLA compile one program per shape) and pads a caption by at most a
few tokens.

The authors' code drew homogeneous-length batches (COCO training captions of 7 to 29 words);
on a small training set most lengths hold fewer captions than a batch, so lengths are
grouped: a caption of n tokens goes to the shortest boundary >= n, and a bucket with fewer
examples than a batch is merged into the next longer one (the longest into the one before).
Captions longer than the last boundary are left out of training.

Batch k of a stream depends only on (seed, k): each epoch shuffles every bucket and then the
order of the batches with numpy's Generator seeded [seed, epoch], and the last
len(bucket) % batch_size examples of a bucket's permutation sit that epoch out.
"""

from __future__ import annotations

import numpy as np

BOUNDARIES = (8, 10, 12, 14, 16, 18, 20, 24, 28, 32, 48, 64)


def assign(lengths, batch_size, boundaries=BOUNDARIES):
    """{padded length: int64 indices of the examples} after merging small buckets; the
    padded length is the longest caption of the bucket.

    Raises:
      ValueError: fewer usable examples than one batch.
    """
    lengths = np.asarray(lengths, np.int64)
    slot = np.searchsorted(np.asarray(boundaries), lengths)  # len(boundaries): too long
    groups = [[int(b), np.flatnonzero((slot == k) & (lengths > 0))]
              for k, b in enumerate(boundaries)]
    groups = [g for g in groups if len(g[1])]
    merged = []
    for length, index in groups:
        if merged and len(merged[-1][1]) < batch_size:  # the previous one is too small
            merged[-1] = [length, np.concatenate([merged[-1][1], index])]
        else:
            merged.append([length, index])
    if len(merged) > 1 and len(merged[-1][1]) < batch_size:
        (_, a), (length, b) = merged[-2], merged.pop()
        merged[-1] = [length, np.concatenate([a, b])]
    if not merged or len(merged[-1][1]) < batch_size:
        usable = sum(len(g[1]) for g in merged)
        raise ValueError(f"batch size {batch_size} exceeds the {usable} captions of at most "
                         f"{boundaries[-1]} tokens")
    # pad to the longest caption a bucket holds, which a merged or sparse bucket may keep
    # below its boundary
    return {int(lengths[index].max()): np.sort(index) for _, index in merged}


class BucketSchedule:
    """Which examples make batch k, and the length they are padded to.

    Args:
      lengths: tokens per example (0: never used).
      batch_size: examples per batch.
      boundaries: the bucket lengths, increasing.
    """

    def __init__(self, lengths, batch_size, boundaries=BOUNDARIES):
        self.batch_size = batch_size
        self.buckets = assign(lengths, batch_size, boundaries)
        self.batches_per_epoch = sum(len(i) // batch_size for i in self.buckets.values())

    @property
    def shapes(self):
        """The padded lengths a stream can yield."""
        return sorted(self.buckets)

    def epoch(self, seed, epoch):
        """[(padded length, int64 indices (batch_size,))] of one epoch, in order."""
        rng = np.random.default_rng([seed, epoch])
        batches = []
        for length in self.shapes:
            order = rng.permutation(self.buckets[length])
            for k in range(len(order) // self.batch_size):
                batches.append((length, order[k * self.batch_size:(k + 1) * self.batch_size]))
        return [batches[i] for i in rng.permutation(len(batches))]

    def stream(self, seed, start_step=0):
        """Yields (padded length, indices) for steps start_step, start_step + 1, ..."""
        step, current, batches = start_step, None, None
        while True:
            e, i = divmod(step, self.batches_per_epoch)
            if e != current:
                current, batches = e, self.epoch(seed, e)
            yield batches[i]
            step += 1
