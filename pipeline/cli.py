"""`facedata`: every pipeline stage as a sub-command; a thin layer over the stage functions.

Exit codes, for every sub-command: 0 done (for validate: no photo fails), 1 validate found a
photo that fails, 2 a usage error (a missing folder, bad settings), 3 an unexpected error: one
line on stderr and the path of a log file with the traceback, never a bare traceback; 130
stopped by Ctrl-C, with one line.
"""

from __future__ import annotations

import ctypes
import dataclasses
import datetime
import os
import sys
import tempfile
import traceback
import warnings
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

from pipeline.config import Params, ParamsError, load_params
from pipeline.downloads import Layout
from pipeline.safe_text import shown

INTERNAL_ERROR = 3
INTERRUPTED = 130  # 128 + SIGINT: what shells report for a command stopped by Ctrl-C


class _PlainHelp:
    """--help as click writes it: a flag without a `<bool>` after it, an argument in the usage
    line as SUBMISSIONS (optional: [SUBMISSIONS]), not typer's `{submissions}`."""

    def get_params(self, ctx: typer.Context) -> list:
        params = super().get_params(ctx)  # type: ignore[misc]
        for param in params:
            if isinstance(param, TyperOption) and param.is_flag and param.metavar is None:
                param.metavar = ""  # a flag takes no value to name
        return params

    def collect_usage_pieces(self, ctx: typer.Context) -> list[str]:
        pieces = super().collect_usage_pieces(ctx)  # type: ignore[misc]
        arguments = {f"{{{p.name}}}": p for p in self.get_params(ctx)
                     if isinstance(p, TyperArgument)}
        arguments.update({f"[{p.name}]": p for p in arguments.values()})
        return [_usage_name(arguments[piece]) if piece in arguments else piece
                for piece in pieces]


def _usage_name(argument: TyperArgument) -> str:
    name = (argument.metavar or argument.name or "").upper()
    name = name if argument.required else f"[{name}]"
    return name + ("..." if argument.nargs != 1 else "")


class _Command(_PlainHelp, TyperCommand):
    pass


class _Group(_PlainHelp, TyperGroup):
    def invoke(self, ctx: typer.Context):
        # click would print "Aborted!" and exit 1, which `validate` uses for "photos fail"
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            say(f"facedata: interrupted (exit code {INTERRUPTED}). Finished work is kept "
                "(validate caches each photo's measurements, train keeps its last checkpoint), "
                "so the same command again continues from there.")
            raise typer.Exit(INTERRUPTED) from None


class _App(typer.Typer):
    """The typer app; calling it (the console script does) turns an unexpected exception into
    exit code 3, one line on stderr and a log file holding the traceback. Its commands write
    --help as click does (_PlainHelp)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(cls=_Group, **kwargs)

    def command(self, *args, **kwargs):
        return super().command(*args, cls=kwargs.pop("cls", _Command), **kwargs)

    def __call__(self, *args, **kwargs):
        # Set once here, before any worker thread starts. Pillow warns on stderr about malformed
        # EXIF and the like; the findings already say what is wrong with a photo.
        warnings.filterwarnings("ignore", module=r"PIL(\.|$)")
        _pin_mmap_threshold()
        try:
            return super().__call__(*args, **kwargs)
        except Exception as exc:  # the last line of defence: no traceback reaches the user
            log = _crash_log(exc)
            say(
                f"facedata stopped on an unexpected error: {type(exc).__name__}: "
                f"{shown(str(exc))[:300]} (exit code {INTERNAL_ERROR}); the full traceback is "
                f"in {log}, please include it when you report this"
            )
            raise SystemExit(INTERNAL_ERROR) from None


def _pin_mmap_threshold() -> None:
    """Give every block over 1 MB back to the system when it is freed.

    glibc raises its mmap threshold each time a large block is freed (up to 32 MB); blocks under
    it then come from heaps that do not shrink, so a class with a few 60 MB files peaked 350 MB
    higher than one without (bench/peak_memory.py). A fixed threshold keeps the peak where the
    photos being decoded and detected put it. Does nothing where the C library is not glibc.
    """
    try:
        ctypes.CDLL(None).mallopt(_M_MMAP_THRESHOLD, 1 << 20)
    except (OSError, AttributeError):
        pass


_M_MMAP_THRESHOLD = -3  # glibc's malloc.h


def _crash_log(exc: Exception) -> Path:
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    log = Path(tempfile.gettempdir()) / f"facedata-error-{stamp}-{os.getpid()}.log"
    text = f"facedata {' '.join(sys.argv[1:])}\n" + "".join(traceback.format_exception(exc))
    log.write_text(text, encoding="utf-8", errors="backslashreplace")
    return log


app = _App(
    add_completion=False,
    no_args_is_help=True,
    help="Audit a class's face-photo submissions, build a training set, train and measure a GAN.",
)
err = Console(stderr=True, soft_wrap=True)  # messages stay whole lines in logs

ParamsOpt = Annotated[Path, typer.Option("--params", help="Settings file.")]
SchemaOpt = Annotated[
    Path | None,
    typer.Option(
        "--schema",
        help="Attribute vocabulary; default: schemas/attributes.yaml here, else the project's.",
    ),
]
# The vocabulary this project ships, for running `facedata validate` from another folder.
PROJECT_SCHEMA = Path(__file__).resolve().parents[1] / "schemas" / "attributes.yaml"
CacheOpt = Annotated[Path, typer.Option("--cache-dir", help="Per-photo measurement cache.")]
# Inputs that several commands read, each with one help text.
LayoutOpt = Annotated[
    Layout | None,
    typer.Option(
        "--layout",
        help="How the submissions are laid out: auto (from the names), folders (one folder or "
        "zip per student), moodle or canvas (their bulk downloads). Default: ingest.layout.",
    ),
]
SubmissionsOpt = Annotated[Path, typer.Option("--submissions", help="The submissions folder.")]
AcceptedOpt = Annotated[Path, typer.Option("--accepted", help="accepted.csv from validate.")]
ManifestOpt = Annotated[Path, typer.Option("--manifest", help="manifest.csv from ingest.")]
FindingsOpt = Annotated[Path, typer.Option("--findings", help="findings.csv from validate.")]
CropsOpt = Annotated[Path, typer.Option("--crops", help="Crops from the crop stage.")]
ShardsOpt = Annotated[Path, typer.Option("--shards", help="Shards from the shard stage.")]
ModelOpt = Annotated[Path, typer.Option("--model", help="Generator from the train stage.")]


class Format(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


def _params(path: Path) -> Params:
    try:
        return load_params(path)
    except ParamsError as exc:
        raise _usage_error(str(exc)) from None


def _with_layout(params: Params, layout: Layout | None) -> Params:
    if layout is None:
        return params
    return dataclasses.replace(params, ingest=dataclasses.replace(params.ingest,
                                                                  layout=layout.value))


def _usage_error(message: str) -> typer.Exit:
    # names from students may hold [brackets] and control characters
    err.print(f"[red]error:[/] {escape(shown(message))}")
    return typer.Exit(2)


def say(message: str) -> None:
    """A plain line on stderr: stage summaries and training progress, never read as markup."""
    err.print(message, markup=False, highlight=False)


@contextmanager
def progress_bars():
    """A `pipeline.progress.Progress` that draws one rich bar per pass; drawn only on a
    terminal, so logs and DVC output stay clean."""
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )

    def start(description: str, total: int):
        task = bar.add_task(description, total=total)
        return lambda n=1: bar.advance(task, n)

    with bar:
        yield start


def _schema(path: Path | None) -> Path:
    """The vocabulary given, else ./schemas/attributes.yaml, else the project's own."""
    if path is None:
        here = Path("schemas/attributes.yaml")
        path = here if here.is_file() or not PROJECT_SCHEMA.is_file() else PROJECT_SCHEMA
    if not path.is_file():
        raise _usage_error(f"no attribute vocabulary at {path}; pass --schema FILE")
    return path


def _submissions_dir(path: Path) -> Path:
    if not path.is_dir() and not (path.is_file() and path.suffix.lower() == ".zip"):
        raise _usage_error(
            f"{path} is not a folder; give the folder that holds one folder or zip per student, "
            "or an LMS's bulk download (its zip or the folder it was extracted to)"
        )
    return path


@app.command()
def ingest(
    submissions: Annotated[
        Path, typer.Argument(help="Folder with one folder or zip per student, or an LMS download.")
    ] = Path("data/submissions"),
    manifest: Annotated[Path, typer.Option(help="Where manifest.csv goes.")] = Path(
        "data/interim/manifest.csv"
    ),
    findings: Annotated[Path, typer.Option(help="Where what ingest skipped is listed.")] = Path(
        "data/interim/ingest_findings.csv"
    ),
    params_file: ParamsOpt = Path("params.yaml"),
    layout: LayoutOpt = None,
) -> None:
    """List, hash and identify every file handed in (writes manifest.csv and its findings)."""
    from pipeline.formats.manifest import ManifestFiles
    from pipeline.ingest import run_ingest

    params = _with_layout(_params(params_file), layout)
    root = _submissions_dir(submissions)
    with progress_bars() as bars:
        found = run_ingest(root, params.ingest, bars, ManifestFiles(manifest, findings))
    say(f"{len(found.rows)} files from {len(found.students)} students ({found.layout} layout) "
        f"-> {manifest}")


@app.command()
def validate(
    submissions: Annotated[
        Path, typer.Argument(help="Folder with one folder or zip per student, or an LMS download.")
    ],
    format: Annotated[Format, typer.Option("--format", "-f", help="How to print.")] = Format.table,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the report here, not stdout.")
    ] = None,
    manifest: Annotated[
        Path | None,
        typer.Option(
            help="Use this manifest.csv from `facedata ingest` instead of reading files again."
        ),
    ] = None,
    ingest_findings: Annotated[
        Path | None, typer.Option(help="The ingest_findings.csv written with --manifest.")
    ] = None,
    findings: Annotated[
        Path | None, typer.Option(help="Write findings.csv here (the pipeline stage).")
    ] = None,
    accepted: Annotated[
        Path | None, typer.Option(help="Write accepted.csv here (the pipeline stage).")
    ] = None,
    metrics: Annotated[
        Path | None, typer.Option(help="Write the headline metrics JSON here (for DVC).")
    ] = None,
    details: Annotated[
        Path | None, typer.Option(help="Write every count, with notes, to this JSON.")
    ] = None,
    exit_zero: Annotated[
        bool, typer.Option("--exit-zero", help="Exit 0 even when photos fail (for pipelines).")
    ] = False,
    errors_only: Annotated[
        bool, typer.Option("--errors-only", help="Show errors only, no warnings or notes.")
    ] = False,
    student: Annotated[
        list[str] | None,
        typer.Option("--student", metavar="ID",
                     help="Show only this student (repeat for more); the exit code is theirs."),
    ] = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Table format: print the summary line only.")
    ] = False,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Table format: every finding in full.")
    ] = False,
    params_file: ParamsOpt = Path("params.yaml"),
    schema: SchemaOpt = None,
    cache_dir: CacheOpt = Path(".facedata-cache"),
    layout: LayoutOpt = None,
) -> None:
    """Check every submission; exit 1 when any photo fails, 0 when none does, 2 on usage errors,
    3 on an unexpected error (with a log file). The table is for triage: photos per student,
    then the errors, then the warnings collapsed; JSON and CSV hold a record for every photo
    (docs/OUTPUTS.md)."""
    from pipeline.formats.manifest import ManifestFiles
    from pipeline.ingest import run_ingest
    from pipeline.stage_deps import check_declared
    from pipeline.validate import run_validate
    from pipeline.validate_view import Detail, View, render_csv, render_json, render_table

    if quiet and verbose:
        raise _usage_error("--quiet and --verbose cannot go together; give one")
    detail = Detail.QUIET if quiet else Detail.VERBOSE if verbose else Detail.TRIAGE
    params = _with_layout(_params(params_file), layout)
    root = _submissions_dir(submissions)
    schema = _schema(schema)
    _together(manifest=manifest, ingest_findings=ingest_findings)
    _together(findings=findings, accepted=accepted, metrics=metrics, details=details)
    with stage_errors(), progress_bars() as bars:
        check_declared({"validate.roster": params.validate.roster})
        ingested = (
            ManifestFiles(manifest, ingest_findings)
            if manifest is not None and ingest_findings is not None
            else run_ingest(root, params.ingest, bars)
        )
        result = run_validate(root, ingested, schema, params.validate, cache_dir, bars,
                              findings_csv=findings, accepted_csv=accepted, metrics_json=metrics,
                              details_json=details)

    view = View(frozenset(student) if student else None, errors_only, detail)
    unknown = sorted(set(student or ()) - set(result.students))
    if unknown:
        raise _usage_error(f"no student {', '.join(unknown)} in {root}; the students are "
                           f"{', '.join(result.students[:10]) or 'none'}"
                           f"{', …' if len(result.students) > 10 else ''}")
    if format is Format.table:
        # Files and pipes get a wide table: messages are long and nobody resizes a log.
        if output:
            with output.open("w", encoding="utf-8") as fh:
                render_table(result, Console(file=fh, width=160), view)
        else:
            console = Console()
            render_table(result, console if console.is_terminal else Console(width=160), view)
    else:
        text = render_json(result, view) if format is Format.json else render_csv(result, view)
        if output:
            output.write_text(text, encoding="utf-8", newline="")
        else:
            sys.stdout.write(text)
    if view.narrow(result).has_errors() and not exit_zero:
        raise typer.Exit(1)


def _together(**options: Path | None) -> None:
    """A usage error when only some of these options, which only work together, were given."""
    missing = [f"--{name.replace('_', '-')}" for name, value in options.items() if value is None]
    if missing and len(missing) < len(options):
        given = [f"--{name.replace('_', '-')}" for name in options]
        raise _usage_error(f"{' and '.join(given)} go together: {', '.join(missing)} is missing")


@contextmanager
def stage_errors():
    """A stage's own errors (missing inputs, bad settings) end the command with exit code 2."""
    try:
        yield
    except (ValueError, FileNotFoundError) as exc:
        raise _usage_error(str(exc)) from None


@app.command()
def crop(
    accepted: AcceptedOpt = Path("data/interim/accepted.csv"),
    submissions: SubmissionsOpt = Path("data/submissions"),
    out_dir: Annotated[Path, typer.Option(help="Where the crops go.")] = Path(
        "data/processed/crops"
    ),
    params_file: ParamsOpt = Path("params.yaml"),
) -> None:
    """Aligned square face crops (FFHQ-style, from the 5 landmarks) of every accepted photo."""
    from pipeline.crop import run_crop

    params = _params(params_file)
    with stage_errors(), progress_bars() as bars:
        stats = run_crop(
            accepted, submissions, out_dir, params.crop, params.validate.max_pixels, progress=bars
        )
    say(f"crop: {stats}")


@app.command()
def augment(
    crops: CropsOpt = Path("data/processed/crops"),
    out_dir: Annotated[Path, typer.Option(help="Where augmented copies go.")] = Path(
        "data/processed/augmented"
    ),
    params_file: ParamsOpt = Path("params.yaml"),
) -> None:
    """Deterministic augmented copies of the crops (augment.copies per crop)."""
    from pipeline.augment import run_augment

    params = _params(params_file)
    with stage_errors(), progress_bars() as bars:
        stats = run_augment(crops, out_dir, params.augment, bars)
    say(f"augment: {stats}")


@app.command()
def shard(
    crops: CropsOpt = Path("data/processed/crops"),
    augmented: Annotated[Path, typer.Option(help="Copies from the augment stage.")] = Path(
        "data/processed/augmented"
    ),
    out_dir: Annotated[Path, typer.Option(help="Where the shards go.")] = Path(
        "data/processed/shards"
    ),
    schema: SchemaOpt = None,
    accepted: Annotated[
        Path, typer.Option(help="accepted.csv from validate: students who share a person stay "
                           "on one side of the split.")
    ] = Path("data/interim/accepted.csv"),
    params_file: ParamsOpt = Path("params.yaml"),
) -> None:
    """WebDataset tar shards split by person (students who share one together), with the
    attribute encoding."""
    from pipeline.shard import run_shard

    params = _params(params_file)
    with stage_errors():
        index = run_shard(crops, augmented, _schema(schema), out_dir, params.shard, accepted)
    splits = ", ".join(
        f"{name} {info['samples']} samples of {len(info['students'])} students"
        for name, info in index["splits"].items()
    )
    say(f"shard: {splits} -> {out_dir}")
    for note in index["split"]["notes"]:
        say(f"shard: {note}")


@app.command()
def feedback(
    manifest: ManifestOpt = Path("data/interim/manifest.csv"),
    findings: FindingsOpt = Path("data/interim/findings.csv"),
    accepted: AcceptedOpt = Path("data/interim/accepted.csv"),
    out_dir: Annotated[Path, typer.Option(help="Where the <student>.txt messages go.")] = Path(
        "reports/feedback"
    ),
) -> None:
    """One plain-text message per student, to paste into an LMS comment or an e-mail: what was
    accepted, what to redo and how, the attribute rows to correct."""
    from pipeline.feedback import run_feedback

    with stage_errors():
        result = run_feedback(manifest=manifest, findings=findings, accepted=accepted,
                              out_dir=out_dir)
    say(f"feedback: {len(result.paths)} messages, {result.to_redo} with something to redo "
        f"-> {out_dir}")


@app.command()
def report(
    submissions: SubmissionsOpt = Path("data/submissions"),
    manifest: ManifestOpt = Path("data/interim/manifest.csv"),
    findings: FindingsOpt = Path("data/interim/findings.csv"),
    accepted: AcceptedOpt = Path("data/interim/accepted.csv"),
    validate_metrics: Annotated[Path, typer.Option(help="Metrics of validate.")] = Path(
        "metrics/validate.json"
    ),
    validate_details: Annotated[Path, typer.Option(help="Details of validate.")] = Path(
        "metrics/details/validate.json"
    ),
    crop_sheet: Annotated[Path, typer.Option(help="Contact sheet of the crops.")] = Path(
        "data/processed/crops/contact_sheet.png"
    ),
    train_metrics: Annotated[Path, typer.Option(help="Metrics of train.")] = Path(
        "metrics/train.json"
    ),
    train_details: Annotated[Path, typer.Option(help="Details of train.")] = Path(
        "metrics/details/train.json"
    ),
    train_plots: Annotated[Path, typer.Option(help="dvclive folder of train.")] = Path(
        "plots/train"
    ),
    train_samples: Annotated[Path, typer.Option(help="Latest sample grid of train.")] = Path(
        "plots/train/plots/images/samples.png"
    ),
    evaluate_metrics: Annotated[Path, typer.Option(help="Metrics of evaluate.")] = Path(
        "metrics/evaluate.json"
    ),
    evaluate_details: Annotated[Path, typer.Option(help="Details of evaluate.")] = Path(
        "metrics/details/evaluate.json"
    ),
    memorization: Annotated[Path, typer.Option(help="Near-copy pairs from evaluate.")] = Path(
        "reports/memorization"
    ),
    feedback: Annotated[Path, typer.Option(help="Messages to the students from feedback.")] = Path(
        "reports/feedback"
    ),
    out_dir: Annotated[Path, typer.Option(help="Where index.html goes.")] = Path("reports"),
    params_file: ParamsOpt = Path("params.yaml"),
) -> None:
    """One self-contained HTML page: the class, each student's photos and feedback, attributes,
    crops, training, evaluation.

    The inputs of later stages are optional: a stage that has not run leaves its section empty."""
    from pipeline.report import run_report

    params = _params(params_file)
    with stage_errors(), progress_bars() as bars:
        page = run_report(
            params.report,
            max_pixels=params.validate.max_pixels,
            manifest=manifest,
            findings=findings,
            accepted=accepted,
            validate_metrics=validate_metrics,
            validate_details=validate_details,
            submissions_root=submissions,
            out_dir=out_dir,
            crop_sheet=crop_sheet,
            train_metrics=train_metrics,
            train_details=train_details,
            train_plots=train_plots,
            samples=train_samples,
            evaluate_metrics=evaluate_metrics,
            evaluate_details=evaluate_details,
            memorization=memorization,
            feedback=feedback,
            progress=bars,
        )
    say(f"report: {page}")


@app.command()
def train(
    shards: ShardsOpt = Path("data/processed/shards"),
    generator: Annotated[Path, typer.Option(help="Where the trained generator goes.")] = Path(
        "models/generator.pt"
    ),
    checkpoint: Annotated[Path, typer.Option(help="Where the resumable state goes.")] = Path(
        "models/checkpoint.pt"
    ),
    metrics: Annotated[Path, typer.Option(help="Where the headline metrics JSON goes.")] = Path(
        "metrics/train.json"
    ),
    details: Annotated[Path, typer.Option(help="Where every number, with notes, goes.")] = Path(
        "metrics/details/train.json"
    ),
    plots: Annotated[Path, typer.Option(help="dvclive folder: curves and sample grids.")] = Path(
        "plots/train"
    ),
    resume: Annotated[
        bool,
        typer.Option("--resume", help="Continue from --checkpoint when its settings still match."),
    ] = False,
    params_file: ParamsOpt = Path("params.yaml"),
) -> None:
    """Train the GAN (train.model); on a GPU when there is one. Under torchrun: several GPUs."""
    from pipeline.train import run_train

    params = _params(params_file)
    with stage_errors():
        run_train(
            shards,
            generator,
            checkpoint,
            metrics,
            details,
            plots,
            params.train,
            resume=resume,
            log=say,
        )


@app.command()
def evaluate(
    model: ModelOpt = Path("models/generator.pt"),
    shards: ShardsOpt = Path("data/processed/shards"),
    metrics: Annotated[Path, typer.Option(help="Where the headline metrics JSON goes.")] = Path(
        "metrics/evaluate.json"
    ),
    details: Annotated[Path, typer.Option(help="Where every number, with notes, goes.")] = Path(
        "metrics/details/evaluate.json"
    ),
    samples: Annotated[Path, typer.Option(help="Where the grid of generated images goes.")] = Path(
        "reports/samples.png"
    ),
    memorization: Annotated[Path, typer.Option(help="Where near-copy pairs go.")] = Path(
        "reports/memorization"
    ),
    params_file: ParamsOpt = Path("params.yaml"),
) -> None:
    """FID/KID/IS (when Inception weights are available), face detection rate, memorization,
    generated faces that are training people."""
    from pipeline.evaluate import run_evaluate
    from pipeline.stage_deps import check_declared

    params = _params(params_file)
    with stage_errors(), progress_bars() as bars:
        check_declared({"evaluate.inception_weights": params.evaluate.inception_weights})
        result = run_evaluate(
            model,
            shards,
            metrics,
            details,
            samples,
            memorization,
            params.evaluate,
            params.validate.detect,
            bars,
            identities=params.validate.identities,
        )
    say(f"evaluate: wrote {metrics} ({len(result.values)} values) and {details}")


@app.command()
def generate(
    n: Annotated[int, typer.Option("-n", help="How many images.")] = 16,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    out: Annotated[
        Path,
        typer.Option(help="A .png file for one grid, or a folder for single files plus grid.png."),
    ] = Path("reports/generated.png"),
    model: ModelOpt = Path("models/generator.pt"),
    truncation: Annotated[
        float | None,
        typer.Option(
            help="Sample the latent from a normal truncated at this many standard deviations."
        ),
    ] = None,
    prompt: Annotated[
        str | None,
        typer.Option(
            help='Words of the attribute vocabulary, e.g. "young woman, black curly hair".'
        ),
    ] = None,
    attr: Annotated[
        list[str] | None,
        typer.Option("--attr", help="An exact attribute, e.g. hair_colour=black (repeatable)."),
    ] = None,
) -> None:
    """Sample faces from a trained generator; the conditional model takes --prompt / --attr."""
    from pipeline.generate import run_generate

    with stage_errors():
        result = run_generate(model, n, seed, out, truncation, prompt, attr or ())
    for line in result.described:
        say(line)
    say(
        f"wrote {len(result.paths)} file(s): {', '.join(map(str, result.paths[:3]))}"
        + (" ..." if len(result.paths) > 3 else "")
    )


def main() -> None:  # pragma: no cover - `python -m pipeline.cli`
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
