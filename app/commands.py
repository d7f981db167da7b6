"""The ``chatops`` commands (typer); :mod:`app.cli` is the entry point that runs them.

Each command imports what it uses when it runs, so start-up stays fast.
"""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from playbooks.errors import ChatOpsError

# Only what typer needs to read the command line is imported here; every command imports
# its own modules, after bot.startup.begin() has set start-up up (see app.cli.main).
if TYPE_CHECKING:
    from bot.dependencies import Dependencies
    from bot.settings import Settings
    from playbooks.actions.registry import ActionRegistry
    from playbooks.catalog import Catalog
    from playbooks.secrets import Redactor

__all__ = ["app"]

app = typer.Typer(
    help="Runbooks as safe, one-click, audited actions in chat.",
    no_args_is_help=True,
    add_completion=False,
)
playbooks_app = typer.Typer(help="The playbook catalog.", no_args_is_help=True)
db_app = typer.Typer(help="The database.", no_args_is_help=True)
app.add_typer(playbooks_app, name="playbooks")
app.add_typer(db_app, name="db")


def _settings() -> Settings:
    from pydantic import ValidationError

    from bot.settings import Settings

    try:
        return Settings()
    except ValidationError as exc:
        _fail(
            "\n".join(
                f"environment variable {error['loc'][0]}: {error['msg']}"
                for error in exc.errors(include_url=False)
            )
        )


def _fail(message: str, code: int = 1) -> NoReturn:
    _say("error", message)
    raise typer.Exit(code)


def _say(kind: str, message: str) -> None:
    """``kind: line`` on stderr for every line of ``message`` (errors may list several)."""
    colour = typer.colors.RED if kind == "error" else typer.colors.YELLOW
    for line in message.splitlines() or [""]:
        typer.secho(f"{kind}: {line}", err=True, fg=colour)


def _database_problem(exc: BaseException, url: str) -> str | None:
    """One line naming the database (password hidden) and why it failed; None if not ours."""
    from sqlalchemy.exc import DBAPIError, SQLAlchemyError

    where = f"cannot open the database {_redacted(url)}"
    if isinstance(exc, ModuleNotFoundError):
        return f"{where}: its driver `{exc.name}` is not installed"
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        return f"{where}: {_first_line(exc.orig)}"
    if isinstance(exc, SQLAlchemyError | OSError):
        return f"{where}: {_first_line(exc)}"
    if type(exc).__module__.startswith("alembic"):
        # e.g. the database was migrated by a newer chatops than this one.
        return f"{where}: migrations failed: {_first_line(exc)}"
    return None


def _redacted(url: str) -> str:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        # Not a URL SQLAlchemy can read: never show what may be credentials.
        scheme, _, rest = url.rpartition("://")
        if "@" in rest:
            rest = "***@" + rest.rsplit("@", 1)[1]
        return f"{scheme}://{rest}" if scheme else rest


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    text = lines[0].strip() if lines else type(exc).__name__
    # SQLAlchemy prefixes what it wraps with "(driver.ErrorClass) ".
    return re.sub(r"^\([\w.]+\) ", "", text)


_REDACTOR: list[Redactor] = []  # the process's one redactor, once logging is set up


def _logging(level: str, *, json: bool) -> None:
    """Log lines redacted by the process's one redactor, which the service also uses: a
    secret it learns while running (``secrets.NAME``) is redacted from logs too."""
    from bot.logs import configure_logging
    from playbooks.secrets import Redactor

    _REDACTOR[:] = [Redactor.from_environ()]
    configure_logging(level=level, json=json, redact=_REDACTOR[0])


@app.command()
def shell(
    user: Annotated[str | None, typer.Option(help="act as this user (default: $USER)")] = None,
    channel: Annotated[str, typer.Option(help="the channel commands are typed in")] = "incidents",
) -> None:
    """The console surface on the same engine and store: type commands, press buttons."""
    _logging(os.environ.get("CHATOPS_LOG_LEVEL", "WARNING"), json=False)
    import asyncio

    asyncio.run(_shell(user or os.environ.get("USER") or "operator", channel))


async def _shell(user: str, channel: str) -> None:
    from app.surfaces import configured_surfaces
    from bot.service import ChatOpsService
    from bot.startup import imports_done, settle
    from handlers.shell.console import run_console
    from handlers.shell.output import ShellChat
    from handlers.shell.session import ShellSession

    imports_done()
    settings = _settings()
    deps = await _open(settings)
    service = ChatOpsService(deps)
    chat = ShellChat(lambda line: print(line, flush=True))
    service.attach(chat)
    try:
        # The surfaces the console runs too (the scheduler): they post to the console.
        surfaces = configured_surfaces(service, settings, console=True)
    except ChatOpsError as exc:
        await deps.close()
        _fail(exc.reason)
    try:
        for surface in surfaces:
            await surface.open()
        await service.start()
        for surface in surfaces:
            await surface.start()
        settle()
        await run_console(ShellSession(service, chat, user=user, channel=channel))
    except ChatOpsError as exc:
        _fail(exc.reason)
    finally:
        await service.shutdown()
        for surface in reversed(surfaces):
            await surface.close()
        await deps.close()


@app.command()
def run() -> None:
    """Serve every configured surface, the HTTP endpoints and the engine until SIGTERM/SIGINT."""
    _logging(os.environ.get("CHATOPS_LOG_LEVEL", "INFO"), json=True)
    import asyncio

    asyncio.run(_serve(_settings()))


async def _serve(settings: Settings) -> None:
    from app.assembly import serve
    from bot.startup import imports_done

    imports_done()  # serve() settles once the service is up
    deps = await _open(settings)
    try:
        await serve(settings, deps)
    except ChatOpsError as exc:
        _fail(exc.reason)
    finally:
        await deps.close()


async def _open(settings: Settings) -> Dependencies:
    from bot.dependencies import open_dependencies

    try:
        return await open_dependencies(settings, redactor=_REDACTOR[0] if _REDACTOR else None)
    except ChatOpsError as exc:
        _fail(exc.reason)
    except Exception as exc:
        problem = _database_problem(exc, settings.database_url)
        if problem is None:
            raise
        _fail(problem)


@app.command()
def check() -> None:
    """Validate the config and every playbook; exit 1 with file:line: field on any problem."""
    from bot.config import Config, ConfigError, load_config, unknown_playbooks
    from playbooks.actions.registry import ActionRegistry
    from playbooks.catalog import Catalog
    from playbooks.lint import ConfigNames

    settings = _settings()
    path = settings.resolved_config_path()
    errors: list[str] = []
    names: ConfigNames | None = None
    config: Config | None = None
    dirs = settings.extra_playbook_dirs()
    try:
        config = load_config(path)
    except ConfigError as exc:
        # Still check the playbooks, without what the config would have told about them.
        errors += exc.reason.splitlines()
    else:
        names = ConfigNames(
            source=config.source,
            roles=frozenset(config.roles),
            channels=frozenset(config.channels),
            connections=frozenset(config.connections),
        )
        dirs = [*config.playbook_dirs, *dirs]
    registry, plugin_problems = ActionRegistry.scan()
    errors += plugin_problems
    found = Catalog.scan(dirs, registry, names=names)
    errors += [problem.reason for problem in found.problems]
    if config is not None:  # what its schedules and alert rules name must be in the catalog
        errors += unknown_playbooks(config, set(found.playbooks))
    for error in errors:
        _say("error", error)
    for warning in found.warnings:
        _say("warning", warning.reason)
    if errors:
        raise typer.Exit(1)
    count = len(found.warnings)
    warned = f", {count} warning{'s' if count > 1 else ''}" if count else ""
    typer.echo(
        f"ok: config {path or '(built-in defaults)'}, {len(found.playbooks)} playbooks{warned}"
    )


@playbooks_app.command("list")
def playbooks_list() -> None:
    """Every playbook in the catalog."""
    for playbook in _catalog():
        policy = playbook.approval
        approval = ""
        if policy is not None and policy.required is not False:
            approval = " · approval?" if isinstance(policy.required, str) else " · approval"
        typer.echo(
            f"{playbook.name:<28} {playbook.risk.value:<6}{approval:<11} {playbook.display_title}"
        )


@playbooks_app.command("docs")
def playbooks_docs(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="write it here instead of stdout")
    ] = None,
    builtin: Annotated[
        bool, typer.Option("--builtin", help="only the built-in catalog (docs/catalog.md)")
    ] = False,
) -> None:
    """The catalog as Markdown: every playbook's use, params, approval, estimate, rollback."""
    from playbooks.catalog import Catalog
    from playbooks.catalog_docs import render_catalog_docs

    if builtin:
        try:
            catalog = Catalog.load([], _registry())
        except ChatOpsError as exc:
            _fail(exc.reason)
    else:
        catalog = _catalog()
    text = render_catalog_docs(catalog, _registry())
    if output is None:
        typer.echo(text, nl=False)
        return
    output.write_text(text, encoding="utf-8")
    typer.echo(f"wrote {output} ({len(catalog)} playbooks)")


@app.command()
def plan(
    name: str, params: Annotated[list[str] | None, typer.Argument(help="key=value ...")] = None
) -> None:
    """The dry-run plan of a playbook with the given params; nothing is executed."""
    from bot.commands import StartRun
    from bot.config import load_config
    from bot.plans import config_names
    from bot.replies import format_plan
    from handlers.grammar import GrammarError, parse_command
    from playbooks.catalog import Catalog
    from playbooks.plan import build_plan

    settings = _settings()
    try:
        config = load_config(settings.resolved_config_path())
        dirs = [*config.playbook_dirs, *settings.extra_playbook_dirs()]
        catalog = Catalog.load(dirs, _registry())
        command = parse_command("playbook", shlex.join([name, *(params or [])]))
        if not isinstance(command, StartRun):
            _fail(f"`{name}` is a command word, not a playbook")
        playbook = catalog.get(name)
        # Against the config too: a connection or channel it lacks is warned about.
        result = build_plan(
            playbook,
            command.params,
            _registry(),
            catalog.by_name,
            dict(os.environ),
            names=config_names(config),
        )
    except (GrammarError, ChatOpsError) as exc:
        _fail(exc.reason)
    typer.echo(format_plan(result).replace("*", ""))


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply database migrations (also done at start-up)."""
    import asyncio

    from bot.db.connect import create_engine
    from bot.db.migrate import current_revision, upgrade

    settings = _settings()

    async def go() -> str | None:
        engine = create_engine(settings.database_url)
        try:
            await upgrade(engine, create_empty=False)  # always alembic's own migrations
            return await current_revision(engine)
        finally:
            await engine.dispose()

    try:
        revision = asyncio.run(go())
    except Exception as exc:
        problem = _database_problem(exc, settings.database_url)
        if problem is None:
            raise
        _fail(problem)
    typer.echo(f"database at revision {revision}")


def _registry() -> ActionRegistry:
    from playbooks.actions.registry import ActionRegistry

    return ActionRegistry.default()


def _catalog() -> Catalog:
    from bot.config import load_config
    from playbooks.catalog import Catalog

    settings = _settings()
    try:
        config = load_config(settings.resolved_config_path())
        return Catalog.load([*config.playbook_dirs, *settings.extra_playbook_dirs()], _registry())
    except ChatOpsError as exc:
        _fail(exc.reason)
