"""Keypair files (onchain/sdk/keys.py): a missing file becomes a fresh saved key that comes back the
same; a file that is not a Solana keypair is an error naming it, never silently replaced."""
import pytest

from game.backends import GameSetupError, load_keypair
from onchain.sdk.keys import read_keypair, read_or_create


def test_fresh_key_is_saved_and_read_back(tmp_path):
    path = tmp_path / "sub" / "p1.json"
    kp, created = read_or_create(path)
    assert created and path.exists()
    again, created = read_or_create(path)
    assert not created and again == kp == read_keypair(path)


def test_malformed_file_is_an_error_and_kept(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text("[1, 2, 3]")
    with pytest.raises(ValueError, match="bad.json: not a Solana keypair file"):
        read_or_create(path)
    with pytest.raises(GameSetupError, match="bad.json"):
        load_keypair(str(path))
    assert path.read_text() == "[1, 2, 3]"
