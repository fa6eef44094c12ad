"""Command-line literals are data: every accepted form, every refusal, and no execution ever."""

from __future__ import annotations

import math
import struct
import sys

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
