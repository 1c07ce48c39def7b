"""The GAN's parts, one concern per module: `networks`, `losses`, `diffaugment`, `data` (the
train shards -> one uint8 tensor), `ema`, `loop` (the training step and its schedule),
`checkpoint` (atomic checkpoints, and `generator.pt` with `load_generator`) and `samples`
(seeded latents, sampling, grids and PNGs, shared by train, generate and evaluate). The stages
that use them are `pipeline.train`, `pipeline.generate` and `pipeline.evaluate`."""


class TrainError(ValueError):
    """The training stage cannot run as configured; the message says what to change."""
