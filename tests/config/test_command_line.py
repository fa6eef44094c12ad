"""ato 2.1.7's command tokenizer (``ato.parser``): the same tokens, and nothing evaluated."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ato.parser import (
    parse_backtick_string,
    parse_bracketed_value,
    parse_command,
    parse_value,
)
from tests.conftest import reference_python


@pytest.mark.parametrize(
    ("command", "tokens"),
    [
        ("train lr=0.1 model=resnet", ["train", "lr=0.1", "model=resnet"]),
        ("  a=[1, 2, [3, 4]] b=(x, y)  ", ["a=[1, 2, [3, 4]]", "b=(x, y)"]),
        ("msg=%hello world% next", ["msg=%hello world%", "next"]),
        ("d={'k': %a b%} z", ["d={'k': %a b%}", "z"]),
        ("p=%100%% sure% q", ["p=%100%% sure%", "q"]),
        ("e=[a\\] b] c", ["e=[a\\] b]", "c"]),
        ("k= v", ["k=", "v"]),
        ("k=", ["k="]),
        ("", []),
        ("x=[unclosed (", ["x=[unclosed ("]),
    ],
)
def test_commands_split_as_in_ato_2_1_7(command: str, tokens: list[str]) -> None:
    assert parse_command(command) == tokens


def test_each_reader_returns_the_text_and_where_it_ended() -> None:
    assert parse_value("a b", 0) == ("a", 1)
    assert parse_value("x", 5) == ("", 5)
    assert parse_backtick_string("%a\\%b% c", 0) == ("%a\\%b%", 6)
    assert parse_bracketed_value("(a, [b)], c) d", 0) == ("(a, [b)], c)", 12)
    with pytest.raises(ValueError, match="starts with '%'"):
        parse_backtick_string("abc", 0)
    with pytest.raises(ValueError, match="starts with one of"):
        parse_bracketed_value("abc", 1)


@given(st.text(alphabet="ab =%[](){}\\,x'\"", max_size=30))
def test_tokens_are_pieces_of_the_command_and_nothing_runs(command: str) -> None:
    tokens = parse_command(command)
    assert all(isinstance(token, str) and token for token in tokens)
    rebuilt = "".join(command.split())
    assert "".join("".join(token.split()) for token in tokens) == rebuilt  # only whitespace is dropped


def test_the_same_tokens_as_the_real_ato_2_1_7(tmp_path: Path) -> None:
    """Differential: the real 2.1.7 tokenizer (its own environment) on the same random commands."""
    import json
    import os
    import random
    import subprocess

    reference = reference_python()
    generator = random.Random(5)
    commands = ["".join(generator.choice("ab =%[](){}\\,x'") for _ in range(generator.randint(0, 16)))
                for _ in range(3000)]
    (tmp_path / "commands.json").write_text(json.dumps(commands))
    script = "import json, sys; from ato.parser import parse_command; " \
             "print(json.dumps([parse_command(c) for c in json.load(open(sys.argv[1]))]))"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run([reference, "-c", script, str(tmp_path / "commands.json")], capture_output=True,
                            text=True, check=True, timeout=120, env=env, cwd=tmp_path)
    assert json.loads(result.stdout) == [parse_command(command) for command in commands]
