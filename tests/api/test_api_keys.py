"""API keys: `smartmarket api-key create`, the keys file format, and the server-side key store."""

from __future__ import annotations

import os
import stat
import time
from pathlib import Path

import pytest

from serving.auth import KeyStore
from smartmarket.api_keys import hash_key, keys_file, parse_keys, read_keys
from smartmarket.cli import main


def test_create_appends_a_hash_and_prints_the_key_once(tmp_path: Path, capsys, monkeypatch) -> None:
    path = tmp_path / "keys.txt"
    monkeypatch.setenv("SMARTMARKET_API_KEYS_FILE", str(path))
    assert main(["api-key", "create", "--tenant", "jeweller_01"]) == 0
    first = capsys.readouterr().out.strip().splitlines()[-1]
    assert main(["api-key", "create", "--tenant", "*"]) == 0
    second = capsys.readouterr().out.strip().splitlines()[-1]
    assert first.startswith("sm_") and second.startswith("sm_") and first != second
    text = path.read_text()
    assert first not in text and second not in text  # only hashes are stored
    assert [(e.scope, e.digest) for e in read_keys(path).entries] == [("jeweller_01", hash_key(first)),
                                                                      ("*", hash_key(second))]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600


def test_create_refuses_a_tenant_the_file_cannot_hold(tmp_path: Path, capsys) -> None:
    path = tmp_path / "keys.txt"
    assert main(["api-key", "create", "--tenant", "a:b", "--keys-file", str(path)]) == 2
    assert "a:b" in capsys.readouterr().err and not path.exists()


def test_default_keys_file_is_in_the_data_dir(data_dir: Path, monkeypatch) -> None:
    monkeypatch.delenv("SMARTMARKET_API_KEYS_FILE", raising=False)
    assert keys_file() == data_dir / "api_keys.txt"


def test_malformed_lines_are_reported_with_their_line_number_and_ignored() -> None:
    good = hash_key("k")
    parsed = parse_keys(f"# comment\n\n*:{good}\nno-colon\njeweller_01:sm_plainkey\n a b:{good}\n", "keys.txt")
    assert [(e.scope, e.line) for e in parsed.entries] == [("*", 3)]
    assert [p.split(":")[0] for p in parsed.problems] == ["keys.txt line 4", "keys.txt line 5", "keys.txt line 6"]
    assert "never keys" in parsed.problems[1]


def test_key_store_reloads_when_the_file_changes(tmp_path: Path) -> None:
    path = tmp_path / "keys.txt"
    store = KeyStore(path)
    assert store.scope_of("sm_a") is None and "does not exist" in store.status()["error"]
    path.write_text(f"grocer_01:{hash_key('sm_a')}\n")
    time.sleep(1.1)  # the store looks at the file at most once a second
    assert store.scope_of("sm_a") == "grocer_01" and store.scope_of("sm_b") is None
    path.write_text(f"grocer_01:{hash_key('sm_a')}\n*:{hash_key('sm_b')}\n")
    time.sleep(1.1)
    assert store.scope_of("sm_b") == "*"


@pytest.mark.parametrize("raw", ["", "x" * 64, "G" * 64])
def test_a_digest_must_be_64_hex_characters(raw: str) -> None:
    assert parse_keys(f"*:{raw}\n").entries == []
