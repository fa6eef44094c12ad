"""Splitting a command *string* into tokens, as ato 2.1.7's ``ato.parser`` does (``ato.parser``
re-exports these functions for scripts written against it).

Tokenising only: a ``key=value`` token keeps its value as text, with a bracketed value
(``[...]``, ``(...)``, ``{...}``, nesting and ``%...%`` strings inside) or a ``%...%`` string
kept whole even when it contains spaces. Nothing here evaluates anything: the values become data
later, through :func:`ato.config.literals.parse_value`. Each reader takes the command and a start
index and returns ``(text, index after it)``.

Inside ``%...%`` a backslash keeps the next character and ``%%`` stands for a literal ``%``; inside
brackets a backslash keeps the next character and a closing bracket closes only the innermost
open one (any other closer is kept as text).
"""

from __future__ import annotations

__all__ = ["parse_backtick_string", "parse_bracketed_value", "parse_command", "parse_value"]

_CLOSERS = {"[": "]", "(": ")", "{": "}"}


def parse_command(command: str) -> list[str]:
    """Split ``command`` into tokens at whitespace, keeping each ``key=value``'s value whole."""
    tokens: list[str] = []
    i, end = 0, len(command)
    while True:
        while i < end and command[i].isspace():
            i += 1
        if i >= end:
            return tokens
        start = i
        while i < end and not command[i].isspace() and command[i] != "=":
            i += 1
        if i < end and command[i] == "=":
            key = command[start:i]
            value, i = parse_value(command, i + 1)
            tokens.append(f"{key}={value}")
        else:
            tokens.append(command[start:i])


def parse_value(command: str, i: int) -> tuple[str, int]:
    """The value starting at ``i``: a ``%...%`` string, a bracketed value, or a bare word."""
    if i >= len(command):
        return "", i
    if command[i] == "%":
        return parse_backtick_string(command, i)
    if command[i] in _CLOSERS:
        return parse_bracketed_value(command, i)
    start = i
    while i < len(command) and not command[i].isspace():
        i += 1
    return command[start:i], i


def parse_backtick_string(command: str, i: int) -> tuple[str, int]:
    """The ``%...%`` string starting at ``i`` (which must be ``%``), delimiters included."""
    if command[i:i + 1] != "%":
        raise ValueError(f"a %...% string starts with '%', not {command[i:i + 1]!r} (at index {i})")
    parts = ["%"]
    i += 1
    end = len(command)
    while i < end:
        c = command[i]
        if c == "\\" and i + 1 < end:
            parts.append(command[i:i + 2])
            i += 2
        elif c == "%" and command[i + 1:i + 2] == "%":
            parts.append("%%")
            i += 2
        elif c == "%":
            parts.append("%")
            return "".join(parts), i + 1
        else:
            parts.append(c)
            i += 1
    return "".join(parts), i  # unclosed: everything to the end


def parse_bracketed_value(command: str, i: int) -> tuple[str, int]:
    """The bracketed value starting at ``i`` (``[``, ``(`` or ``{``), up to its closing bracket."""
    if command[i:i + 1] not in _CLOSERS:
        raise ValueError(f"a bracketed value starts with one of [({{, not {command[i:i + 1]!r} (at index {i})")
    parts = [command[i]]
    waiting = [_CLOSERS[command[i]]]
    i += 1
    end = len(command)
    while i < end and waiting:
        c = command[i]
        if c == "%":
            text, i = parse_backtick_string(command, i)
            parts.append(text)
            continue
        if c == "\\" and i + 1 < end:
            parts.append(command[i:i + 2])
            i += 2
            continue
        if c in _CLOSERS:
            waiting.append(_CLOSERS[c])
        elif c == waiting[-1]:
            waiting.pop()
        parts.append(c)
        i += 1
    return "".join(parts), i
