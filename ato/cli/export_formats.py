"""How ``ato export`` writes a table as text a person reads: Markdown and LaTeX.

Written here rather than by pandas (``to_markdown`` needs tabulate, ``to_latex`` jinja2) so that
these formats need no extra, and so that a cell says what it is: a NaN is ``NaN``, a missing
value (a run without that key) is a dash, infinities are ``inf`` / ``$\\infty$``, numbers have
``digits`` significant digits, and integers stay integers.

The LaTeX is a ``tabular`` to ``\\input`` as is: booktabs rules (``\\usepackage{booktabs}``), every
LaTeX special character of headers and cells escaped (``val/acc:best``, ``lr_decay``, ``50%``),
numeric columns right-aligned, negative numbers and powers of ten in math mode
(``$-0.5$``, ``$1.2\\times10^{-5}$``).
"""

from __future__ import annotations

import datetime
import math
import numbers
import re
from collections.abc import Callable
from typing import Any

from ato.events.values import OpaqueValue
from ato.tracking.frames import Table, cell_text

__all__ = ["latex", "markdown"]

_LATEX_SPECIALS = {
    "\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}",
    "<": r"\textless{}", ">": r"\textgreater{}", "|": r"\textbar{}",
}
_LATEX_PATTERN = re.compile("|".join(re.escape(char) for char in _LATEX_SPECIALS))


def latex_escape(text: str) -> str:
    """``text`` with every LaTeX special character written so that it prints as itself."""
    return _LATEX_PATTERN.sub(lambda match: _LATEX_SPECIALS[match.group()], text)


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _numeric(table: Table, name: str) -> bool:
    """Right-aligned: a column of numbers (missing cells aside), times excluded."""
    values = [value for value in table.columns[name] if value is not None]
    return name not in table.times and bool(values) and all(_is_number(value) for value in values)


def _time(seconds: float) -> str:
    return datetime.datetime.fromtimestamp(seconds, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _plain_number(value: float | int, digits: int) -> str:
    if isinstance(value, numbers.Integral):
        return str(int(value))
    value = float(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.{digits}g}"


def _cell(table: Table, name: str, value: Any, digits: int) -> str | None:
    """A cell's text before escaping, or None where it is missing."""
    if value is None:
        return None
    if name in table.times:
        return _time(value)
    if _is_number(value):
        return _plain_number(value, digits)
    if isinstance(value, OpaqueValue):
        return value.repr  # a person reads Head(), not its JSON record
    return cell_text(value)  # text as it is; lists, tuples, dicts as their JSON text


def _rows(table: Table, digits: int, render: Callable[[str, Any], str]) -> list[list[str]]:
    return [[render(name, value) for name, value in record.items()] for record in table.records()]


def markdown(table: Table, digits: int = 4) -> str:
    """``table`` as a GitHub-flavoured Markdown table (a dash for a missing value)."""
    def render(name: str, value: Any) -> str:
        text = _cell(table, name, value, digits)
        return "–" if text is None else text.replace("|", r"\|").replace("\n", " ")

    headers = [name.replace("|", r"\|") for name in table.columns]
    rules = ["---:" if _numeric(table, name) else ":---" for name in table.columns]
    lines = [headers, rules, *_rows(table, digits, render)]
    return "".join(f"| {' | '.join(line)} |\n" for line in lines)


def _latex_number(value: float | int, digits: int) -> str:
    text = _plain_number(value, digits)
    if text in ("inf", "-inf"):
        return r"$\infty$" if text == "inf" else r"$-\infty$"
    if text == "NaN":
        return text
    mantissa, _, exponent = text.partition("e")
    if exponent:
        return f"${mantissa}\\times10^{{{int(exponent)}}}$"
    return f"${text}$" if text.startswith("-") else text


def latex(table: Table, digits: int = 4) -> str:
    """``table`` as a booktabs ``tabular`` ready to ``\\input`` (``--`` for a missing value)."""
    def render(name: str, value: Any) -> str:
        if value is None:
            return "--"
        if _is_number(value) and name not in table.times:
            return _latex_number(value, digits)
        text = _cell(table, name, value, digits)
        return latex_escape(text or "")

    spec = "".join("r" if _numeric(table, name) else "l" for name in table.columns)
    lines = [
        "% ato export: needs \\usepackage{booktabs}",
        f"\\begin{{tabular}}{{{spec}}}",
        "\\toprule",
        " & ".join(latex_escape(name) for name in table.columns) + r" \\",
        "\\midrule",
        *(" & ".join(row) + r" \\" for row in _rows(table, digits, render)),
        "\\bottomrule",
        "\\end{tabular}",
    ]
    return "\n".join(lines) + "\n"
