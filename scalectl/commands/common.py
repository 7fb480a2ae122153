"""What every command shares: the common flags, parsed once into `Common`, and error reporting.

Commands declare only their own flags; `shared_options` adds the common ones to the signature
Typer reads, in the order `--help` has always shown them (file, target, own flags, yes, timeout,
state-dir, output, no-color), so they are still typed after the command name.
Only light modules are imported here: this runs for `--help` and `--version` too.
"""

from __future__ import annotations

import inspect
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from scalectl.errors import ConfigError, ExitCode, ScalectlError, UsageError
from scalectl.redact import redact
from scalectl.ui import OutputFormat, Ui, config_error_doc, escape

FileOpt = Annotated[
    Path, typer.Option("--file", "-f", envvar="SCALECTL_FILE", help="The scale file.", show_default=True)
]
TargetsOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--target",
        "-t",
        envvar="SCALECTL_TARGET",
        metavar="NAME",
        help="Target name (repeatable); default: all targets.",
    ),
]
OutputOpt = Annotated[
    OutputFormat,
    typer.Option("--output", envvar="SCALECTL_OUTPUT", help="text for people, json for CI (one document on stdout)."),
]
NoColorOpt = Annotated[bool, typer.Option("--no-color", envvar="SCALECTL_NO_COLOR", help="Plain text, no colors.")]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", envvar="SCALECTL_YES", help="Do not ask for confirmation.")]
StateOpt = Annotated[
    Path | None,
    typer.Option(
        "--state-dir", envvar="SCALECTL_STATE_DIR", help="Local journal and locks; default: .scalectl next to the file."
    ),
]
TimeoutOpt = Annotated[
    int | None,
    typer.Option("--timeout", envvar="SCALECTL_TIMEOUT", help="Seconds a rollout may take (default: rollout.timeout)."),
]


@dataclass
class Common:
    """The shared flags of one invocation, and the `Ui` they select."""

    file: Path = Path("scale.yaml")
    targets: list[str] | None = None
    output: OutputFormat = OutputFormat.text
    no_color: bool = False
    yes: bool = False
    timeout: int | None = None
    state_dir: Path | None = None
    ui: Ui = field(init=False)

    def __post_init__(self) -> None:
        self.ui = Ui(self.output, self.no_color)

    def load(self, check_providers: bool = True) -> tuple[Any, list[str]]:
        """The config and the selected target names; provider checks unless told otherwise."""
        from scalectl.checks import check_config
        from scalectl.config import load_config

        config = load_config(self.file)
        names = config.select(self.targets)
        return (check_config(config, names) if check_providers else config), names

    def engine(self, config: Any) -> Any:
        from scalectl.engine import Engine

        return Engine(config, self.state_dir or config.path.resolve().parent / ".scalectl")

    def confirm(self, question: str) -> None:
        """Ask on a terminal; without one, --yes is required (CI must say what it means)."""
        if self.yes:
            return
        if not sys.stdin.isatty():
            raise UsageError(
                f"{question} needs confirmation: pass --yes (or set SCALECTL_YES=1) when not on a terminal"
            )
        if not typer.confirm(question, default=False, err=True):
            self.ui.say("aborted; nothing was changed")
            exit_with(ExitCode.FAILED)


# name -> (annotation, default) of each shared flag, in --help order
_LEADING: dict[str, tuple[Any, Any]] = {"file": (FileOpt, Path("scale.yaml")), "target": (TargetsOpt, None)}
_TRAILING: dict[str, tuple[Any, Any]] = {
    "yes": (YesOpt, False),
    "timeout": (TimeoutOpt, None),
    "state_dir": (StateOpt, None),
    "output": (OutputOpt, OutputFormat.text),
    "no_color": (NoColorOpt, False),
}


def shared_options(
    *, file: bool = True, target: bool = True, yes: bool = False, timeout: bool = False, state_dir: bool = False
) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Give a command `(common: Common, <own flags>)` the shared flags it asks for, plus output and no-color.

    Typer sees one flat signature; the command gets the shared values as one `Common`.
    """
    wanted = {"file": file, "target": target, "yes": yes, "timeout": timeout, "state_dir": state_dir}

    def decorate(func: Callable[..., None]) -> Callable[..., None]:
        own = list(inspect.signature(func, eval_str=True).parameters.values())
        if not own or own[0].name != "common":
            raise TypeError(f"{func.__name__}: the first parameter must be `common: Common`")
        own = own[1:]

        def flag(name: str, spec: tuple[Any, Any]) -> inspect.Parameter:
            return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=spec[0], default=spec[1])

        leading = [flag(n, s) for n, s in _LEADING.items() if wanted[n]]
        trailing = [flag(n, s) for n, s in _TRAILING.items() if wanted.get(n, True)]
        shared = [p.name for p in leading + trailing]
        params = [*leading, *(p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in own), *trailing]

        def command(**kwargs: Any) -> None:
            values = {name: kwargs.pop(name) for name in shared}
            values["targets"] = values.pop("target", None)
            func(Common(**values), **kwargs)

        command.__name__ = func.__name__
        command.__qualname__ = func.__qualname__
        command.__doc__ = func.__doc__
        command.__module__ = func.__module__
        command.__signature__ = inspect.Signature(params, return_annotation=None)  # type: ignore[attr-defined]
        command.__annotations__ = {p.name: p.annotation for p in params} | {"return": None}
        return command

    return decorate


@contextmanager
def reporting(ui: Ui, command: str) -> Iterator[None]:
    """Turn scalectl errors into a message and the documented exit code; never a traceback for user errors.

    The structured log (`--log-format`, `--log-file`) gets the command's start and its end with the exit code.
    """
    from scalectl import log

    code = 0
    with log.bind(command=command):
        log.record("start", command)
        try:
            with _reporting(ui, command):
                yield
        except typer.Exit as exc:
            code = int(exc.exit_code)
            raise
        except BaseException:
            code = 1
            raise
        finally:
            log.record("end", f"exit code {code}", exit_code=code)


@contextmanager
def _reporting(ui: Ui, command: str) -> Iterator[None]:
    try:
        yield
    except ConfigError as exc:
        if ui.json:
            ui.document({"command": command, **config_error_doc(exc)})
        ui.diagnostics(list(exc.diagnostics))
        n = len([d for d in exc.diagnostics if d.severity == "error"])
        ui.say(f"[red]{n} error{'s' if n != 1 else ''}[/red]; nothing was changed.")
        exit_with(exc.exit_code)
    except ScalectlError as exc:
        message = redact(exc.message)  # a secret value quoted by a log or a platform never reaches the terminal
        if ui.json:
            ui.document({"command": command, "ok": False, "error": message, "exit_code": int(exc.exit_code)})
        ui.say(f"[red]error:[/red] {escape(message)}")
        exit_with(exc.exit_code)
    except KeyboardInterrupt as exc:  # scalectl.errors.Interrupted carries the signal's code and what was undone
        code = int(getattr(exc, "exit_code", 130))
        message = getattr(exc, "message", "")
        if ui.json:
            ui.document({"command": command, "ok": False, "error": f"interrupted: {message}", "exit_code": code})
        ui.say("[red]interrupted[/red]" + (f": {escape(message)}" if message else ""))
        exit_with(code)
    except (typer.Exit, SystemExit):
        raise
    except ModuleNotFoundError as exc:
        from scalectl.registry import sdk_extra

        extra = sdk_extra((exc.name or "").split(".")[0])
        if extra is None or os.environ.get("SCALECTL_DEBUG"):
            raise
        message = f"this command needs the {exc.name} package: pip install 'scalectl[{extra}]'; nothing was changed"
        if ui.json:
            ui.document({"command": command, "ok": False, "error": message, "exit_code": int(ExitCode.FAILED)})
        ui.say(f"[red]error:[/red] {escape(message)}")
        exit_with(ExitCode.FAILED)
    except Exception as exc:
        if os.environ.get("SCALECTL_DEBUG"):
            raise
        if ui.json:
            ui.document({"command": command, "ok": False, "error": f"internal error: {exc!r}", "exit_code": 1})
        ui.say(f"[red]internal error:[/red] {escape(repr(exc))} (set SCALECTL_DEBUG=1 for a traceback)")
        exit_with(ExitCode.FAILED)


def exit_with(code: int) -> NoReturn:
    raise typer.Exit(int(code))
