"""The application: commands and button presses in, cards and thread replies out.

Surfaces turn their payloads into :class:`~bot.chat.Invocation` / :class:`~bot.chat.ButtonPress`
and call :meth:`ChatOpsService.handle` / :meth:`ChatOpsService.press`. Runs execute as
asyncio tasks; :class:`~bot.progress.Progress` keeps their cards and threads up to date and
:class:`~bot.approvals.Approvals` takes the decisions.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import structlog
from sqlalchemy.exc import SQLAlchemyError

from bot.approvals import Approvals, expiry_for
from bot.cards import render_run_card
from bot.chat import Actor, Button, ButtonAction, ButtonPress, Chat, Invocation
from bot.commands import (
    CancelRun,
    Command,
    Help,
    History,
    ListPlaybooks,
    RunStatusQuery,
    ScheduleCommand,
    StartRun,
)
from bot.db.records import RunRecord
from bot.dependencies import Dependencies
from bot.engine.executor import Executor
from bot.engine.liveness import OwnerId
from bot.engine.overdue import OverdueWatch
from bot.engine.runs_here import RunsHere
from bot.lifecycle import SYSTEM, RunStatus
from bot.plans import Plans, config_names
from bot.policy import may_cancel, may_resume, may_run, may_start
from bot.progress import Progress
from bot.replies import (
    NO_SCHEDULES,
    format_catalog,
    format_help,
    format_history,
    format_plan,
    format_status,
    usage,
)
from bot.run_lookup import no_such_run, not_now, require_run
from bot.scheduling import Scheduling
from bot.upkeep import Upkeep
from playbooks.errors import ChatOpsError, ParamError
from playbooks.plan import Plan

__all__ = ["ChatOpsService"]

log = structlog.get_logger(__name__)

DATABASE_DOWN = (
    "I can't reach my database right now, so nothing was changed. Please try again in a minute."
)
UNEXPECTED = "Something went wrong on my side; nothing more was changed. It has been logged."


class ChatOpsService:
    """One per process; every surface shares it."""

    def __init__(self, deps: Dependencies) -> None:
        self.deps = deps
        self.store = deps.store
        self.catalog = deps.catalog
        self.owner = OwnerId.for_this_process()
        self.chats: dict[str, Chat] = {}
        self.plans = Plans(deps.registry, deps.catalog, deps.environ, config_names(deps.config))
        self.progress = Progress(deps, self.chats, self.plans, owner=str(self.owner))
        self.overdue = OverdueWatch(deps.catalog, self.progress.overdue)
        self.executor = Executor(
            store=deps.store,
            catalog=deps.catalog,
            registry=deps.registry,
            observer=self.progress,
            clock=deps.clock,
            http=deps.http,
            environ=deps.environ,
            redactor=deps.redactor,
            sql_url=lambda name: deps.config.connection_url(name, deps.environ),
            owner=str(self.owner),
            max_output_chars=deps.config.engine.max_output_chars,
            default_timeout=deps.config.engine.default_step_timeout,
            gate_poll=deps.config.engine.approval_poll_every,
        )
        self.runs = RunsHere(
            store=deps.store,
            catalog=deps.catalog,
            executor=self.executor,
            progress=self.progress,
            overdue=self.overdue,
            clock=deps.clock,
        )
        self.upkeep = Upkeep(deps, self.runs, self.progress, owner=self.owner)
        self.approvals = Approvals(
            deps, self.progress, self.executor, owner=str(self.owner), start_run=self.runs.spawn
        )
        self._background: list[asyncio.Task[None]] = []
        self.scheduling: Scheduling | None = None
        deps.metrics.active_runs.set_function(lambda: len(self.runs))

    def attach(self, chat: Chat) -> None:
        self.chats[chat.surface] = chat

    def attach_scheduling(self, scheduling: Scheduling) -> None:
        """What answers ``/schedule`` and opens the playbooks alerts suggest."""
        self.scheduling = scheduling

    # -- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        """Find runs a dead process left behind and expire approval waits that lapsed while
        no process was running, then keep heartbeating in the background."""
        await self.upkeep.sweep()
        await self.approvals.check()
        self._background = [
            asyncio.create_task(self.upkeep.loop(), name="liveness"),
            asyncio.create_task(
                self.runs.watch(self.deps.config.engine.cancel_check_every), name="cancel-watch"
            ),
            asyncio.create_task(
                self.approvals.watch(self.deps.config.engine.heartbeat_every), name="deadlines"
            ),
        ]

    async def shutdown(self, *, grace: float = 10.0) -> None:
        """Stop: runs still executing here become ``interrupted`` (Resume / Abort in thread)."""
        # Each loop is waited for until it has stopped: one cancelled in the middle of a
        # query still closes its connection, which must happen before the store closes.
        self.overdue.close()
        for task in self._background:
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        self._background = []
        await self.runs.interrupt_all(grace=grace)
        await self.progress.settle()

    async def wait_idle(self) -> None:
        """Wait until every run executing in this process has ended and its card is edited."""
        await self.runs.wait_idle()
        await self.progress.settle()

    async def sweep(self) -> list[RunRecord]:
        """Mark runs whose executing process died as ``interrupted``; returns them."""
        return await self.upkeep.sweep()

    async def check_approvals(self) -> None:
        """Expire approval waits and send reminders (run periodically; safe on any replica)."""
        await self.approvals.check()

    # -- inbound ------------------------------------------------------------------------

    async def handle(self, invocation: Invocation, command: Command) -> None:
        """Answer one command; every failure becomes a private answer to its author."""
        await self._guarded(invocation, lambda: self._dispatch(invocation, command))

    async def press(self, press: ButtonPress) -> None:
        """Act on one button press; refusals go privately to whoever pressed."""
        await self._guarded(press, lambda: self._on_button(press))

    async def _guarded(
        self, origin: Invocation | ButtonPress, work: Callable[[], Awaitable[None]]
    ) -> None:
        """The one place that turns failures into what the user reads."""
        outcome = "ok"
        try:
            await work()
        except ChatOpsError as exc:
            outcome = "refused"
            await self._private(origin, exc.reason)
        except SQLAlchemyError:
            outcome = "error"
            log.error("database_unreachable", exc_info=True)
            await self._private(origin, DATABASE_DOWN)
        except Exception:
            outcome = "error"
            log.exception("handler_crashed")
            await self._private(origin, UNEXPECTED)
        self.deps.metrics.commands.labels(origin.actor.surface, outcome).inc()

    async def _dispatch(self, inv: Invocation, command: Command) -> None:
        match command:
            case ListPlaybooks():
                await self._private(inv, format_catalog(self.catalog))
            case Help(playbook=None):
                await self._private(inv, usage(schedules=self.scheduling is not None))
            case Help(playbook=str(name)):
                playbook = self.catalog.get(name)
                try:
                    plan: Plan | None = self.plans.build(playbook, {})
                except ParamError:
                    plan = None  # required params have no defaults to estimate with
                await self._private(inv, format_help(playbook, plan))
            case StartRun():
                await self._start(inv, command)
            case RunStatusQuery(run_id=run_id):
                report = await self.store.run_report(run_id)
                if report is None:
                    raise no_such_run(run_id)
                text = format_status(
                    report.run, report.steps, report.decisions, report.audit, report.children
                )
                await self._private(inv, text)
            case History(playbook=name):
                if name is not None:
                    self.catalog.get(name)
                runs = await self.store.list_runs(playbook=name, limit=15)
                await self._private(inv, format_history(runs, name))
            case CancelRun(run_id=run_id):
                await self._cancel(inv, inv.actor, run_id)
            case ScheduleCommand():
                if self.scheduling is None:
                    raise ChatOpsError(NO_SCHEDULES)
                await self._private(inv, await self.scheduling.answer(inv.actor, command))

    async def start_scheduled(self, inv: Invocation, command: StartRun) -> RunRecord | None:
        """Start a run a schedule requests (``inv.actor`` stands for it) as a typed command
        starts one: the same card, approvals and expiry. Refusals raise to the scheduler,
        which records them, instead of being answered privately; None when the card could
        not be posted. A run that needs no approval starts at once: its requester, the
        schedule, presses Run."""
        return await self._start(inv, command)

    async def _start(self, inv: Invocation, command: StartRun) -> RunRecord | None:
        playbook = self.catalog.get(command.playbook)
        refusal = may_start(inv.actor, playbook, inv.place, self.deps.config)
        if refusal is not None:
            raise ChatOpsError(refusal)
        try:
            plan = self.plans.build(playbook, command.params)
        except ParamError as exc:
            raise ParamError(
                f"Can't start `{playbook.name}`: {exc.reason}. "
                f"See `/playbook help {playbook.name}`."
            ) from exc
        if command.dry_run:
            text = format_plan(plan)
            await self.store.record_dry_run(
                playbook=playbook.name,
                params=plan.params,
                actor=inv.actor,
                place=inv.place,
                plan=text.splitlines(),
                estimate_seconds=plan.estimate.seconds,
                estimate_cost_usd=plan.estimate.cost_usd,
            )
            await self._private(inv, text)
            return None
        run = await self.store.create_run(
            playbook=playbook.name,
            params=plan.params,
            actor=inv.actor,
            place=inv.place,
            estimate_seconds=plan.estimate.seconds,
            estimate_cost_usd=plan.estimate.cost_usd,
            needs_approval=plan.needs_approval,
            expires_at=expiry_for(
                playbook,
                plan,
                self.deps.clock.now(),
                run_card_window=self.deps.config.engine.run_card_expires_after,
            ),
        )
        self.plans.remember(run.id, plan)
        try:
            card = await self.progress.chat(inv.place.surface).post_card(
                inv.place, render_run_card(run, plan, [])
            )
        except Exception as exc:
            log.warning("card_post_failed", run=run.id, exc_info=True)
            await self.store.transition(
                run.id,
                expected={RunStatus.PENDING},
                to=RunStatus.CANCELLED,
                actor=SYSTEM,
                surface=SYSTEM,
                error=f"could not post the run card: {exc}",
            )
            await self._private(
                inv, f"I couldn't post the run card here ({exc}); run #{run.id} was not started."
            )
            return None
        await self.store.set_card(run.id, card)
        self.approvals.deadline_set(run)
        if plan.needs_approval and playbook.approval is not None:
            await self.approvals.ask(run, card, playbook.approval)
        elif inv.actor.schedule is not None:
            await self._press_run(
                ButtonPress(inv.actor, inv.place, Button(ButtonAction.RUN, run.id)), run
            )
        return run

    async def _on_button(self, press: ButtonPress) -> None:
        if press.button.action is ButtonAction.START:
            if self.scheduling is None:
                raise ChatOpsError("No alert suggestions are configured in this process.")
            suggested = await self.scheduling.suggested_run(press.button.run_id)
            await self._start(Invocation(press.actor, press.place, ""), suggested)
            return
        run = await require_run(self.store, press.button.run_id)
        if run.parent_run_id is not None:
            raise ChatOpsError(f"Run #{run.id} is part of run #{run.parent_run_id}; use that one.")
        match press.button.action:
            case ButtonAction.RUN:
                await self._press_run(press, run)
            case ButtonAction.CANCEL | ButtonAction.ABORT:
                await self._cancel(press, press.actor, run.id)
            case ButtonAction.RESUME:
                await self._resume(press, run)
            case ButtonAction.APPROVE | ButtonAction.DENY:
                await self.approvals.decide(press, run)

    async def _press_run(self, press: ButtonPress, run: RunRecord) -> None:
        refusal = may_run(press.actor, run)
        if refusal is not None:
            raise ChatOpsError(refusal)
        if run.expires_at is not None and self.deps.clock.now() >= run.expires_at:
            await self.approvals.expire(run)  # lapsed, whether or not the watch saw it yet
            raise ChatOpsError(await not_now(self.store, run.id, "run"))
        started = await self._start_running(press, run, RunStatus.PENDING, "run")
        self.progress.first_start(run.id)
        await self.progress.announce(started, f"▶️ Started by {press.actor.display}.")
        self.runs.spawn(started)

    async def _resume(self, press: ButtonPress, run: RunRecord) -> None:
        refusal = may_resume(press.actor, run, self.catalog.get(run.playbook), self.deps.config)
        if refusal is not None:
            raise ChatOpsError(refusal)
        resumed = await self._start_running(press, run, RunStatus.INTERRUPTED, "resume")
        await self.progress.announce(
            resumed, f"▶️ Resumed by {press.actor.display}; steps that succeeded are not repeated."
        )
        self.runs.spawn(resumed, resume=True)

    async def _start_running(
        self, press: ButtonPress, run: RunRecord, expected: RunStatus, verb: str
    ) -> RunRecord:
        """Claim the run for this process; if another change won, say which to the clicker."""
        running = await self.store.transition(
            run.id,
            expected={expected},
            to=RunStatus.RUNNING,
            actor=press.actor.key,
            surface=press.actor.surface,
            owner=str(self.owner),
        )
        if running is None:
            raise ChatOpsError(await not_now(self.store, run.id, verb))
        return running

    async def _cancel(self, origin: Invocation | ButtonPress, actor: Actor, run_id: int) -> None:
        run = await require_run(self.store, run_id)
        playbook = self.catalog.find(run.playbook)
        refusal = may_cancel(actor, run, playbook, self.deps.config)
        if refusal is not None:
            raise ChatOpsError(refusal)
        cancelled = await self.store.transition(
            run.id,
            expected={RunStatus.PENDING, RunStatus.RUNNING, RunStatus.INTERRUPTED},
            to=RunStatus.CANCELLED,
            actor=actor.key,
            surface=actor.surface,
            error="",  # what stopped it before (an interruption) no longer stands
        )
        if cancelled is None:
            raise ChatOpsError(await not_now(self.store, run.id, "cancel"))
        self.runs.cancel(run.id)  # stops the current step; a shell step's process is killed
        await self.progress.announce(cancelled, f"⛔ Cancelled by {actor.display}.")
        await self.progress.approval_closed(cancelled, f"⛔ Cancelled by {actor.display}.", None)
        if isinstance(origin, Invocation):
            await self._private(origin, f"Run #{run.id} cancelled.")

    async def _private(self, origin: Invocation | ButtonPress, text: str) -> None:
        try:
            await self.progress.chat(origin.actor.surface).reply_private(origin, text)
        except Exception:
            log.warning("private_reply_failed", exc_info=True)
