"""The application: commands and button presses in, cards and thread replies out.

Surfaces turn their payloads into :class:`~bot.chat.Invocation` / :class:`~bot.chat.ButtonPress`
and call :meth:`ChatOpsService.handle` / :meth:`ChatOpsService.press`. Runs execute as
asyncio tasks; :class:`~bot.progress.Progress` keeps their cards and threads up to date and
:class:`~bot.approvals.Approvals` takes the decisions.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta

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
from bot.db.connect import UNREACHABLE
from bot.db.records import RunRecord
from bot.dependencies import Dependencies
from bot.engine.cancellation import stop_if_cancelled
from bot.engine.executor import Executor
from bot.engine.liveness import OwnerId, is_orphaned, must_let_go
from bot.engine.observer import safely
from bot.engine.outage import LOST_DATABASE, first_line
from bot.engine.overdue import OverdueWatch
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
        self.approvals = Approvals(
            deps, self.progress, self.executor, owner=str(self.owner), start_run=self._spawn
        )
        self._tasks: dict[int, asyncio.Task[None]] = {}
        self._stopping: set[int] = set()  # runs stopped here because heartbeats were lost
        self._background: list[asyncio.Task[None]] = []
        self.scheduling: Scheduling | None = None
        deps.metrics.active_runs.set_function(lambda: len(self._tasks))

    def attach(self, chat: Chat) -> None:
        self.chats[chat.surface] = chat

    def attach_scheduling(self, scheduling: Scheduling) -> None:
        """What answers ``/schedule`` and opens the playbooks alerts suggest."""
        self.scheduling = scheduling

    # -- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        """Find runs a dead process left behind and expire approval waits that lapsed while
        no process was running, then keep heartbeating in the background."""
        await self.sweep()
        await self.approvals.check()
        self._background = [
            asyncio.create_task(self._liveness_loop(), name="liveness"),
            asyncio.create_task(self._cancel_watch_loop(), name="cancel-watch"),
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
        for run_id in list(self._tasks):
            try:
                stopped = await self.store.transition(
                    run_id,
                    expected={RunStatus.RUNNING},
                    to=RunStatus.INTERRUPTED,
                    actor=SYSTEM,
                    surface=SYSTEM,
                    error="the bot was shut down while this run was executing",
                )
            except UNREACHABLE as exc:
                # It stays running under this process's name; once the database is back, a
                # sweep (the next start here, or another replica) finds it interrupted.
                log.warning("shutdown_not_recorded", run=run_id, error=first_line(exc))
                stopped = None
            if stopped is not None:
                await safely(self.progress.run_changed(stopped))
            executing = self._tasks.get(run_id)
            if executing is not None:  # None: it ended by itself meanwhile
                executing.cancel()
        if self._tasks:
            await asyncio.wait(list(self._tasks.values()), timeout=grace)
        await self.progress.settle()

    async def wait_idle(self) -> None:
        """Wait until every run executing in this process has ended and its card is edited."""
        while self._tasks:
            await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        await self.progress.settle()

    async def sweep(self) -> list[RunRecord]:
        """Mark runs whose executing process died as ``interrupted``; returns them."""
        now = self.deps.clock.now()
        stale = timedelta(seconds=self.deps.config.engine.stale_after)
        found = []
        for run in await self.store.running_elsewhere(str(self.owner)):
            if run.id in self._tasks or not is_orphaned(
                run, me=self.owner, now=now, stale_after=stale
            ):
                continue
            interrupted = await self.store.transition(
                run.id,
                expected={RunStatus.RUNNING},
                to=RunStatus.INTERRUPTED,
                actor=SYSTEM,
                surface=SYSTEM,
                error=f"the process running it ({run.owner}) stopped",
            )
            if interrupted is not None:
                found.append(interrupted)
                await safely(self.progress.run_changed(interrupted))
        return found

    async def check_approvals(self) -> None:
        """Expire approval waits and send reminders (run periodically; safe on any replica)."""
        await self.approvals.check()

    async def _liveness_loop(self) -> None:
        """Heartbeat, sweep, chat resync: every ``heartbeat_every``, for
        as long as the process runs. A round that fails (the database away, a chat surface
        refusing) is logged and the next one tries again."""
        engine = self.deps.config.engine
        every = engine.heartbeat_every
        # Event-dedup keys (Store.first_delivery) are dropped a day after they were seen, at
        # most once an hour: retries come within minutes, and the table must not grow forever.
        keep_deliveries, forget_every = timedelta(days=1), 3600.0
        forgot_at: float | None = None
        loop = asyncio.get_running_loop()
        beat_at = loop.time()
        while True:
            stop_if_cancelled()  # a round's database call may have lost a cancellation
            # Real time, not the injectable clock: this paces the process, not a playbook.
            await asyncio.sleep(every)
            try:
                # A heartbeat slower than the time between two (or a second) is as good as
                # lost: a hung one must not hold up the check below.
                async with asyncio.timeout(max(every, 1.0)):
                    await self.store.heartbeat(str(self.owner))
                beat_at = loop.time()
            except Exception as exc:
                _log_round_failed("liveness_check_failed", exc, check="heartbeat")
                if must_let_go(beat_at, loop.time(), stale_after=engine.stale_after):
                    self._let_go_of_runs()
                continue  # the rest would fail the same way
            try:
                await self.sweep()
                await self.progress.resync_cards()
                now = loop.time()
                if forgot_at is None or now - forgot_at >= forget_every:
                    forgot_at = now
                    await self.store.forget_deliveries(
                        seen_before=self.deps.clock.now() - keep_deliveries
                    )
            except Exception as exc:
                _log_round_failed("liveness_check_failed", exc, check="sweep")

    def _let_go_of_runs(self) -> None:
        """Stop every run executing here: this process's heartbeats have not reached the
        database for so long that another replica may soon presume it dead and take its
        runs over. Each is recorded interrupted once the database answers (unless another
        replica got there first), so no run ever executes in two places."""
        for run_id, task in self._tasks.items():
            if run_id not in self._stopping and run_id not in self.executor.stops.ending:
                log.warning("run_let_go", run=run_id, reason="heartbeats lost")
                self._stopping.add(run_id)
                task.cancel()

    async def _cancel_watch_loop(self) -> None:
        """Stop runs executing here that another replica cancelled: one query for them all.

        Only a status someone else sets stops a run (cancelled, or interrupted by a replica
        that presumed this one dead); a run that has just ended by itself is still reporting
        its end, which a cancel would lose.
        """
        stopped_elsewhere = {RunStatus.CANCELLED, RunStatus.INTERRUPTED}
        every = self.deps.config.engine.cancel_check_every
        while True:
            stop_if_cancelled()  # a round's database call may have lost a cancellation
            await asyncio.sleep(every)
            if not self._tasks:
                continue
            try:
                statuses = await self.store.statuses(list(self._tasks))
            except Exception as exc:
                _log_round_failed("cancel_check_failed", exc)
                continue
            for run_id, status in statuses.items():
                task = self._tasks.get(run_id)
                if run_id in self.executor.stops.ending:
                    continue  # this process is recording how it stopped: its own status
                if task is not None and status in stopped_elsewhere:
                    self.progress.forget(run_id)  # its cached row says running no longer
                    task.cancel()
                    self.progress.request_refresh(run_id)  # the card shows how it stopped

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
        if run.expires_at is not None:
            self.approvals.deadline_set()
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
        self._spawn(started)

    async def _resume(self, press: ButtonPress, run: RunRecord) -> None:
        refusal = may_resume(press.actor, run, self.catalog.get(run.playbook), self.deps.config)
        if refusal is not None:
            raise ChatOpsError(refusal)
        resumed = await self._start_running(press, run, RunStatus.INTERRUPTED, "resume")
        await self.progress.announce(
            resumed, f"▶️ Resumed by {press.actor.display}; steps that succeeded are not repeated."
        )
        self._spawn(resumed, resume=True)

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
        task = self._tasks.get(run.id)
        if task is not None:
            task.cancel()  # stops the current step; a shell step's process is killed
        await self.progress.announce(cancelled, f"⛔ Cancelled by {actor.display}.")
        await self.progress.approval_closed(cancelled, f"⛔ Cancelled by {actor.display}.", None)
        if isinstance(origin, Invocation):
            await self._private(origin, f"Run #{run.id} cancelled.")

    # -- running ------------------------------------------------------------------------

    def _spawn(self, run: RunRecord, *, resume: bool = False) -> None:
        task = asyncio.create_task(self._execute(run, resume), name=f"run-{run.id}")
        self._tasks[run.id] = task
        elapsed = 0.0
        if run.started_at is not None:
            elapsed = max((self.deps.clock.now() - run.started_at).total_seconds(), 0.0)
        self.overdue.started(run, elapsed)

        def ended(_task: asyncio.Task[None]) -> None:
            self._tasks.pop(run.id, None)
            self.overdue.ended(run.id)

        task.add_done_callback(ended)

    async def _execute(self, run: RunRecord, resume: bool) -> None:
        """A run's task. Nothing awaits it, so it ends every way without raising: how the
        run ended is in the database and in chat, or in the log when neither could be told."""
        try:
            await self.executor.execute(run, self.catalog.get(run.playbook), SYSTEM, resume=resume)
        except asyncio.CancelledError:
            if run.id not in self._stopping:
                return  # the canceller has already recorded why
            # This process stopped it, its heartbeats lost: it records why, once it can.
            task = asyncio.current_task()
            if task is not None:
                task.uncancel()
            await self._abandon(run, RunStatus.INTERRUPTED, LOST_DATABASE)
        except Exception as exc:
            log.exception("run_crashed", run=run.id)
            await self._abandon(
                run, RunStatus.FAILED, f"internal error: {type(exc).__name__}: {exc}"
            )
        finally:
            self._stopping.discard(run.id)

    async def _abandon(self, run: RunRecord, to: RunStatus, error: str) -> None:
        """Record how a run stopped here ended, retrying until the database takes it."""
        try:
            await self.executor.stops.abandon(run, to, error)
        except Exception:
            log.exception("run_end_not_recorded", run=run.id)

    async def _private(self, origin: Invocation | ButtonPress, text: str) -> None:
        try:
            await self.progress.chat(origin.actor.surface).reply_private(origin, text)
        except Exception:
            log.warning("private_reply_failed", exc_info=True)


def _log_round_failed(event: str, exc: Exception, **context: str) -> None:
    """A background round failed: a database that is away is expected now and then and
    needs no traceback; anything else does."""
    if isinstance(exc, UNREACHABLE):
        log.warning(event, error=first_line(exc), **context)
    else:
        log.warning(event, exc_info=exc, **context)
