"""The GAN training stage's parts, one concern per module: `networks`, `losses`, `diffaugment`,
`data` (shards -> one uint8 tensor), `ema`, `loop` (the training step and its schedule) and
`checkpoint` (atomic checkpoints, and `generator.pt` with `load_generator`). The stage itself is
`pipeline.train.run_train`."""


class TrainError(ValueError):
    """The training stage cannot run as configured; the message says what to change."""
