"""Command-line literals are data: every accepted form, every refusal, and no execution ever."""

from __future__ import annotations

import math
import struct
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ato.config.literals import (
    Assignment,
    ManualRequest,
    ViewRequest,
    format_literal,
    parse_argv,
    parse_value,
)
from ato.errors import CLIArgumentError
from tests.conftest import run_script


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3", 3),
        ("-3", -3),
        ("1_000", 1000),
        ("0.5", 0.5),
        ("1e-3", 1e-3),
        ("-2.5e3", -2500.0),
        ("'a b'", "a b"),
        ('"x=y"', "x=y"),
        ("True", True),
        ("false", False),
        ("None", None),
        ("null", None),
        ("[1, 2, 3]", [1, 2, 3]),
        ("(1, 2)", (1, 2)),
        ("(1,)", (1,)),
        ("()", ()),
        ("{'a': 1, 'b': [1, (2, 3)]}", {"a": 1, "b": [1, (2, 3)]}),
        ("{1, 2}", {1, 2}),
        ("[[[]]]", [[[]]]),
        ("%with spaces and = signs%", "with spaces and = signs"),
        ("%%", ""),
        ("resnet50", "resnet50"),
        ("resnet-50", "resnet-50"),
        ("/data/imagenet", "/data/imagenet"),
        ("2024-01-01", "2024-01-01"),
        ("3rd", "3rd"),
        ("os.system", "os.system"),
        ("[resnet, vgg]", ["resnet", "vgg"]),
        ("1j", 1j),
    ],
)
def test_accepted_values(text: str, expected: object) -> None:
    value = parse_value(text)
    assert value == expected
    assert type(value) is type(expected)


@pytest.mark.parametrize("text", ["inf", "-inf", "+inf", "Inf", "nan", "NaN"])
def test_non_finite_floats(text: str) -> None:
    value = parse_value(text)
    assert isinstance(value, float) and not math.isfinite(value)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("__import__('os').getcwd()", "a call"),
        ("().__class__", "an attribute access"),
        ("().__class__.__bases__[0].__subclasses__()", "a call"),
        ("[].__class__", "an attribute access"),
        ("(lambda: 1)()", "a call"),
        ("lambda: 1", "a lambda"),
        ("x[0]", "a subscript"),
        ("1/3", "an arithmetic expression"),
        ("[1, 2 + 3]", "an arithmetic expression"),
        ("[f(x)]", "a call"),
        ("{**a}", "a dict unpacking"),
        ("[*a]", "an unpacking"),
        ("[1, 2", "malformed literal"),
        ("'unterminated", "malformed literal"),
        ("{'a': }", "malformed literal"),
        ("", "empty value"),
        ("[...]", "not a literal"),
        ("(yield)", "not a literal"),
        ("[x for x in y]", "not a literal"),
        ("a if b else c", "not a literal"),
        ("__import__('os').system('echo pwned')", "a call"),
    ],
)
def test_refused_values_name_the_token_and_reason(text: str, reason: str) -> None:
    with pytest.raises(CLIArgumentError) as info:
        parse_value(text, token=f"x={text}")
    message = str(info.value)
    assert f"x={text}" in message or repr(f"x={text}") in message
    assert reason in message


def test_parse_argv_splits_views_assignments_and_manual() -> None:
    tokens = parse_argv(["high_lr", "model.high_lr", "lr=0.01", "model.backbone=%resnet 101%", "manual"])
    assert tokens == [
        ViewRequest("high_lr"),
        ViewRequest("model.high_lr"),
        Assignment(("lr",), 0.01, "lr=0.01"),
        Assignment(("model", "backbone"), "resnet 101", "model.backbone=%resnet 101%"),
        ManualRequest(),
    ]


def test_value_may_contain_equals_sign() -> None:
    (token,) = parse_argv(["expr=%a=b%"])
    assert token == Assignment(("expr",), "a=b", "expr=%a=b%")


@pytest.mark.parametrize(
    ("arg", "reason"),
    [
        ("--lr=3", "is not a config key"),
        ("--verbose", "not --key"),
        ("a..b=1", "is not a config key"),
        ("1abc=2", "is not a config key"),
        ("my-view", "expected a view name or key=value"),
        ("lr=().__class__", "an attribute access"),
    ],
)
def test_parse_argv_refuses_malformed_tokens(arg: str, reason: str) -> None:
    with pytest.raises(CLIArgumentError) as info:
        parse_argv([arg])
    assert repr(arg) in str(info.value)
    assert reason in str(info.value)


def test_errors_are_value_errors() -> None:
    with pytest.raises(ValueError):
        parse_value("[1,")


# -- properties ---------------------------------------------------------------------------------
_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text()
    | st.binary(max_size=8)
)
literals = st.recursive(
    _scalars,
    lambda children: st.lists(children, max_size=4)
    | st.lists(children, max_size=4).map(tuple)
    | st.dictionaries(st.text(max_size=5) | st.integers(), children, max_size=4),
    max_leaves=20,
)


def _same(a: object, b: object) -> bool:
    """Equal values and types, floats compared bit for bit (so -0.0 counts); text keeps a NaN's
    sign but not its payload bits."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b) and math.copysign(1, a) == math.copysign(1, b)  # type: ignore[arg-type]
    if isinstance(a, float):
        return struct.pack("<d", a) == struct.pack("<d", b)  # type: ignore[arg-type]
    if isinstance(a, complex):
        return _same(a.real, b.real) and _same(a.imag, b.imag)  # type: ignore[union-attr]
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))  # type: ignore[arg-type]
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)  # type: ignore[index]
    return a == b


@settings(max_examples=300)
@given(literals)
def test_format_then_parse_round_trips_exactly(value: object) -> None:
    assert _same(parse_value(format_literal(value)), value)


_audit_events: list[str] = []
_auditing = False


def _audit(event: str, args: object) -> None:
    if _auditing and event in {"exec", "import", "os.system", "subprocess.Popen", "open"}:
        _audit_events.append(event)


sys.addaudithook(_audit)

_LITERAL_TYPES = (str, int, float, complex, bool, bytes, type(None), list, tuple, dict, set)


def _only_data(value: object) -> bool:
    if isinstance(value, dict):
        return all(_only_data(k) and _only_data(v) for k, v in value.items())
    if isinstance(value, (list, tuple, set)):
        return all(_only_data(v) for v in value)
    return type(value) in _LITERAL_TYPES


_code_like = st.sampled_from(
    ["__import__", "(", ")", ".", "__class__", "os", "system", "'", "[", "]", "lambda", ":", "0",
     "exec", "eval", ",", "{", "}", "*", "+", "%", "=", " ", "getattr", "__subclasses__"]
)


@settings(max_examples=500)
@given(st.text() | st.lists(_code_like, max_size=12).map("".join))
def test_no_input_executes_anything(text: str) -> None:
    global _auditing
    _auditing = True
    try:
        value = parse_value(text)
    except CLIArgumentError:
        value = None
    finally:
        _auditing = False
    assert _audit_events == []
    assert _only_data(value)


# -- unhashable keys and huge integers: an error with the token, never a traceback -----------------
@pytest.mark.parametrize(
    ("text", "what", "role"),
    [
        ("{[1]: 2}", "[1]", "a dict key"),
        ("{{1}: 2}", "{1}", "a dict key"),
        ("{{'a': 1}: 2}", "{'a': 1}", "a dict key"),
        ("{(1, [2]): 3}", "(1, [2])", "a dict key"),
        ("{1: {[1]: 2}}", "[1]", "a dict key"),
        ("{[1]}", "[1]", "a set item"),
        ("[{[]}]", "[]", "a set item"),
    ],
)
def test_unhashable_keys_and_set_items_are_refused_by_name(text: str, what: str, role: str) -> None:
    with pytest.raises(CLIArgumentError) as info:
        parse_argv([f"x={text}"])
    message = str(info.value)
    assert repr(f"x={text}") in message and f"{what!r} cannot be {role}: it is unhashable" in message
    assert "\n" not in message


@settings(max_examples=200)
@given(literals, literals)
def test_any_dict_key_is_accepted_exactly_or_refused(key: object, value: object) -> None:
    text = "{" + format_literal(key) + ": " + format_literal(value) + "}"
    try:
        hash(key)
    except TypeError:
        with pytest.raises(CLIArgumentError, match="unhashable"):
            parse_value(text)
    else:
        ((parsed_key, parsed_value),) = parse_value(text).items()
        assert _same(parsed_key, key) and _same(parsed_value, value)


def test_an_integer_too_long_for_decimal_text_is_refused_not_read_as_a_string() -> None:
    digits = "7" * (sys.get_int_max_str_digits() + 1)
    for text in (digits, f"-{digits}", f" {digits} "):
        with pytest.raises(CLIArgumentError, match=r"an integer of more than \d+ digits.*%\.\.\.%"):
            parse_value(text, token=f"n={text}")
    assert parse_value("7" * sys.get_int_max_str_digits()) == int("7" * sys.get_int_max_str_digits())
    assert parse_value("007") == "007"  # leading zeros stay a bare word, as before


@settings(max_examples=50)
@given(st.integers(min_value=0, max_value=10**60), st.booleans())
def test_huge_integers_round_trip_exactly_through_hex(offset: int, negative: bool) -> None:
    value = (10**5000 + offset) * (-1 if negative else 1)
    text = format_literal(value)
    assert text.startswith("-0x" if negative else "0x")
    assert parse_value(text) == value and type(parse_value(text)) is int
    assert format_literal(123) == "123"


SCRIPT = """
    from ato.scope import Scope

    scope = Scope()

    @scope.observe(default=True)
    def defaults(config):
        config.lr = 0.1
        config.x = {}

    @scope
    def main(config):
        print(repr(config.lr), repr(config.x))

    main()
"""


@pytest.mark.parametrize(
    ("arg", "fragment"),
    [
        ("x={[1]: 2}", "'[1]' cannot be a dict key: it is unhashable"),
        ("x={{1}: 2}", "'{1}' cannot be a dict key: it is unhashable"),
        ("lr=10**400", "'10**400' is an arithmetic expression"),
        ("lr=" + "1" * 5000, "an integer of more than"),
        ("lr=0x" + "f" * 5000, "an integer of more than"),
    ],
)
def test_bad_literals_exit_with_status_2_and_one_line(tmp_path: Path, arg: str, fragment: str) -> None:
    result = run_script(tmp_path, SCRIPT, arg, check=False)
    assert result.returncode == 2, result.stderr[-2000:]
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: command-line argument")
    assert fragment in result.stderr


def test_an_integer_too_long_for_decimal_text_is_refused_on_the_command_line_in_any_base() -> None:
    # parse_value reads it exactly (XYZ files keep it), but the merge record writes decimal.
    huge = hex(16**5000 - 1)
    assert parse_value(huge) == 16**5000 - 1
    for arg in (f"lr={huge}", f"lr=[1, {{'a': ({huge},)}}]", f"lr={{{huge}: 1}}"):
        with pytest.raises(CLIArgumentError, match=r"an integer of more than \d+ decimal digits"):
            parse_argv([arg])
    assert parse_argv([f"lr={hex(16**100)}"]) == [Assignment(("lr",), 16**100, f"lr={hex(16**100)}")]


@pytest.mark.parametrize("text", ["1 # x", "1#x", "[1, 2] # note", "abc # d"])
def test_a_hash_that_python_would_read_as_a_comment_is_refused_not_dropped(text: str) -> None:
    with pytest.raises(CLIArgumentError, match="'#' would start a comment"):
        parse_value(text)
    assert parse_value(f"%{text}%") == text and parse_value(repr(text)) == text
