"""The train stage: shards -> a generator, its training curves, samples and a resumable state.

`run_train` reads the train split (`pipeline.gan.data`), trains (`pipeline.gan.loop`) for
`train.steps` steps and writes, to the paths it is given:

- `generator_path` (models/generator.pt): the generator (the EMA weights when `ema_decay` > 0)
  with what is needed to rebuild it; `pipeline.gan.checkpoint.load_generator` reads it.
- `checkpoint_path` (models/checkpoint.pt): every `checkpoint_every` steps and at the end,
  atomically: G, D, both optimisers, the EMA, every rank's RNG state, the step, the fingerprint
  of the settings, the data and the training code. `resume=True` continues from it when the
  fingerprint matches (only `steps`, `log_every`, `checkpoint_every` and `device` may differ:
  raising `steps` and resuming continues a finished run); otherwise the run starts afresh and
  says why.
- `plots_dir` (a dvclive folder): the series `g_loss`, `d_loss`, `real_score`, `fake_score`
  (means over every `log_every` steps) and `epoch/g_loss`, ... (means over each epoch), both
  against the step, in `plots/metrics/*.tsv` that `dvc plots show` draws; images in
  `plots/images/`: `samples.png` (the latest grid, from a fixed latent batch, refreshed at the
  end of an epoch at most every `log_every` steps), `samples/<step>.png` (a few of them kept:
  the 1st, 2nd, 4th, 8th... and the last) and `loss_curves.png`.
- `metrics_path` (metrics/train.json) and `details_path` (its details): the headline losses
  for DVC, and every number of the run (the last logged means, throughput, the run's facts)
  with the conventions behind them (`pipeline.formats.metrics`).

Scores: real_score / fake_score are the mean probability D gives real / generated images
(sigmoid of its logit; for the hinge loss that logit is not a calibrated probability, but above
0.5 still means "real"). Both near 0.5 is the equilibrium; real_score near 1 with fake_score near
0 means D is winning.

Under `torchrun` (WORLD_SIZE > 1) the same call trains with DistributedDataParallel
(`pipeline.devices.join_processes`); rank 0 alone logs and writes files; all ranks read the
shards and the checkpoint, so they must be on a shared file system.

The run is set up once (`_setup`: data, the model's spec, the trainer with its loss and
DiffAugment policy, the resumed state), then trained (`_loop`), then measured (`_metrics`) and
written (`_write`, with the record `_record` makes).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from PIL import Image

from pipeline.config import TrainParams, as_dict
from pipeline.devices import DeviceError, Rank, join_processes, resolve_device
from pipeline.formats.metrics import Record, write_record
from pipeline.formats.shards import RESIZE
from pipeline.gan import TrainError
from pipeline.gan.checkpoint import load_checkpoint, save_checkpoint, save_generator
from pipeline.gan.data import TrainSet, load_train_set
from pipeline.gan.loop import STATS, Trainer
from pipeline.gan.networks import CONDITIONAL, ModelSpec, count_parameters
from pipeline.gan.samples import grid_image
from pipeline.io import atomic_path, remove_leftovers

GRID = 64  # images in a sample grid (8 x 8)
# Settings that may change between a checkpoint and its resumption.
RESUMABLE_CHANGES = frozenset({"steps", "log_every", "checkpoint_every", "device"})

__all__ = ["TrainError", "run_train"]


@dataclass(frozen=True)
class _Outputs:
    generator: Path
    checkpoint: Path
    metrics: Path
    details: Path
    plots: Path


@dataclass
class _Run:
    """One training run, as `_setup` prepared it."""

    params: TrainParams
    out: _Outputs
    rank: Rank
    device: torch.device
    say: Callable[[str], None]
    data: TrainSet
    trainer: Trainer
    fingerprint: dict[str, Any]
    resumed_from: int | None
    logger: _Logger
    fixed_z: torch.Tensor  # the latent batch every sample grid is drawn from
    fixed_c: torch.Tensor | None
    started: float


def run_train(shards_dir: Path, generator_path: Path, checkpoint_path: Path, metrics_path: Path,
              details_path: Path, plots_dir: Path, params: TrainParams, resume: bool = False,
              log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Train as the module docstring says; returns the values written to `details_path`.

    TrainError (a ValueError) with an actionable message for bad settings or inputs. `log`
    receives progress lines (rank 0 only; default: stderr).
    """
    try:
        device = resolve_device(params.device, "train.device")
    except DeviceError as exc:
        raise TrainError(str(exc)) from None
    rank, device, owns_group = join_processes(device)
    say = (log or _stderr) if rank.main else (lambda _: None)
    out = _Outputs(Path(generator_path), Path(checkpoint_path), Path(metrics_path),
                   Path(details_path), Path(plots_dir))
    try:
        run = _setup(Path(shards_dir), out, params, resume, rank, device, say)
        seconds = _loop(run)
        record = _record(run, seconds)
        if rank.main:
            _write(run, record)
        return record.values
    finally:
        if owns_group:
            dist.destroy_process_group()


def _setup(shards_dir: Path, out: _Outputs, params: TrainParams, resume: bool, rank: Rank,
           device: torch.device, say: Callable[[str], None]) -> _Run:
    """The data, the model's spec (built once), the trainer (which parses the loss and the
    DiffAugment policy), the state to resume from and the logger."""
    started = time.perf_counter()
    data = load_train_set(shards_dir, params.resolution)
    conditional = params.model in CONDITIONAL
    spec = ModelSpec(params.model, params.resolution, params.latent_dim, params.g_width,
                     params.d_width, data.conditions.shape[1] if conditional else 0,
                     params.spectral_norm)
    try:
        trainer = Trainer(spec, params, data, device, rank)
    except ValueError as exc:
        raise TrainError(str(exc)) from None
    fingerprint = _fingerprint(params, data)
    if rank.main:  # a run killed while writing left half-written files
        for path in (out.checkpoint, out.generator):
            remove_leftovers(path)
    state = _resumable(out.checkpoint, fingerprint, params, device, say) if resume else None
    history: dict[str, Any] = {"window": [0, [0.0] * len(STATS)], "epoch": [0, [0.0] * len(STATS)],
                               "grids": 0, "last_grid": 0, "last": {}}
    resumed_from = None
    if state is not None:
        trainer.load_state_dict(state)
        resumed_from = trainer.step
        history = state.get("history", history)
        say(f"train: resuming from step {resumed_from} of {params.steps} ({out.checkpoint})")
    say(f"train: {spec.model} {spec.resolution}x{spec.resolution}, {len(data.images)} images "
        f"of {data.students} students, batch {params.batch_size} on {device}"
        f"{' x ' + str(rank.world) + ' processes' if rank.world > 1 else ''}, "
        f"{trainer.speed.precision}, {trainer.steps_per_epoch} steps per epoch")
    fixed_z = torch.randn(GRID, spec.latent_dim,
                          generator=torch.Generator().manual_seed(params.seed))
    fixed_c = (data.conditions[torch.arange(GRID) % len(data.conditions)]
               if conditional else None)
    live = _open_live(out.plots, resumed_from) if rank.main else None
    return _Run(params, out, rank, device, say, data, trainer, fingerprint, resumed_from,
                _Logger(live, trainer, params, history, say), fixed_z, fixed_c, started)


def _loop(run: _Run) -> float:
    """Train to `train.steps`, logging, drawing grids and checkpointing on the way; returns the
    seconds the steps took."""
    trainer, params, logger = run.trainer, run.params, run.logger
    history = logger.history
    loop_start = time.perf_counter()
    if trainer.step == params.steps and run.rank.main:
        # Resumed with nothing left to do: the last grid and the summary are made again (the
        # same weights and latent batch draw the same grid), so that plots deleted since the
        # run come back rather than end as a summary of step 0 without a grid.
        logger.live.step = trainer.step
        logger.live.summary.update(history["last"])
        _log_grid(logger.live, trainer.sample(run.fixed_z, run.fixed_c), trainer.step, keep=True)
    while trainer.step < params.steps:
        trainer.train_step()
        step = trainer.step
        final = step == params.steps
        if step % params.log_every == 0 or step % params.checkpoint_every == 0 or final:
            logger.take(trainer.flush(), final)
        epoch_end = step % trainer.steps_per_epoch == 0
        if final or (epoch_end and step - history["last_grid"] >= params.log_every):
            history["grids"] += 1
            history["last_grid"] = step
            if run.rank.main:
                _log_grid(logger.live, trainer.sample(run.fixed_z, run.fixed_c), step,
                          keep=final or _power2(history["grids"]))
        if step % params.checkpoint_every == 0 or final:
            checkpoint = trainer.state_dict()  # collective: every rank's RNG state
            if run.rank.main:
                save_checkpoint({**checkpoint, "fingerprint": run.fingerprint,
                                 "history": logger.history}, run.out.checkpoint)
    if run.device.type == "cuda":
        torch.cuda.synchronize(run.device)
    return time.perf_counter() - loop_start


def _record(run: _Run, seconds: float) -> Record:
    """The run's facts, the last logged means and the speed, with what they assume."""
    trainer, spec, params = run.trainer, run.trainer.spec, run.params
    steps_done = trainer.step - (run.resumed_from or 0)
    images_per_second = steps_done * params.batch_size / max(seconds, 1e-9)
    values = {
        "model": spec.model,
        "resolution": spec.resolution,
        "latent_dim": spec.latent_dim,
        "condition_dim": spec.condition_dim,
        "steps": trainer.step,
        "epochs": round(trainer.step / trainer.steps_per_epoch, 3),
        "resumed_from": run.resumed_from,
        "images": len(run.data.images),
        "students": run.data.students,
        "stored_size": run.data.stored_size,
        **{name: round(value, 6) for name, value in run.logger.history["last"].items()},
        "images_per_second": round(images_per_second, 1),
        "train_seconds": round(seconds, 2),
        "total_seconds": round(time.perf_counter() - run.started, 2),
        "device": _device_name(run.device),
        "processes": run.rank.world,
        "precision": trainer.speed.precision,
        "parameters": {"generator": count_parameters(trainer.g),
                       "discriminator": count_parameters(trainer.d)},
        "sampled_with_ema": trainer.ema is not None,
    }
    hinge = ("; for the hinge loss the logit is not a calibrated probability, but above 0.5 "
             "still means 'real'") if params.loss == "hinge" else ""
    notes = {
        "real_score": "D(x): the mean probability D gives the real crops of a batch, before "
        "its update" + hinge,
        "fake_score": "D(G(z)): the same on the generated images; both near 0.5 is the "
        "equilibrium, D(x) near 1 with D(G(z)) near 0 means D is winning" + hinge,
        "images_per_second": "training images per second over this run's steps (set-up and "
        "writing excluded); it depends on the machine, see device",
    }
    conventions = {
        "resize": f"training crops reduced from {run.data.stored_size} px to {spec.resolution} "
        f"px with {RESIZE}",
        "means": f"g_loss, d_loss, real_score and fake_score are means over the last "
        f"{params.log_every} steps",
    }
    return Record(values, notes, conventions)


def _write(run: _Run, record: Record) -> None:
    """generator.pt, the loss curves, the end of the dvclive run and the record (rank 0)."""
    trainer, out = run.trainer, run.out
    save_generator(trainer.sampler(), trainer.spec, out.generator,
                   run.data.encoding if trainer.spec.model in CONDITIONAL else None,
                   trainer.ema is not None, trainer.step, _jsonable(as_dict(run.params)))
    live = run.logger.live
    live.log_image("loss_curves.png", _loss_curves(out.plots))
    live.end()
    write_record("train", record, out.metrics, out.details)
    values = record.values
    run.say(f"train: {trainer.step} steps, {values['images_per_second']:.0f} img/s; "
            f"g_loss {values.get('g_loss')}, d_loss {values.get('d_loss')}; {out.generator}")


class _Logger:
    """Turns flushed per-step rows into window and epoch means, for dvclive and the console.

    `history` (the partial window and epoch) travels in checkpoints so that the means around a
    resumption are the same as without one.
    """

    def __init__(self, live: Any, trainer: Trainer, params: TrainParams,
                 history: dict[str, Any], say: Callable[[str], None]) -> None:
        self.live, self.trainer, self.params, self.say = live, trainer, params, say
        self.history = history
        self.clock = (time.perf_counter(), trainer.step)

    def take(self, rows: list[tuple[int, list[float]]], final: bool) -> None:
        spe = self.trainer.steps_per_epoch
        window, epoch = self.history["window"], self.history["epoch"]
        for index, values in rows:
            step = index + 1  # steps done after this one
            window[0] += 1
            window[1] = [a + v for a, v in zip(window[1], values, strict=True)]
            epoch[0] += 1
            epoch[1] = [a + v for a, v in zip(epoch[1], values, strict=True)]
            if step % spe == 0 or (final and step == self.trainer.step):
                self._log(step, "epoch/", [a / epoch[0] for a in epoch[1]])
                self.history["epoch"] = epoch = [0, [0.0] * len(STATS)]
            if step % self.params.log_every == 0 or (final and step == self.trainer.step):
                means = [a / window[0] for a in window[1]]
                self._log(step, "", means)
                self.history["last"] = dict(zip(STATS, means, strict=True))
                self._report(step, means)
                self.history["window"] = window = [0, [0.0] * len(STATS)]
        if self.live is not None:
            self.live.make_summary()

    def _log(self, step: int, prefix: str, means: list[float]) -> None:
        if self.live is None:
            return
        self.live.step = step
        for name, value in zip(STATS, means, strict=True):
            self.live.log_metric(prefix + name, value)

    def _report(self, step: int, means: list[float]) -> None:
        now, before = time.perf_counter(), self.clock
        rate = (step - before[1]) * self.params.batch_size / max(now - before[0], 1e-9)
        self.clock = (now, step)
        text = ", ".join(f"{n} {v:.4f}" for n, v in zip(STATS, means, strict=True))
        epoch = step / self.trainer.steps_per_epoch
        self.say(f"step {step}/{self.params.steps} (epoch {epoch:.1f}): {text}; {rate:.0f} img/s")


# ---------------------------------------------------------------------- setup


def _fingerprint(params: TrainParams, data: TrainSet) -> dict[str, Any]:
    settings = {k: v for k, v in as_dict(params).items() if k not in RESUMABLE_CHANGES}
    return _jsonable({"params": settings, "data": data.fingerprint, "code": _code()})


def _code() -> str:
    """sha256 of the code that defines a training run: this module and pipeline/gan/ (the
    networks, losses, DiffAugment, EMA, the loop, how the shards are read). DVC re-runs train
    when they change; resuming would then hand back a generator the old code trained."""
    here = Path(__file__).parent
    digest = hashlib.sha256()
    for path in [Path(__file__), *sorted((here / "gan").glob("*.py"))]:
        digest.update(path.relative_to(here).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


def _resumable(path: Path, fingerprint: dict[str, Any], params: TrainParams,
               device: torch.device, say: Callable[[str], None]) -> dict[str, Any] | None:
    """The checkpoint at `path` when it can be continued; None (and the reason said) if not."""
    if not path.is_file():
        say(f"train: no checkpoint at {path}; starting afresh")
        return None
    try:
        state = load_checkpoint(path, device)
    except TrainError as exc:
        say(f"train: {exc}; starting afresh")
        return None
    old = state.get("fingerprint", {})
    if old.get("code") != fingerprint["code"]:
        say("train: the training code (pipeline/train.py, pipeline/gan/) changed since the "
            "checkpoint; starting afresh")
        return None
    if old.get("data") != fingerprint["data"]:
        say("train: the training data changed since the checkpoint; starting afresh")
        return None
    changed = sorted(k for k in fingerprint["params"]
                     if old.get("params", {}).get(k) != fingerprint["params"][k])
    if changed:
        say(f"train: train.{', train.'.join(changed)} changed since the checkpoint; "
            "starting afresh")
        return None
    if int(state["step"]) > params.steps:
        say(f"train: the checkpoint is at step {state['step']}, past train.steps "
            f"({params.steps}); starting afresh")
        return None
    return state


def _jsonable(value: Any) -> Any:
    """Tuples to lists and so on, so that the value survives torch.load(weights_only=True)
    and compares equal after a round trip."""
    return json.loads(json.dumps(value))


def _device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    return "cpu"


def _stderr(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------- dvclive and images


def _open_live(plots_dir: Path, resumed_from: int | None) -> Any:
    from dvclive import Live

    if resumed_from is not None:
        _trim_series(plots_dir, resumed_from)
        summary = plots_dir / "metrics.json"
        try:
            json.loads(summary.read_text(encoding="utf-8"))
        except FileNotFoundError:
            pass
        except (OSError, ValueError):  # half-written by a killed run; dvclive rewrites it
            summary.unlink()
    # dvcyaml=False: dvc.yaml is the project's own, not dvclive's to rewrite.
    return Live(str(plots_dir), resume=resumed_from is not None, dvcyaml=False,
                save_dvc_exp=False)


def _trim_series(plots_dir: Path, last_step: int) -> None:
    """Drop points logged after `last_step`: a killed run may have logged past its last
    checkpoint, and the resumed run logs those steps again."""
    for path in (plots_dir / "plots" / "metrics").rglob("*.tsv"):
        try:
            with path.open(newline="", encoding="utf-8") as fh:
                rows = list(csv.reader(fh, delimiter="\t"))
            col = rows[0].index("step")
            kept = [rows[0]] + [r for r in rows[1:] if len(r) > col and int(r[col]) <= last_step]
        except (OSError, IndexError, ValueError):
            continue  # not a series of ours; dvclive will append to it or start it anew
        with atomic_path(path) as tmp, tmp.open("w", newline="", encoding="utf-8") as fh:
            csv.writer(fh, delimiter="\t", lineterminator="\n").writerows(kept)


def _power2(n: int) -> bool:
    return n & (n - 1) == 0


def _log_grid(live: Any, images: torch.Tensor, step: int, keep: bool) -> None:
    grid = grid_image(images)
    live.log_image("samples.png", grid)
    if keep:
        live.log_image(f"samples/{step:07d}.png", grid)


def _loss_curves(plots_dir: Path) -> Image.Image:
    """Losses and scores against the step, from the logged series, as one PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    series = {}
    for name in STATS:
        path = plots_dir / "plots" / "metrics" / f"{name}.tsv"
        if path.is_file():
            with path.open(newline="", encoding="utf-8") as fh:
                rows = list(csv.DictReader(fh, delimiter="\t"))
            series[name] = ([int(r["step"]) for r in rows], [float(r[name]) for r in rows])
    fig = Figure(figsize=(9, 3.5), dpi=100)
    FigureCanvasAgg(fig)
    for ax, names, title in ((fig.add_subplot(1, 2, 1), STATS[:2], "Losses"),
                             (fig.add_subplot(1, 2, 2), STATS[2:], "D(x) and D(G(z))")):
        for name in names:
            if name in series:
                ax.plot(*series[name], label=name)
        ax.set_title(title)
        ax.set_xlabel("step")
        ax.legend()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    buf.seek(0)
    return Image.open(buf).convert("RGB")
