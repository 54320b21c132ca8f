"""How the CLI prints for people: aligned tables with headers, human units, hints
that run as printed, one-line errors; and JSON for machines (``--json``).

Text goes through a rich ``Console``: coloured on a terminal, plain aligned text when
stdout is a pipe or a file (tests, ``| less``, ``> out.txt``) or when NO_COLOR is set
(no ANSI codes at all then). Values that came from a server or the user are printed
as rich ``Text``, never as markup, and control characters in them are escaped, so a
message cannot move the cursor or recolour the terminal.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Any, Literal

from rich.console import Console
from rich.text import Text

from services.errors import ERROR_DOMAIN

Cell = str | Text
Justify = Literal["left", "right"]

# Styles, by meaning (only on a terminal).
HEADER = "bold"
GOOD = "green"
WARN = "yellow"
BAD = "red"
MUTED = "dim"
VALUE = "cyan"  # something to copy: an offer id, a booking reference, a command

# Bidirectional overrides and isolates: they reorder what a terminal shows.
_BIDI = {chr(c) for c in (*range(0x202A, 0x202F), *range(0x2066, 0x206A))}


def safe(text: str) -> str:
    """``text`` on one line with control characters (C0, C1, DEL) and bidi overrides
    escaped as ``\\x1b`` / ``\\u202e``: what a server or a user sent, made inert."""
    out = []
    for ch in text:
        code = ord(ch)
        if code < 0x20 or 0x7F <= code < 0xA0:
            out.append(f"\\x{code:02x}")
        elif ch in _BIDI:
            out.append(f"\\u{code:04x}")
        else:
            out.append(ch)
    return "".join(out)


def styled(text: str, style: str = "") -> Text:
    return Text(safe(text), style=style)


# ------------------------------------------------------------------------ human units


def span_text(seconds: float) -> str:
    """``45 s``, ``12 m``, ``2 h 05 m``, ``3 d 4 h``: a length of time, rounded down
    to the unit a person reads."""
    seconds = abs(seconds)
    if seconds < 60:
        return f"{int(seconds)} s"
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes} m"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes:02d} m"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


def relative_text(seconds: float) -> str:
    """``in 12 m`` for a moment ahead, ``3 m ago`` for one past."""
    return f"in {span_text(seconds)}" if seconds >= 0 else f"{span_text(seconds)} ago"


# ------------------------------------------------------------------------ tables


@dataclass(frozen=True)
class Column:
    header: str
    justify: Justify = "left"


@dataclass
class _Row:
    cells: list[Text]
    detail: Text | None


@dataclass
class Table:
    """Rows aligned under upper-case headers, two spaces apart. A row may carry a
    ``detail`` line printed under it, indented, that takes no part in the widths (an
    offer id is longer than the whole row). ``headers=False`` for a key/value list."""

    columns: Sequence[Column | str]
    indent: int = 0
    headers: bool = True
    rows: list[_Row] = field(default_factory=list)

    def add_row(self, *cells: Cell, detail: Cell | None = None) -> None:
        if len(cells) != len(self.columns):
            raise ValueError(f"{len(cells)} cells for {len(self.columns)} columns")
        self.rows.append(_Row([_text(c) for c in cells], None if detail is None else _text(detail)))

    def lines(self) -> list[Text]:
        cols = [c if isinstance(c, Column) else Column(c) for c in self.columns]
        head = [Text(c.header.upper(), style=HEADER) for c in cols]
        body = ([head] if self.headers else []) + [r.cells for r in self.rows]
        widths = [max(row[i].cell_len for row in body) for i in range(len(cols))]
        pad = " " * self.indent
        out = []
        for n, row in enumerate(body):
            line = Text(pad)
            last = len(cols) - 1
            while last > 0 and not row[last].plain:  # no trailing blanks
                last -= 1
            for i, (cell, col, width) in enumerate(zip(row, cols, widths, strict=True)):
                if i > last:
                    break
                gap = " " * (width - cell.cell_len)
                if col.justify == "right":
                    line.append(gap).append_text(cell)
                else:
                    line.append_text(cell)
                    if i < last:
                        line.append(gap)
                if i < last:
                    line.append("  ")
            out.append(line)
            data = n - (1 if self.headers else 0)
            if data >= 0 and self.rows[data].detail is not None:
                detail = self.rows[data].detail
                assert detail is not None
                out.append(Text(pad + "  ").append_text(detail))
        return out


def _text(cell: Cell) -> Text:
    return cell if isinstance(cell, Text) else Text(safe(cell))


def fields(pairs: Sequence[tuple[str, Cell]], indent: int = 0) -> Table:
    """A key/value list, keys aligned: ``expires     in 12 m``."""
    table = Table(["", ""], indent=indent, headers=False)
    for key, value in pairs:
        table.add_row(key, value)
    return table


# ------------------------------------------------------------------------ invocation


def program(cwd: str | None = None, executable: str | None = None) -> list[str]:
    """How to run this CLI again, as this shell can: ``.venv/bin/python -m
    skyroute_cli`` when the interpreter is under the working directory (the README's
    way), the bare name when PATH finds the same interpreter, else its full path. The
    interpreter's path is kept as run (a virtualenv's ``python`` is a symlink)."""
    exe = os.path.abspath(executable or sys.executable)
    here = os.path.abspath(cwd or os.getcwd())
    if exe.startswith(here.rstrip(os.sep) + os.sep):
        return [os.path.relpath(exe, here), "-m", "skyroute_cli"]
    found = shutil.which(os.path.basename(exe))
    if found and os.path.abspath(found) == exe:
        return [os.path.basename(exe), "-m", "skyroute_cli"]
    return [exe, "-m", "skyroute_cli"]


def command_line(*argv: str) -> str:
    """A command that runs as printed: this CLI with ``argv``, shell-quoted."""
    return shlex.join([*program(), *argv])


def rerun(argv: Sequence[str], option: str, value: str) -> list[str]:
    """``argv`` with ``option`` set to ``value`` (an earlier one dropped); a ``--jwt``
    value is replaced by a placeholder: hints never print a credential."""
    out: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
            continue
        if arg == option:
            skip = True
            continue
        if arg.startswith(option + "="):
            continue
        if arg == "--jwt":
            out += ["--jwt", "JWT"]
            skip = True
            continue
        if arg.startswith("--jwt="):
            out.append("--jwt=JWT")
            continue
        out.append(arg)
    return [*out, option, value]


# ------------------------------------------------------------------------ errors


@dataclass(frozen=True)
class Endpoint:
    """What a command called, for an error that says where: ``search`` at its
    addresses, with the deadline each call had."""

    name: str
    addresses: tuple[str, ...]
    timeout: float


# Codes where the answer is in the server's logs: the line carries the request id.
_LOOK_IN_LOGS = {"INTERNAL", "UNKNOWN", "DATA_LOSS", "DEADLINE_EXCEEDED"}


# What to do about a failure the user can fix from here.
_USER_JWT = "--user NAME mints a fresh development JWT from BOOKING_JWT_*"
_CALLER = "check TOKEN_CALLER_ID and TOKEN_CALLER_KEY (source .run/dev.env after make run)"
REASON_HINTS = {
    "TOKEN_MISSING": _USER_JWT,
    "TOKEN_EXPIRED": _USER_JWT,
    "TOKEN_INVALID": _USER_JWT,
    "TOKEN_MALFORMED": _USER_JWT,
    "TOKEN_SIGNATURE_INVALID": _USER_JWT + " (a JWT from an earlier make run?)",
    "TOKEN_KEY_UNKNOWN": _USER_JWT + " (a JWT from an earlier make run?)",
    "TOKEN_ISSUER_OR_AUDIENCE_INVALID": _USER_JWT,
    "CALLER_CREDENTIALS_MISSING": _CALLER,
    "CALLER_CREDENTIALS_INVALID": _CALLER,
}


def unreachable(error: Mapping[str, Any]) -> bool:
    """UNAVAILABLE from gRPC itself (no connection, nobody listening, a server going
    away), not an UNAVAILABLE our services send with their ErrorInfo."""
    return error.get("code") == "UNAVAILABLE" and error.get("domain") != ERROR_DOMAIN


def error_line(error: Mapping[str, Any], endpoint: Endpoint | None = None) -> str:
    """One line for a failed call, from its status: the field violations as
    ``field: description`` (``origin: unknown airport XXX``), else the message with
    its reason; where the service is when it cannot be reached."""
    code = str(error.get("code", "UNKNOWN"))
    where = f"{endpoint.name} at {','.join(endpoint.addresses)}" if endpoint else "the server"
    if unreachable(error):
        return safe(f"cannot reach {where} (is the stack running? make run)")
    if code == "DEADLINE_EXCEEDED" and error.get("domain") != ERROR_DOMAIN and endpoint:
        return safe(
            f"{where} did not answer within {endpoint.timeout:g} s "
            f"(--timeout SECONDS waits longer; request id {error.get('request_id', '')})"
        )
    violations = error.get("field_violations") or []
    if violations:
        text = "; ".join(f"{v['field']}: {v['description']}" for v in violations)
    else:
        text = str(error.get("message") or code)
    notes = []
    reason = error.get("reason")
    if not violations:
        notes.append(str(reason) if reason and reason != code else code)
    retry = error.get("retry_delay_seconds")
    if retry:
        notes.append(f"retry in {span_text(float(retry)) if retry >= 1 else f'{retry:g} s'}")
    if code in _LOOK_IN_LOGS and error.get("request_id"):
        notes.append(f"request id {error['request_id']}")
    if notes:
        text += f" ({'; '.join(notes)})"
    hint = REASON_HINTS.get(str(reason)) if error.get("domain") == ERROR_DOMAIN else None
    if hint:
        text += f": {hint}"
    return safe(text)


# ------------------------------------------------------------------------ output


def wants_colour(stream: IO[str], env: Mapping[str, str]) -> bool:
    """Colour only on a terminal, and never with NO_COLOR (https://no-color.org) or
    TERM=dumb."""
    if env.get("NO_COLOR") or env.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


class _Console(Console):
    def on_broken_pipe(self) -> None:
        # rich exits 1 itself; main() ends a command whose reader went away the same
        # way whether rich or print() hit it.
        self.quiet = True
        raise BrokenPipeError


def console(stream: IO[str], colour: bool) -> Console:
    return _Console(
        file=stream,
        force_terminal=colour,
        color_system="auto" if colour else None,
        highlight=False,
        markup=False,
        emoji=False,
        soft_wrap=True,  # never wrap or cut: a long offer id stays one copyable line
    )


class Output:
    """Where a command prints for people: stdout for results, stderr for notes and
    errors (and errors as JSON with --json; results as JSON go through ``emit``)."""

    def __init__(
        self,
        *,
        stdout: IO[str] | None = None,
        stderr: IO[str] | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        env = os.environ if env is None else env
        out = stdout or sys.stdout
        err = stderr or sys.stderr
        self._stderr = err
        self.out = console(out, wants_colour(out, env))
        self.err = console(err, wants_colour(err, env))

    def _print(self, text: Text) -> None:
        """Every line goes out through here: one a caller built as styled ``Text``
        from a server's values is checked once more, and printed plain and escaped if
        it holds a control character."""
        if safe(text.plain) != text.plain:
            text = Text(safe(text.plain))
        self.out.print(text)

    def line(self, *parts: Cell) -> None:
        text = Text()
        for part in parts:
            text.append_text(_text(part))
        self._print(text)

    def table(self, table: Table) -> None:
        for line in table.lines():
            self._print(line)

    def hint(self, label: str, *argv: str) -> None:
        """``label: <command>``, the command runnable as printed."""
        self._print(
            Text().append(f"{label}: ", style=MUTED).append(command_line(*argv), style=VALUE)
        )

    def note(self, text: str) -> None:
        self.err.print(Text().append("note: ", style=WARN).append(safe(text)))

    def error(self, text: str) -> None:
        """A one-line error on stderr: ``error: origin: unknown airport XXX``."""
        self.err.print(Text().append("error: ", style=f"bold {BAD}").append(safe(text)))

    def error_json(self, error: Mapping[str, Any]) -> None:
        print(
            json.dumps({"error": dict(error)}, indent=2, ensure_ascii=False),
            file=self._stderr,
            flush=True,
        )
