"""``facegate bench …``: measured benchmarks (LFW accuracy, speed). Other areas add commands here.

Add a command with ``@bench_app.command("name")`` in your module and import the module in
``register`` below; the sub-app is mounted once by ``facegate.cli``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from facegate.cli.common import container, print_json

bench_app = typer.Typer(
    name="bench", help="Benchmarks: LFW accuracy, speed.", no_args_is_help=True, add_completion=False
)

DataOpt = Annotated[
    Path | None,
    typer.Option("--data", help="Shared data folder (default: FACEGATE_TEST_DATA or ../shared/data)"),
]


def shared_data_dir(option: Path | None) -> Path:
    """The shared data folder: the option, else the FACEGATE_TEST_DATA setting, else ../shared/data."""
    if option is not None:
        return option
    configured = container().settings.test_data
    return configured if configured is not None else Path("..") / "shared" / "data"


def _parse_folds(text: str | None) -> tuple[int, ...] | None:
    if not text:
        return None
    try:
        return tuple(int(v) for v in text.split(","))
    except ValueError:
        raise typer.BadParameter(f"--folds wants numbers like 1 or 1,2,3, got {text!r}") from None


@bench_app.command("lfw")
def bench_lfw(
    model: Annotated[str | None, typer.Option("--model", help="Model pack (default: settings)")] = None,
    data: DataOpt = None,
    lfw: Annotated[Path | None, typer.Option("--lfw", help="LFW folder (default: <data>/lfw)")] = None,
    out: Annotated[Path, typer.Option("--out", help="Folder for lfw.json, roc.png, scores.png")] = Path(
        "bench-out/lfw"
    ),
    folds: Annotated[
        str | None, typer.Option("--folds", help="Only these folds, e.g. 1 or 1,2 (default: all 10)")
    ] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Do not read or write the cache")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the JSON report")] = False,
) -> None:
    """LFW 10-fold verification: accuracy ± std, ROC AUC, EER, TAR at FAR 1e-2 / 1e-3, plots."""
    from facegate.container import Container
    from facegate.eval.lfw import LfwOptions, evaluate_lfw, format_report, write_report
    from facegate.vision.packs import get_pack

    base = container()
    name = model or base.settings.embedding_model
    pack = get_pack(name)
    options = LfwOptions(
        lfw_dir=lfw or shared_data_dir(data) / "lfw",
        cache_dir=None if no_cache else base.settings.data_dir / "cache" / "lfw",
        folds=_parse_folds(folds),
        progress=True,
    )

    def pipeline_for(member: str):  # type: ignore[no-untyped-def]
        c = Container(base.settings.model_copy(update={"embedding_model": member}))
        return c.pipeline

    report = evaluate_lfw(
        pack.name if not pack.members else name,
        pipeline_for,
        options,
        members=pack.members,
        shipped_threshold=pack.default_threshold,
    )
    paths = write_report(report, out)
    if as_json:
        print_json(report.to_json())
    else:
        for line in format_report(report):
            typer.echo(line)
    typer.echo("wrote " + ", ".join(str(p) for p in paths))


@bench_app.command("speed")
def bench_speed(
    data: DataOpt = None,
    model: Annotated[str | None, typer.Option("--model", help="Model pack (default: settings)")] = None,
    repeats: Annotated[int, typer.Option("--repeats", min=1, help="Timed passes over the images")] = 3,
    anchor: Annotated[
        bool, typer.Option("--anchor/--no-anchor", help="Also time face_recognition (the anchor)")
    ] = True,
    out: Annotated[Path, typer.Option("--out", help="Folder for speed.json and speed.png")] = Path(
        "bench-out/speed"
    ),
) -> None:
    """ms/image for detection, alignment, embedding and end-to-end images/s, vs face_recognition."""
    from facegate.eval.speed import (
        AnchorUnavailableError,
        format_speed,
        measure_anchor,
        measure_facegate,
        speed_images,
        write_speed_report,
    )

    c = container()
    if model and model != c.settings.embedding_model:
        from facegate.container import Container

        c = Container(c.settings.model_copy(update={"embedding_model": model}))
    images = speed_images(shared_data_dir(data))
    reference = None
    if type(c.pipeline.embedder).__name__ == "SfaceOnnxEmbedder":
        from facegate.vision.embedder import SfaceOpenCVEmbedder

        reference = SfaceOpenCVEmbedder()  # same model, the implementation it replaces
    ours = measure_facegate(c.pipeline, images, repeats, reference=reference)
    theirs = None
    note = None
    if anchor:
        try:
            theirs = measure_anchor(images, repeats)
        except AnchorUnavailableError as exc:
            note = exc.message
    for line in format_speed(ours, theirs, len(images)):
        typer.echo(line)
    if note:
        typer.echo(f"anchor not measured: {note}")
    paths = write_speed_report(ours, theirs, out)
    typer.echo("wrote " + ", ".join(str(p) for p in paths))


def register(app: typer.Typer) -> None:
    from facegate.cli import people_cmds  # identify (issue 4)

    bench_app.command("identify")(people_cmds.bench_identify)
    app.add_typer(bench_app, name="bench")
