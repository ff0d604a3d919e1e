"""Template encryption: AES-256-GCM round trip, row binding, key files, env keys."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import numpy as np
import pytest

from facegate.core.store.crypto import (
    KeyStore,
    TemplateCipher,
    TemplateKeyError,
    generate_key_b64,
    template_aad,
)


def _vec(seed: int = 0, dim: int = 128) -> np.ndarray:
    v = np.random.default_rng(seed).standard_normal(dim).astype(np.float32)
    return v / np.linalg.norm(v)


def test_first_start_creates_a_0600_key_file(tmp_path: Path) -> None:
    ks = KeyStore(tmp_path / "keys")
    ring = ks.load(create=True)
    files = list((tmp_path / "keys").glob("template-*.key"))
    assert len(files) == 1
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "keys").stat().st_mode) == 0o700
    assert len(base64.b64decode(files[0].read_text())) == 32
    assert ks.load(create=False).current_id == ring.current_id  # reused, not recreated


def test_missing_key_without_create_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(TemplateKeyError, match="no template key"):
        KeyStore(tmp_path / "keys").load(create=False)


def test_key_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    ks = KeyStore(tmp_path / "keys")
    ks.load()
    path = next((tmp_path / "keys").glob("template-*.key"))
    os.chmod(path, 0o644)
    with pytest.raises(TemplateKeyError, match="chmod 600"):
        ks.load()


def test_round_trip_and_ciphertext_hides_the_vector(tmp_path: Path) -> None:
    cipher = TemplateCipher(KeyStore(tmp_path / "keys").load())
    v = _vec()
    key_id, blob = cipher.encrypt(v, template_aad(1, 2))
    assert key_id == cipher.current_key_id
    assert v.tobytes() not in blob
    np.testing.assert_array_equal(cipher.decrypt(key_id, blob, template_aad(1, 2)), v)
    _, blob2 = cipher.encrypt(v, template_aad(1, 2))
    assert blob2 != blob  # fresh nonce every time


@pytest.mark.parametrize("aad", [template_aad(2, 2), template_aad(1, 3)])
def test_ciphertext_swapped_to_another_row_fails(tmp_path: Path, aad: bytes) -> None:
    cipher = TemplateCipher(KeyStore(tmp_path / "keys").load())
    key_id, blob = cipher.encrypt(_vec(), template_aad(1, 2))
    with pytest.raises(TemplateKeyError, match="does not authenticate"):
        cipher.decrypt(key_id, blob, aad)


def test_tampered_ciphertext_fails(tmp_path: Path) -> None:
    cipher = TemplateCipher(KeyStore(tmp_path / "keys").load())
    key_id, blob = cipher.encrypt(_vec(), template_aad(1, 1))
    bad = bytes([blob[0]]) + bytes([blob[1] ^ 1]) + blob[2:]
    with pytest.raises(TemplateKeyError):
        cipher.decrypt(key_id, bad, template_aad(1, 1))
    with pytest.raises(TemplateKeyError, match="truncated"):
        cipher.decrypt(key_id, blob[:10], template_aad(1, 1))


def test_env_key_is_current_and_previous_still_decrypts(tmp_path: Path) -> None:
    old, new = generate_key_b64(), generate_key_b64()
    c_old = TemplateCipher(KeyStore(tmp_path / "keys", env_key=old).load())
    key_id, blob = c_old.encrypt(_vec(3), template_aad(5, 6))
    ring = KeyStore(tmp_path / "keys", env_key=new, env_previous=old).load()
    assert ring.current_id != key_id and ring.source == "env"
    np.testing.assert_array_equal(
        TemplateCipher(ring).decrypt(key_id, blob, template_aad(5, 6)), _vec(3)
    )
    assert not (tmp_path / "keys").exists()  # env keys never write files
    only_new = TemplateCipher(KeyStore(tmp_path / "keys", env_key=new).load())
    with pytest.raises(TemplateKeyError, match="not available"):
        only_new.decrypt(key_id, blob, template_aad(5, 6))


@pytest.mark.parametrize(
    ("value", "message"),
    [("not base64!!", "not valid base64"), (base64.b64encode(b"short").decode(), "32 bytes")],
)
def test_bad_env_key_is_a_clear_error(tmp_path: Path, value: str, message: str) -> None:
    with pytest.raises(TemplateKeyError, match=message):
        KeyStore(tmp_path / "keys", env_key=value).load()


def test_cipher_follows_a_rotation_made_by_another_process(tmp_path: Path) -> None:
    ks = KeyStore(tmp_path / "keys")
    server = TemplateCipher(ks.load(), ks)  # long-running process
    old_id, old_blob = server.encrypt(_vec(1), template_aad(1, 1))
    other = KeyStore(tmp_path / "keys")  # e.g. `facegate keys rotate`
    new_id = other.create_key_file()
    reencrypted = TemplateCipher(other.load(), other).encrypt(_vec(1), template_aad(1, 1))
    assert reencrypted[0] == new_id
    np.testing.assert_array_equal(server.decrypt(*reencrypted, template_aad(1, 1)), _vec(1))
    other.remove_key_files(keep={new_id})
    key_id, _ = server.encrypt(_vec(2), template_aad(2, 2))
    assert key_id == new_id != old_id  # never writes with the deleted key
    with pytest.raises(TemplateKeyError, match="not available"):
        server.decrypt(old_id, old_blob, template_aad(1, 1))
