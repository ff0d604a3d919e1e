"""Training recipes and test sets of the passive anti-spoof CNN, and the cross-dataset protocol.

Training sources (bona fide ↔ attack):

* ``nuaa``: NUAA training split, real ↔ printed photos;
* ``synth``: LFW training identities ↔ screen/print attacks synthesised from those same crops;
* ``nuaa+synth`` (the shipped recipe): both, plus attacks synthesised from NUAA's real crops.

Test sets: ``nuaa-test`` (NUAA test split, real ↔ print), ``synth-lfw`` (LFW test identities ↔
attacks synthesised from them with another seed), ``video`` (every frame of the shared videos ↔
attacks synthesised from those frames). Real crops enter training as they are and once more with
live-capture variation (``spoof_synth.benign``); attack crops get the same variation.

The threshold is chosen on training data only: 1 in 7 training groups (subjects, identities) is
held out, the network is trained on the rest, and the threshold is the held-out bona fide score
below which ``VAL_BPCER`` of them fall.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from facegate.core.liveness.antispoof import CNN_INPUT_SIZE
from facegate.research.training.spoof_data import CropSet
from facegate.research.training.spoof_synth import benign, synthesise

U8 = npt.NDArray[np.uint8]
F64 = npt.NDArray[np.float64]
VAL_BPCER = 0.01
VAL_EVERY = 7


@dataclass(frozen=True)
class Recipe:
    """Bona fide sources, real attack sources, and real sources to synthesise attacks from."""

    real: tuple[str, ...]
    attack: tuple[str, ...]
    synth_from: tuple[str, ...]


RECIPES = {
    "nuaa": Recipe(("nuaa-train-real",), ("nuaa-train-spoof",), ()),
    "synth": Recipe(("lfw-train",), (), ("lfw-train",)),
    "nuaa+synth": Recipe(
        ("nuaa-train-real", "lfw-train"), ("nuaa-train-spoof",), ("lfw-train", "nuaa-train-real")
    ),
}
# which training recipe each test set is in-domain for (not cross-dataset)
IN_DOMAIN = {
    "nuaa-test": ("nuaa", "nuaa+synth", "shipped", "linear (old, NUAA)"),
    "synth-lfw": ("synth", "nuaa+synth", "shipped"),
    "video": (),
}
TEST_SETS = {
    "nuaa-test": ("nuaa-test-real", "nuaa-test-spoof", None),
    "synth-lfw": ("lfw-test", None, 1001),
    "video": ("video", None, 1002),
}


def shrink(crops: U8, size: int = CNN_INPUT_SIZE) -> U8:
    out = np.empty((len(crops), size, size, 3), np.uint8)
    for i, c in enumerate(crops):
        out[i] = cv2.resize(c, (size, size), interpolation=cv2.INTER_AREA)
    return out


def _stable_seed(*parts: object) -> int:
    return int.from_bytes(hashlib.sha256(repr(parts).encode()).digest()[:4], "little")


def _benign_all(crops: U8, seed: int) -> U8:
    rng = np.random.default_rng(seed)
    return np.stack([benign(c, rng) for c in crops]) if len(crops) else crops


def is_val_group(group: str) -> bool:
    return _stable_seed("val", group) % VAL_EVERY == 0


@dataclass
class Split:
    """Model-input crops (N × S × S × 3) of the training part and the held-out part."""

    train_real: U8
    train_attack: U8
    val_real: U8
    val_attack: U8


def _parts(sets: Sequence[CropSet]) -> tuple[list[U8], list[U8]]:
    train: list[U8] = []
    val: list[U8] = []
    for s in sets:
        mask = np.array([is_val_group(g) for g in s.groups], bool)
        train.append(s.crops[~mask])
        val.append(s.crops[mask])
    return train, val


def build_split(recipe: Recipe, sources: dict[str, CropSet], seed: int) -> Split:
    """Synthesise the recipe's attacks, hold out validation groups, shrink to the model input."""
    synth = [
        CropSet(
            f"synth:{n}",
            synthesise(sources[n].crops, _stable_seed(seed, n)),
            sources[n].groups,
            sources[n].yaw,
        )
        for n in recipe.synth_from
    ]
    real_tr, real_val = _parts([sources[n] for n in recipe.real])
    att_tr, att_val = _parts([sources[n] for n in recipe.attack] + synth)

    def train_side(parts: list[U8], tag: str) -> U8:
        plain = np.concatenate(parts)
        return shrink(np.concatenate([plain, _benign_all(plain, _stable_seed(seed, tag))]))

    return Split(
        train_real=train_side(real_tr, "real"),
        train_attack=train_side(att_tr, "attack"),
        val_real=shrink(np.concatenate(real_val)),
        val_attack=shrink(np.concatenate(att_val)),
    )


@dataclass
class SpoofTestSet:
    name: str
    real: U8
    attack: U8
    real_yaw: F64
    real_groups: list[str]


def build_test_set(name: str, sources: dict[str, CropSet]) -> SpoofTestSet:
    real_name, attack_name, synth_seed = TEST_SETS[name]
    real = sources[real_name]
    if attack_name is not None:
        attack = sources[attack_name].crops
    else:
        attack = synthesise(real.crops, int(synth_seed or 0))
    return SpoofTestSet(name, shrink(real.crops), shrink(attack), real.yaw, real.groups)


def sources_needed(recipes: Sequence[str], tests: Sequence[str]) -> list[str]:
    names: list[str] = []
    for r in recipes:
        rc = RECIPES[r]
        names += [*rc.real, *rc.attack, *rc.synth_from]
    for t in tests:
        real_name, attack_name, _ = TEST_SETS[t]
        names += [real_name] + ([attack_name] if attack_name else [])
    return list(dict.fromkeys(names))


def val_threshold(live: F64, target_bpcer: float = VAL_BPCER) -> float:
    """The score below which ``target_bpcer`` of the held-out bona fide crops fall."""
    return float(np.quantile(live, target_bpcer, method="lower"))


ScoreFn = Callable[[U8], F64]
