"""The master key: decoded from SOLBOT_MASTER_KEY, generated beside the data on the simnet only."""

from __future__ import annotations

import base64
import stat
from pathlib import Path

import pytest
from pydantic import SecretStr

from solbot.errors import ConfigError
from solbot.keystore import MasterKey, load_master_key


def test_decodes_base64_of_32_bytes() -> None:
    """base64 of 32 bytes is a master key holding exactly those bytes."""
    raw = bytes(range(32))
    key = MasterKey.from_base64(SecretStr(base64.b64encode(raw).decode()))
    assert key.secret_bytes() == raw
    assert key.version == 1


@pytest.mark.parametrize("value", ["not base64!!", base64.b64encode(b"short").decode(), ""])
def test_invalid_value_names_the_variable_and_hides_the_value(value: str) -> None:
    """A bad setting fails with one line naming SOLBOT_MASTER_KEY, never echoing what was given."""
    with pytest.raises(ConfigError) as caught:
        MasterKey.from_base64(SecretStr(value))
    message = str(caught.value)
    assert message.startswith("invalid setting SOLBOT_MASTER_KEY")
    if value:
        assert value not in message
    assert caught.value.__cause__ is None


def test_required_outside_the_simnet() -> None:
    """Without SOLBOT_MASTER_KEY and off the simnet the bot refuses to start."""
    with pytest.raises(ConfigError, match="SOLBOT_MASTER_KEY: required outside the simnet"):
        load_master_key(None, simnet_key_path=None)


def test_setting_wins_over_the_simnet_file(tmp_path: Path) -> None:
    """A configured key is used even on the simnet, and no file is written."""
    raw = bytes(32)
    key = load_master_key(
        SecretStr(base64.b64encode(raw).decode()), simnet_key_path=tmp_path / "master.key"
    )
    assert key.secret_bytes() == raw
    assert not (tmp_path / "master.key").exists()


def test_simnet_key_is_generated_once_with_mode_0600(tmp_path: Path) -> None:
    """On the simnet a key file is created owner-only and read back unchanged on later starts."""
    path = tmp_path / "data" / "master.key"
    first = load_master_key(None, simnet_key_path=path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = MasterKey.generate_for_simnet(path)
    assert again == first


def test_simnet_key_file_permissions_are_tightened(tmp_path: Path) -> None:
    """A key file readable by others is made owner-only when read."""
    path = tmp_path / "master.key"
    MasterKey.generate_for_simnet(path)
    path.chmod(0o644)
    MasterKey.generate_for_simnet(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_corrupt_simnet_key_file_is_reported(tmp_path: Path) -> None:
    """A damaged key file stops the start with a message naming the file, not its content."""
    path = tmp_path / "master.key"
    path.write_text("garbage-content")
    with pytest.raises(ConfigError, match="corrupt") as caught:
        MasterKey.generate_for_simnet(path)
    assert "garbage-content" not in str(caught.value)
