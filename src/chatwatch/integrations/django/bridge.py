"""Run a ``chatwatch`` CLI command from Django: the same options (read from the CLI
command itself, so a management command takes every option of its twin), the database
from ``settings.CHATWATCH``, Django's ``EMAIL_*`` settings when chatwatch has no SMTP of
its own, and every bad argument turned into a one-line ``CommandError``.

typer >= 0.20 vendors its own click (``typer._click``), so the errors a command raises
are not ``click.ClickException``: they are recognised by what they carry
(``format_message()`` and ``exit_code``), whichever click raised them.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
from collections.abc import Iterator
from typing import Any

import typer.main

__all__ = ["add_cli_arguments", "chatwatch_settings", "cli_args", "run_cli", "run_or_raise"]

_SKIP = {"help"}
_DJANGO_SHORT = {"-v", "-h"}


def chatwatch_settings() -> dict[str, Any]:
    from django.conf import settings

    return dict(getattr(settings, "CHATWATCH", {}) or {})


def _command(name: str) -> Any:
    from chatwatch.cli import app

    group: Any = typer.main.get_command(app)
    return group.commands[name]


def _options(name: str) -> list[Any]:
    params = _command(name).params
    return [p for p in params if p.param_type_name == "option" and p.name not in _SKIP]


def add_cli_arguments(parser: Any, name: str) -> None:
    """Add the CLI command's options to a management command's argparse parser."""
    for p in _options(name):
        opts = [o for o in p.opts if o.startswith("--") or o not in _DJANGO_SHORT]
        secondary = list(getattr(p, "secondary_opts", []) or [])
        help_text = (getattr(p, "help", None) or "").replace("%", "%%")
        if p.is_flag and secondary:
            parser.add_argument(
                *opts, dest=p.name, action="store_const", const=True, default=None, help=help_text
            )
            parser.add_argument(*secondary, dest=p.name, action="store_const", const=False)
        elif p.is_flag:
            parser.add_argument(*opts, dest=p.name, action="store_true", help=help_text)
        else:
            parser.add_argument(*opts, dest=p.name, required=p.required, help=help_text)


def cli_args(name: str, options: dict[str, Any]) -> list[str]:
    """The CLI arguments for a management command's parsed options."""
    args = [name]
    for p in _options(name):
        value = options.get(p.name)
        if value is None or (value is False and not getattr(p, "secondary_opts", None)):
            continue
        long = next(o for o in p.opts if o.startswith("--"))
        if p.is_flag:
            args.append(long if value else p.secondary_opts[0])
        else:
            args += [long, str(value)]
    return args


@contextlib.contextmanager
def _django_email() -> Iterator[None]:
    """Django's EMAIL_* settings as chatwatch's SMTP settings, unless chatwatch has its own."""
    from django.conf import settings

    if os.environ.get("CHATWATCH_SMTP_HOST") or not getattr(settings, "EMAIL_HOST", None):
        yield
        return
    security = "tls" if settings.EMAIL_USE_SSL else "starttls" if settings.EMAIL_USE_TLS else "none"
    env = {
        "CHATWATCH_SMTP_HOST": settings.EMAIL_HOST,
        "CHATWATCH_SMTP_PORT": str(settings.EMAIL_PORT),
        "CHATWATCH_SMTP_SECURITY": security,
        "CHATWATCH_SMTP_USER": settings.EMAIL_HOST_USER or "",
        "CHATWATCH_SMTP_PASSWORD": settings.EMAIL_HOST_PASSWORD or "",
        "CHATWATCH_ALERT_EMAIL_FROM": settings.DEFAULT_FROM_EMAIL,
    }
    if not env["CHATWATCH_SMTP_USER"]:
        del env["CHATWATCH_SMTP_USER"], env["CHATWATCH_SMTP_PASSWORD"]
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        yield
    finally:
        for key, old in saved.items():
            if old is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = old


def run_cli(args: list[str]) -> int:
    """The command's exit code (0 on success), so cron and Nagios see what the CLI says;
    a bad argument raises ``CommandError`` with the CLI's one-line message."""
    from django.core.management.base import CommandError

    from chatwatch.cli import app

    db = chatwatch_settings().get("DATABASE_URL")
    full = [*args, "--db", str(db)] if db and "--db" not in args else list(args)
    command: Any = typer.main.get_command(app)
    try:
        with _django_email():
            result = command.main(args=full, prog_name="chatwatch", standalone_mode=False)
    except CommandError:
        raise
    except Exception as exc:
        if hasattr(exc, "format_message") and hasattr(exc, "exit_code"):
            raise CommandError(exc.format_message(), returncode=exc.exit_code or 2) from None
        if type(exc).__name__ == "Exit" and hasattr(exc, "exit_code"):
            return int(exc.exit_code)
        if type(exc).__name__ == "Abort":
            raise CommandError("aborted") from None
        raise
    return result if isinstance(result, int) else 0


def run_or_raise(name: str, options: dict[str, Any]) -> None:
    """Run the CLI twin of a management command; a non-zero exit is a one-line
    ``CommandError`` carrying what the CLI said on stderr (``--format must be one of…``,
    ``--output: cannot write…``, ``e-mail failed: …``) instead of that text and then a
    second line with the exit code. On success, what the CLI wrote to stderr is passed on."""
    from django.core.management.base import CommandError

    said = io.StringIO()
    with contextlib.redirect_stderr(said):
        code = run_cli(cli_args(name, options))
    text = " ".join(said.getvalue().split())  # the console wraps at 80 columns
    if code:
        raise CommandError(text or f"chatwatch {name} exited with {code}", returncode=code)
    if text:
        sys.stderr.write(said.getvalue())
