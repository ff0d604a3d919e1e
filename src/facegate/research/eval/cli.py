"""``facegate bench …``: measured benchmarks (LFW accuracy, speed). Other areas add commands here.

Add a command with ``@bench_app.command("name")`` in your module and import the module in
``register`` below; the sub-app is mounted once by ``facegate.app.cli``.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated

import typer

from facegate.core.cli import container, fail, print_json

bench_app = typer.Typer(
    name="bench", help="Benchmarks: LFW accuracy, speed.", no_args_is_help=True, add_completion=False
)

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON")]
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
    from facegate.core.vision.packs import get_pack
    from facegate.research.eval.lfw import LfwOptions, evaluate_lfw, format_report, write_report

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
        c = type(base)(base.settings.model_copy(update={"embedding_model": member}))
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
    from facegate.research.eval.speed import (
        AnchorUnavailableError,
        format_speed,
        measure_anchor,
        measure_facegate,
        speed_images,
        write_speed_report,
    )

    c = container()
    if model and model != c.settings.embedding_model:
        c = type(c)(c.settings.model_copy(update={"embedding_model": model}))
    images = speed_images(shared_data_dir(data))
    reference = None
    if type(c.pipeline.embedder).__name__ == "SfaceOnnxEmbedder":
        from facegate.core.vision.embedder import SfaceOpenCVEmbedder

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


@bench_app.command("identify")
def bench_identify(
    data: Annotated[Path | None, typer.Option("--data", help="Shared data folder")] = None,
    people: Annotated[int | None, typer.Option("--people", help="Enrol only the first N")] = None,
    probes: Annotated[int | None, typer.Option("--probes", help="Genuine probes per person")] = None,
    impostors: Annotated[
        int | None, typer.Option("--impostors", help="Never-enrolled people (default: all)")
    ] = None,
    out: Annotated[Path, typer.Option("--out", help="Folder for identify.json/.txt/.png")] = Path(
        "data/bench/identify"
    ),
    as_json: JsonOpt = False,
) -> None:
    """Open-set identification on LFW: rank-1 rate and false 'known' rate at the threshold."""
    from facegate.research.eval.identify_bench import (
        IdentifyBenchOptions,
        format_report,
        run_identify_bench,
        write_report,
    )

    c = container()
    options = IdentifyBenchOptions(
        lfw_dir=shared_data_dir(data) / "lfw",
        cache_dir=c.settings.data_dir / "cache" / "lfw",
        max_people=people,
        max_probes=probes,
        max_impostors=impostors,
    )
    report = run_identify_bench(c.pipeline, c.identify_threshold, options)
    paths = write_report(report, out)
    if as_json:
        print_json(report.as_dict())
    else:
        typer.echo(format_report(report))
    typer.echo("wrote " + ", ".join(str(p) for p in paths))


@bench_app.command("spoof")
def bench_spoof(
    data: DataOpt = None,
    real: Annotated[
        list[Path] | None, typer.Option("--real", help="Extra set: real list/folder (repeatable)")
    ] = None,
    spoof: Annotated[
        list[Path] | None, typer.Option("--spoof", help="Extra set: spoof list/folder (pairs --real)")
    ] = None,
    weights: Annotated[Path | None, typer.Option("--weights", help="Model (default: shipped)")] = None,
    out: Annotated[Path, typer.Option("--out", help="Folder for spoof.json, spoof_det.png")] = Path(
        "bench-out/spoof"
    ),
    skip_nuaa: Annotated[bool, typer.Option("--skip-nuaa", help="Only the given sets")] = False,
) -> None:
    """Passive anti-spoof: APCER, BPCER, ACER at the shipped threshold, BPCER@APCER 1%/5%, DET."""
    from facegate.core.liveness.antispoof import DEFAULT_WEIGHTS, AntiSpoofModel
    from facegate.research.eval.spoof_bench import (
        SpoofSet,
        evaluate_spoof_set,
        format_spoof_table,
        write_spoof_report,
    )

    reals, spoofs = list(real or []), list(spoof or [])
    if len(reals) != len(spoofs):
        raise fail("give --real and --spoof in pairs (the same number of each)")
    sets: list[SpoofSet] = []
    if not skip_nuaa:
        nuaa = shared_data_dir(data) / "nuaa"
        if not (nuaa / "test_real.txt").is_file():
            raise fail(f"NUAA test lists not found under {nuaa}")
        sets.append(SpoofSet("nuaa-test", nuaa / "test_real.txt", nuaa / "test_spoof.txt"))
    sets += [SpoofSet(f"set{i + 1}", r, s) for i, (r, s) in enumerate(zip(reals, spoofs, strict=True))]
    if not sets:
        raise fail("nothing to measure: give --real/--spoof or drop --skip-nuaa")
    c = container()
    model = AntiSpoofModel.load(weights or c.settings.liveness_antispoof_weights or DEFAULT_WEIGHTS)
    results = [evaluate_spoof_set(s, c.detector, model) for s in sets]
    for line in format_spoof_table(results):
        typer.echo(line)
    args: list[object] = ["--skip-nuaa"] if skip_nuaa else []
    if data is not None:
        args += ["--data", data]
    for r, sp in zip(reals, spoofs, strict=True):
        args += ["--real", r, "--spoof", sp]
    if weights is not None:
        args += ["--weights", weights]
    command = _command("facegate bench spoof", *args, "--out", out)
    for path in write_spoof_report(results, out, model.name, command):
        typer.echo(f"wrote {path}")


def _command(prefix: str, *args: object) -> str:
    """The command line that reproduces a run (recorded in the JSON it writes)."""
    return " ".join([prefix, *(shlex.quote(str(a)) for a in args)])


def register(app: typer.Typer) -> None:
    from facegate.research.eval import spoof_cli  # noqa: F401  (adds ``bench spoof-cross``)

    app.add_typer(bench_app, name="bench")
