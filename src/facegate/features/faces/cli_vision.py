"""``facegate detect``, ``embed`` and ``compare``: the vision pipeline on image files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from facegate.core.cli import container, fail, print_json
from facegate.core.vision.draw import draw_faces
from facegate.core.vision.images import read_image_file, write_image_file
from facegate.core.vision.pipeline import FaceChoice

ImageArg = Annotated[Path, typer.Argument(help="Image file (JPEG, PNG, WebP, TIFF, BMP, …)")]
ModelOpt = Annotated[
    str | None,
    typer.Option("--model", help="Model pack (default: FACEGATE_EMBEDDING_MODEL or sface)"),
]


def _face_json(f: object) -> dict[str, object]:
    from facegate.features.faces.schemas import FaceOut

    return FaceOut.of(f).model_dump()  # type: ignore[arg-type]


def _container(model: str | None = None):  # type: ignore[no-untyped-def]
    c = container()
    if model and model != c.settings.embedding_model:

        return type(c)(c.settings.model_copy(update={"embedding_model": model}))
    return c


def detect(
    image: ImageArg,
    out: Annotated[Path | None, typer.Option("--out", help="Write an annotated image here")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Find every face: box, score, five landmarks and quality."""
    c = _container()
    img = read_image_file(image, c.image_limits)
    analysis = c.pipeline.analyze(img, embed=False)
    if out is not None:
        write_image_file(out, draw_faces(img, [f.face for f in analysis.faces]))
    if as_json:
        print_json(
            {
                "image": str(image),
                "width": analysis.width,
                "height": analysis.height,
                "faces": [_face_json(f) for f in analysis.faces],
            }
        )
        return
    typer.echo(f"{image}: {analysis.face_count} face(s) in {analysis.width}x{analysis.height}")
    for i, f in enumerate(analysis.faces, 1):
        b = f.face.box
        q = "ok" if f.quality.ok else "; ".join(f.quality.problems)
        typer.echo(
            f"  {i}: box=({b.x:.0f},{b.y:.0f},{b.width:.0f},{b.height:.0f}) "
            f"score={f.face.score:.2f} quality: {q}"
        )


def embed(
    image: ImageArg,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON (the default)")] = True,
    model: ModelOpt = None,
) -> None:
    """Print the embedding of the largest face."""
    c = _container(model)
    img = read_image_file(image, c.image_limits)
    face, count = c.pipeline.choose(img, FaceChoice.LARGEST)
    if face is None or face.embedding is None:
        raise fail(f"no face found in {image}")
    print_json(
        {
            "image": str(image),
            "model": face.embedding.model,
            "faces_found": count,
            "face": _face_json(face),
            "embedding": [round(float(v), 6) for v in face.embedding.vector],
        }
    )


def compare(
    image_a: ImageArg,
    image_b: ImageArg,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
    threshold: Annotated[
        float | None, typer.Option("--threshold", help="Override the model's threshold")
    ] = None,
    model: ModelOpt = None,
) -> None:
    """Compare the largest faces of two images. Exit 0 SAME, 1 DIFFERENT, 2 error."""
    c = _container(model)
    service = c.compare
    if threshold is not None:
        service.threshold = threshold
    a = read_image_file(image_a, c.image_limits)
    b = read_image_file(image_b, c.image_limits)
    r = service.compare_images(a, b, (str(image_a), str(image_b)))
    cmp = r.comparison
    if as_json:
        print_json(
            {
                "similarity": round(cmp.similarity, 4),
                "threshold": cmp.threshold,
                "decision": cmp.decision,
                "model": r.model,
                "faces_found": [r.a.faces_found, r.b.faces_found],
            }
        )
    else:
        extra = ""
        if r.a.faces_found > 1 or r.b.faces_found > 1:
            extra = f" (faces found: {r.a.faces_found} and {r.b.faces_found}; largest used)"
        typer.echo(
            f"similarity {cmp.similarity:.4f} (threshold {cmp.threshold:.3f}): {cmp.decision}{extra}"
        )
    raise typer.Exit(0 if cmp.same else 1)


def register(app: typer.Typer) -> None:
    app.command()(detect)
    app.command()(embed)
    app.command()(compare)
