"""``facegate people …`` (incl. ``reembed``), ``identify``, ``verify``, ``db upgrade``, ``keys rotate``."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import cv2
import typer

from facegate.core.auth.principal import CLI_PRINCIPAL
from facegate.core.cli import container, fail, print_json
from facegate.core.domain import Identification
from facegate.core.people.enrollment import EnrollImage, EnrollmentResult, EnrollOptions, sha256_of
from facegate.core.store.groups import parse_groups
from facegate.core.store.people import PersonInfo
from facegate.core.vision.draw import GREEN, RED, draw_labelled
from facegate.core.vision.images import decode_labeled

people_app = typer.Typer(help="Enrol, list, show, import and remove people.", no_args_is_help=True)
db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)
keys_app = typer.Typer(help="Template encryption keys.", no_args_is_help=True)

ImageArg = Annotated[Path, typer.Argument(help="Image file (JPEG, PNG, …)", exists=False)]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON")]
GroupOpt = Annotated[
    list[str] | None,
    typer.Option("--group", "-g", help="Group(s): repeat the option or give a comma list"),
]
DuplicateOpt = Annotated[
    bool,
    typer.Option(help="Enrol even if the face matches another person of the groups (audited)"),
]
ACTOR = "cli"


def _store() -> Any:
    c = container()
    c.prepare_store()
    return c


def _person_json(p: PersonInfo) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": p.external_id,
        "display_name": p.display_name,
        "samples": p.sample_count,
        "stored_images": p.stored_images,
        "groups": list(p.groups),
        "created_at": p.created_at.isoformat(),
        "updated_at": p.updated_at.isoformat(),
    }
    if p.templates:
        out["templates"] = [
            {
                "id": t.id,
                "model": t.model,
                "model_version": t.model_version,
                "mean": t.is_mean,
                "sample_count": t.sample_count,
                "source": t.source,
                "quality": t.quality,
                "created_at": t.created_at.isoformat(),
            }
            for t in p.templates
        ]
    return out


def plural(n: int, word: str) -> str:
    """``1 sample``, ``2 samples``."""
    return f"{n} {word}{'' if n == 1 else 's'}"


def people(n: int) -> str:
    return f"{n} {'person' if n == 1 else 'people'}"


def _read(c: Any, path: Path) -> EnrollImage:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise fail(f"{path}: cannot read file ({exc.strerror or exc})") from None
    return EnrollImage(decode_labeled(data, c.image_limits, str(path)), str(path), sha256_of(data))


def add(
    name: Annotated[str, typer.Argument(help="External id (username, customer id, …)")],
    images: Annotated[list[Path], typer.Argument(help="One or more images of the person")],
    display_name: Annotated[str | None, typer.Option(help="Name shown (default: the id)")] = None,
    group: GroupOpt = None,
    allow_duplicate: DuplicateOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Enrol a person (or add samples to them) from one or more images.

    A new person joins --group (default: 'default'); a face already enrolled as another person
    of those groups is refused unless --allow-duplicate."""
    c = _store()
    items = [_read(c, p) for p in images]
    options = EnrollOptions(parse_groups(group), CLI_PRINCIPAL, allow_duplicate)
    r = c.enrollment.enroll(name, items, display_name, source="upload", actor=ACTOR,
                            options=options)
    if as_json:
        print_json(_enrol_json(r))
        return
    verb = "enrolled" if r.created else "added samples to"
    typer.echo(
        f"{verb} {r.person.external_id}: {len(r.accepted)} accepted, {len(r.rejected)} rejected "
        f"({plural(r.person.sample_count, 'sample')}, model {r.model}, "
        f"groups {','.join(r.groups) or '-'})"
    )
    if r.duplicate_of is not None:
        typer.echo(f"  warning: enrolled although the face matches {r.duplicate_of} (audited)")
    for o in r.rejected:
        typer.echo(f"  rejected {o.label}: {o.reason}")


def _enrol_json(r: EnrollmentResult) -> dict[str, Any]:
    return {
        "person": _person_json(r.person),
        "created": r.created,
        "model": r.model,
        "accepted": [o.label for o in r.accepted],
        "rejected": [{"image": o.label, "reason": o.reason} for o in r.rejected],
    }


def list_people(as_json: JsonOpt = False) -> None:
    """List enrolled people."""
    everyone = _store().enrollment.list_people(limit=1_000_000)
    if as_json:
        print_json([_person_json(p) for p in everyone])
        return
    typer.echo(people(len(everyone)))
    if not everyone:
        return
    rows = [("ID", "NAME", "SAMPLES", "GROUPS", "IMAGES")] + [
        (p.external_id, p.display_name, str(p.sample_count), ",".join(p.groups) or "-",
         str(p.stored_images))
        for p in everyone
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in rows:
        typer.echo("  " + "  ".join(c.ljust(w) for c, w in zip(r[:4], widths, strict=True)) + "  " + r[4])


def show(name: Annotated[str, typer.Argument(help="External id")], as_json: JsonOpt = False) -> None:
    """Show a person and their templates (never the embeddings)."""
    p = _store().enrollment.show_person(name)
    if as_json:
        print_json(_person_json(p))
        return
    typer.echo(
        f"{p.external_id} ({p.display_name}): {plural(p.sample_count, 'sample')}, "
        f"{plural(p.stored_images, 'stored image')}, groups {','.join(p.groups) or '-'}, "
        f"created {p.created_at:%Y-%m-%d %H:%M}"
    )
    for t in p.templates:
        kind = f"mean of {t.sample_count}" if t.is_mean else t.source
        typer.echo(f"  template {t.id}: {t.model} v{t.model_version}, {kind}, {t.created_at:%Y-%m-%d %H:%M}")


def remove(
    name: Annotated[str, typer.Argument(help="External id")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask")] = False,
) -> None:
    """Erase a person: templates, search vectors, stored face images, import records (right to
    erasure)."""
    c = _store()
    if not yes:
        try:
            confirmed = typer.confirm(f"erase {name} and all their templates and images?")
        except typer.Abort:  # no terminal (or end of input): never erase without an answer
            raise fail("no answer to the confirmation; pass --yes (-y) to erase without asking") from None
        if not confirmed:
            typer.echo("not removed", err=True)
            raise typer.Exit(1)
    info = c.enrollment.remove_person(name, actor=ACTOR)
    typer.echo(
        f"removed {info.external_id}: {plural(info.sample_count, 'sample')}, "
        f"{plural(info.stored_images, 'stored image')} erased"
    )


def import_dir(
    directory: Annotated[Path, typer.Argument(help="DIR/<name>/*.jpg or DIR/<first_last>.jpg")],
    as_json: JsonOpt = False,
    progress: Annotated[bool, typer.Option(help="Show a progress bar")] = True,
    group: GroupOpt = None,
    allow_duplicate: DuplicateOpt = False,
) -> None:
    """Import a folder of people (idempotent: images already imported are skipped).

    New people join --group (default: 'default'); a person whose face is already enrolled as
    someone else of those groups is refused (listed) unless --allow-duplicate."""
    from tqdm import tqdm

    from facegate.features.faces.importer import ImportPerson, import_people

    c = _store()

    def bar(it: Iterator[ImportPerson], total: int) -> Iterator[ImportPerson]:
        with tqdm(total=total, unit="person", disable=not progress, desc="import",
                  file=sys.stderr) as t:
            for person in it:
                t.set_postfix_str(person.external_id[:30])
                yield person
                t.update(1)

    options = EnrollOptions(parse_groups(group), CLI_PRINCIPAL, allow_duplicate)
    summary = import_people(c.enrollment, directory, bar, actor=ACTOR, options=options)
    if as_json:
        print_json(summary.as_dict())
        return
    typer.echo(
        f"{people(summary.people_enrolled)} enrolled ({plural(summary.images_enrolled, 'image')}), "
        f"{len(summary.rejected)} rejected, {plural(len(summary.duplicates), 'duplicate')}, "
        f"{summary.already_imported} already imported, {people(summary.people_seen)} seen"
    )
    for path, reason in summary.rejected:
        typer.echo(f"  rejected {path}: {reason}")
    for path, owner in summary.duplicates:
        typer.echo(f"  duplicate {path} (same image as {owner})")
    for who, reason in summary.duplicate_faces:
        typer.echo(f"  refused {who}: {reason}")


def reembed(
    model: Annotated[
        str, typer.Option("--model", help="Model pack to build templates for (e.g. dlib, arcface-mbf)")
    ],
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Also rebuild people who already have templates of that model (earlier "
            "rebuilt samples are replaced; enrolled ones are kept)",
        ),
    ] = False,
    as_json: JsonOpt = False,
    progress: Annotated[bool, typer.Option(help="Show a progress bar")] = True,
) -> None:
    """Rebuild templates for another model pack from the stored face images (no re-enrolment).

    Needs enrolments made with FACEGATE_STORE_FACE_IMAGES=1; skips people with templates of the model.
    """
    from tqdm import tqdm

    from facegate.core.vision.packs import get_pack
    from facegate.features.faces.reembed import PersonRef, ensure_face_images, reembed_people

    c = _store()
    ensure_face_images(c.database)  # before loading a model: a clear error when there is nothing
    pack = get_pack(model)
    try:
        embedder = pack.build(c.embedder_options)
    except ImportError as exc:
        hint = f" (pip install 'facegate[{pack.extra}]')" if pack.extra else ""
        raise fail(f"model pack '{model}' cannot load: {exc}{hint}") from None

    def bar(it: Iterator[PersonRef], total: int) -> Iterator[PersonRef]:
        with tqdm(total=total, unit="person", disable=not progress, desc="reembed",
                  file=sys.stderr) as t:
            for ref in it:
                t.set_postfix_str(ref[1][:30])
                yield ref
                t.update(1)

    summary = reembed_people(
        c.database, c.template_cipher, embedder, model, force=force, progress=bar,
        audit=c.audit, actor=ACTOR,
    )
    if as_json:
        print_json(summary.as_dict())
        return
    typer.echo(
        f"{summary.people_rebuilt} people rebuilt ({summary.samples_added} samples) for model "
        f"{summary.model} (pack {summary.pack}), {len(summary.skipped)} skipped (already have "
        f"{summary.model} templates), {len(summary.failed)} failed, "
        f"{summary.people_seen} people with stored images"
    )
    for ext, reason in summary.failed:
        typer.echo(f"  failed {ext}: {reason}")


def identify(
    image: ImageArg,
    out: Annotated[Path | None, typer.Option("--out", help="Write an annotated image here")] = None,
    group: GroupOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Identify every face of an image: best person or unknown, with top candidates (among the
    people of --group; default: everyone)."""
    c = _store()
    item = _read(c, image)
    groups = c.identification.request_groups(parse_groups(group), CLI_PRINCIPAL)
    results = c.identification.identify_image(item.image, actor=ACTOR, groups=groups)
    if out is not None:
        canvas = item.image.copy()
        draw_labelled(canvas, [
            (r.face.face, f"{r.label} {r.candidates[0].similarity if r.candidates else 0.0:.2f}",
             GREEN if r.known else RED)
            for r in results
        ])
        if not cv2.imwrite(str(out), canvas):
            raise fail(f"cannot write {out}")
    if as_json:
        print_json({"image": str(image), "faces": [identification_json(r) for r in results]})
        return
    typer.echo(f"{image}: {len(results)} face(s) (threshold {c.identification.threshold:.3f})")
    for i, r in enumerate(results, 1):
        cands = ", ".join(f"{x.external_id} {x.similarity:.3f}" for x in r.candidates[:3])
        typer.echo(f"  {i}: {r.best.external_id if r.best else 'unknown'}  [{cands}]")


def identification_json(r: Identification) -> dict[str, Any]:
    return {
        "box": r.face.face.box.as_list(),
        "known": r.known,
        "person": r.best.external_id if r.best else None,
        "label": r.label,
        "similarity": r.candidates[0].similarity if r.candidates else None,
        "candidates": [
            {"id": x.external_id, "display_name": x.display_name, "similarity": x.similarity}
            for x in r.candidates
        ],
        "quality_problems": list(r.face.quality.problems),
    }


def verify(
    name: Annotated[str, typer.Argument(help="External id of the claimed person")],
    image: ImageArg,
    group: GroupOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """1:1: is the largest face of IMAGE this person (of --group, if given)? Exit 0 granted,
    1 denied, 2 error."""
    c = _store()
    groups = c.identification.request_groups(parse_groups(group), CLI_PRINCIPAL)
    v = c.identification.verify(name, _read(c, image).image, actor=ACTOR, groups=groups)
    if as_json:
        print_json(
            {"person": v.external_id, "verified": v.verified, "decision": v.decision,
             "similarity": v.similarity, "threshold": v.threshold, "faces_found": v.faces_found}
        )
    else:
        typer.echo(
            f"{v.external_id}: similarity {v.similarity:.4f} "
            f"(threshold {v.threshold:.3f}): {v.decision}"
        )
    raise typer.Exit(0 if v.verified else 1)


def db_upgrade() -> None:
    """Run the database migrations to the newest revision."""
    c = container()
    c.settings.data_dir.mkdir(parents=True, exist_ok=True)
    before = c.database.current_revision()
    c.database.upgrade()
    after = c.database.current_revision()
    url = c.database.url.render_as_string(hide_password=True)
    typer.echo(f"database {url}: {before or 'empty'} -> {after}")


def db_current() -> None:
    """Print the database's migration revision and the newest one."""
    c = container()
    typer.echo(f"current {c.database.current_revision() or 'empty'}, head {c.database.head_revision()}")


def keys_rotate() -> None:
    """Re-encrypt every template and stored face image under a new key; old key files are
    deleted when done."""
    from facegate.core.store.keys import rotate_template_keys

    c = _store()
    r = rotate_template_keys(c.database, c.keystore)
    removed = ", ".join(r.removed_key_files) or "none"
    images = f" and {r.reencrypted_images} stored face images" if r.reencrypted_images else ""
    typer.echo(
        f"re-encrypted {r.reencrypted} templates{images} with key {r.new_key_id}; "
        f"removed key files: {removed}"
    )


def register(app: typer.Typer) -> None:
    people_app.command("add")(add)
    people_app.command("list")(list_people)
    people_app.command("show")(show)
    people_app.command("remove")(remove)
    people_app.command("import")(import_dir)
    people_app.command("reembed")(reembed)
    db_app.command("upgrade")(db_upgrade)
    db_app.command("current")(db_current)
    keys_app.command("rotate")(keys_rotate)
    app.add_typer(people_app, name="people")
    app.add_typer(db_app, name="db")
    app.add_typer(keys_app, name="keys")
    app.command()(identify)
    app.command()(verify)
    from facegate.features.faces import cli_groups

    cli_groups.register(app, people_app)
