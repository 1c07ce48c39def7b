"""`facedata`: every pipeline stage as a sub-command; a thin layer over the stage functions."""

from __future__ import annotations

import sys
from contextlib import contextmanager
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from pipeline.config import Params, ParamsError, load_params

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Audit a class's face-photo submissions, build a training set, train and "
                       "measure a GAN.")
err = Console(stderr=True)

ParamsOpt = Annotated[Path, typer.Option("--params", help="Settings file.")]
SchemaOpt = Annotated[Path, typer.Option("--schema", help="Attribute vocabulary.")]
CacheOpt = Annotated[Path, typer.Option("--cache-dir", help="Per-photo measurement cache.")]


class Format(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"


def _params(path: Path) -> Params:
    try:
        return load_params(path)
    except ParamsError as exc:
        err.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None


def _usage_error(message: str) -> typer.Exit:
    err.print(f"[red]error:[/] {message}")
    return typer.Exit(2)


@contextmanager
def progress_bar(description: str, total: int):
    """A progress callback; drawn only on a terminal, so logs and DVC output stay clean."""
    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                   TimeRemainingColumn(), console=err, transient=True,
                   disable=not err.is_terminal)
    with bar:
        task = bar.add_task(description, total=total)
        yield lambda n=1: bar.advance(task, n)


def _submissions_dir(path: Path) -> Path:
    if not path.is_dir():
        raise _usage_error(f"{path} is not a folder; give the folder that holds one folder or "
                           "zip per student")
    return path


@app.command()
def ingest(
    submissions: Annotated[Path, typer.Argument(help="Folder with one folder or zip per student.")]
    = Path("data/submissions"),
    out_dir: Annotated[Path, typer.Option(help="Where manifest.csv goes.")] = Path("data/interim"),
    params_file: ParamsOpt = Path("params.yaml"),
) -> None:
    """List, hash and identify every file handed in (writes manifest.csv)."""
    from pipeline.ingest import count_files, ingest as run_ingest, write_manifest

    params = _params(params_file)
    root = _submissions_dir(submissions)
    with progress_bar("Reading files", count_files(root, params.ingest)) as advance:
        manifest = run_ingest(root, params.ingest, advance)
    write_manifest(manifest, out_dir / "manifest.csv", out_dir / "ingest_findings.csv")
    err.print(f"{len(manifest.rows)} files from {len(manifest.students)} students -> "
              f"{out_dir / 'manifest.csv'}")


@app.command()
def validate(
    submissions: Annotated[Path, typer.Argument(help="Folder with one folder or zip per student.")],
    format: Annotated[Format, typer.Option("--format", "-f", help="How to print.")] = Format.table,
    output: Annotated[Path | None, typer.Option("--output", "-o",
                                                help="Write the report here, not stdout.")] = None,
    manifest: Annotated[Path | None, typer.Option(
        help="Use this manifest.csv from `facedata ingest` instead of reading files again.")] = None,
    out_dir: Annotated[Path | None, typer.Option(
        help="Also write findings.csv and accepted.csv here (the pipeline stage).")] = None,
    metrics: Annotated[Path | None, typer.Option(help="Write metrics JSON here.")] = None,
    exit_zero: Annotated[bool, typer.Option(
        "--exit-zero", help="Exit 0 even when photos fail (for pipelines).")] = False,
    params_file: ParamsOpt = Path("params.yaml"),
    schema: SchemaOpt = Path("schemas/attributes.yaml"),
    cache_dir: CacheOpt = Path(".facedata-cache"),
) -> None:
    """Check every submission; exit 1 when any photo fails, 0 when none does, 2 on usage errors."""
    from pipeline.attributes import VocabularyError, load_vocabulary
    from pipeline.ingest import count_files, ingest as run_ingest, read_manifest
    from pipeline.output import render_csv, render_json, render_table
    from pipeline.validate import validate as run_validate, write_outputs

    params = _params(params_file)
    root = _submissions_dir(submissions)
    if not schema.is_file():
        raise _usage_error(f"no attribute vocabulary at {schema}; run from the project folder "
                           "or pass --schema")
    try:
        vocabulary = load_vocabulary(schema)
    except VocabularyError as exc:
        raise _usage_error(str(exc)) from None
    if manifest is not None:
        if not manifest.is_file():
            raise _usage_error(f"{manifest} does not exist; run `facedata ingest` first")
        found = read_manifest(manifest, manifest.with_name("ingest_findings.csv"))
    else:
        with progress_bar("Reading files", count_files(root, params.ingest)) as advance:
            found = run_ingest(root, params.ingest, advance)
    n_photos = sum(1 for r in found.rows if r.kind == "photo")
    with progress_bar("Checking photos", n_photos) as advance:
        result = run_validate(root, found, params.validate, vocabulary, cache_dir, advance)
    if out_dir is not None or metrics is not None:
        out = out_dir or Path("data/interim")
        write_outputs(result, out / "findings.csv", out / "accepted.csv",
                      metrics or out / "validate.json")

    if format is Format.table:
        console = Console(file=output.open("w", encoding="utf-8") if output else sys.stdout,
                          width=160 if output else None)
        render_table(result, console)
    else:
        text = render_json(result) if format is Format.json else render_csv(result)
        if output:
            output.write_text(text, encoding="utf-8")
        else:
            sys.stdout.write(text)
    if result.has_errors() and not exit_zero:
        raise typer.Exit(1)


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
