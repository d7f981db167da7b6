"""Executes a run's steps: conditions, timeouts, retries with backoff, rollback, sub-playbooks.

One run is one asyncio task; nothing here holds a lock or a transaction across a step's I/O.
Progress is reported to a :class:`RunObserver` (the service posts it to chat).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import structlog
from pydantic import ValidationError

from bot.chat import Actor
from bot.clock import Clock
from bot.db.connect import UNREACHABLE
from bot.db.records import RunRecord, StepRecord
from bot.db.store import Store
from bot.engine.gates import ApprovalGates
from bot.engine.observer import RunObserver, safely
from bot.engine.outage import LOST_DATABASE, STOPS_A_RUN, LostDatabase, first_line
from bot.engine.step_context import StepContext, step_view
from bot.engine.stops import RunStops
from bot.lifecycle import SYSTEM, RunStatus, StepStatus
from playbooks.actions.base import ActionResult, MisconfiguredError
from playbooks.actions.registry import ActionRegistry
from playbooks.catalog import Catalog
from playbooks.durations import format_duration
from playbooks.errors import ActionError, ChatOpsError, TemplateError
from playbooks.model import Playbook, Step
from playbooks.params import resolve_params
from playbooks.plan import approval_required, estimate_playbook
from playbooks.secrets import Redactor
from playbooks.templating import EnvView, SecretsView, evaluate_condition, render_value

__all__ = ["Executor", "StepOutcome"]

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class StepOutcome:
    record: StepRecord
    result: ActionResult | None

    @property
    def failed(self) -> bool:
        return self.record.status is StepStatus.FAILED


class Executor:
    """Runs playbooks for runs already moved to ``running`` in the store."""

    def __init__(
        self,
        *,
        store: Store,
        catalog: Catalog,
        registry: ActionRegistry,
        observer: RunObserver,
        clock: Clock,
        http: httpx.AsyncClient,
        environ: Mapping[str, str],
        redactor: Redactor,
        sql_url: Callable[[str], str],
        owner: str,
        max_output_chars: int = 4000,
        default_timeout: float = 900.0,
        gate_poll: float = 2.0,
    ) -> None:
        self.store = store
        self.catalog = catalog
        self.registry = registry
        self.observer = observer
        self.clock = clock
        self.http = http
        self.environ = environ
        self.redactor = redactor
        self.sql_url = sql_url
        self.owner = owner
        self.max_output_chars = max_output_chars
        self.default_timeout = default_timeout
        self.gates = ApprovalGates(
            store=store, clock=clock, observer=observer, poll_every=gate_poll
        )
        self.stops = RunStops(store=store, observer=observer, owner=owner)

    async def execute(
        self, run: RunRecord, playbook: Playbook, actor: str, *, resume: bool = False
    ) -> RunRecord:
        """Run every step of ``run``; with ``resume``, after the steps that already succeeded.

        Returns the run as it ended. A cancelled task closes its steps still running or
        waiting; a child run is cancelled with it and the cancellation goes on up to the parent.
        A run whose store stops answering goes no further and ends interrupted once the
        database is back (:mod:`bot.engine.outage`).
        """
        try:
            try:
                return await self._steps_then_end(run, playbook, actor, resume=resume)
            except STOPS_A_RUN as exc:
                # The run's state can no longer be recorded: it goes no further. A
                # sub-playbook's run stops at once and its parent's engine records both.
                stopped = exc.runs if isinstance(exc, LostDatabase) else ()
                if run.parent_run_id is not None:
                    raise LostDatabase((*stopped, run.id)) from exc
                cause = exc.__cause__ if isinstance(exc, LostDatabase) else exc
                log.warning("run_lost_database", run=run.id, error=first_line(cause or exc))
                return await self.stops.abandon(
                    run, RunStatus.INTERRUPTED, LOST_DATABASE, sub_runs=stopped
                )
        except asyncio.CancelledError:
            await asyncio.shield(self.stops.cancelled(run))
            raise

    async def _steps_then_end(
        self, run: RunRecord, playbook: Playbook, actor: str, *, resume: bool
    ) -> RunRecord:
        variables = self.variables(run, playbook)
        done: dict[str, StepRecord] = {}
        if resume:
            done = {
                s.step_id: s
                for s in await self.store.steps(run.id)
                if s.phase == "main" and s.status in (StepStatus.SUCCEEDED, StepStatus.SKIPPED)
            }
        for step_id, record in done.items():
            variables["steps"][step_id] = step_view(record, None)
        failure: StepOutcome | None = None
        for position, step in enumerate(playbook.steps):
            if step.id in done:
                continue
            outcome = await self.run_step(run, step, position, "main", variables)
            variables["steps"][step.id] = step_view(outcome.record, outcome.result)
            if outcome.failed and not step.continue_on_failure:
                failure = outcome
                break
        if failure is None:
            return await self._finish(run, RunStatus.SUCCEEDED, actor, error=None)
        error = f"step `{failure.record.step_id}` failed: {failure.record.error}"
        if not playbook.rollback:
            return await self._finish(run, RunStatus.FAILED, actor, error=error)
        rolled_back = await self._rollback(run, playbook, variables)
        status = RunStatus.ROLLED_BACK if rolled_back else RunStatus.FAILED
        if not rolled_back:
            error += "; rollback did not complete"
        return await self._finish(run, status, actor, error=error)

    async def run_step(
        self,
        run: RunRecord,
        step: Step,
        position: int,
        phase: str,
        variables: dict[str, Any],
    ) -> StepOutcome:
        """One step: its condition, then up to ``retries + 1`` attempts within its timeout."""
        action = self.registry[step.action]
        if step.when is not None:
            try:
                go = evaluate_condition(step.when, variables)
            except TemplateError as exc:
                return await self._end_step(
                    run, step, position, phase, StepStatus.FAILED, 0, None, exc.reason
                )
            if not go:
                skipped = ActionResult(summary=f"`{step.when.strip()}` is false")
                return await self._end_step(
                    run, step, position, phase, StepStatus.SKIPPED, 0, skipped, None
                )
        if step.approval is not None and phase == "main":
            try:
                gated = evaluate_condition(step.approval.required, variables)
            except TemplateError as exc:
                return await self._end_step(
                    run, step, position, phase, StepStatus.FAILED, 0, None, exc.reason
                )
            if gated:
                refusal = await self.gates.wait(run, step, step.approval, position)
                if refusal is not None:
                    return await self._end_step(
                        run, step, position, phase, StepStatus.FAILED, 0, None, refusal
                    )
        started_at = await self.store.start_step(
            run_id=run.id,
            step_id=step.id,
            phase=phase,
            position=position,
            action=step.action,
            actor=SYSTEM,
        )
        self.observer.step_started(
            run,
            StepRecord.begun(
                run_id=run.id,
                step_id=step.id,
                phase=phase,
                position=position,
                action=step.action,
                status=StepStatus.RUNNING,
                started_at=started_at,
            ),
        )
        timeout = step.timeout or self.default_timeout
        attempts_allowed = step.retries + 1
        reason = ""
        for attempt in range(1, attempts_allowed + 1):
            try:
                lazy = {k: v for k, v in step.with_.items() if k in action.lazy_args}
                eager = {k: v for k, v in step.with_.items() if k not in action.lazy_args}
                args = action.parse({**render_value(eager, variables), **lazy})
            except TemplateError as exc:
                reason = exc.reason
                break  # a template will not render better on a second try
            except ValidationError as exc:
                reason = _validation_reason(exc)
                break
            context = StepContext(executor=self, run=run, step=step, variables=variables)
            try:
                async with asyncio.timeout(timeout):
                    result = await action.execute(args, context)
            except TimeoutError:
                reason = f"timed out after {format_duration(timeout)}"
            except MisconfiguredError as exc:
                reason = exc.reason
                break  # another attempt would meet the same configuration
            except ChatOpsError as exc:
                reason = exc.reason
            except (asyncio.CancelledError, LostDatabase):
                raise  # a sub-playbook that lost the database stops its parent too
            except Exception as exc:  # a plugin's bug must fail its step, not the engine
                log.exception("action_crashed", run=run.id, step=step.id, action=step.action)
                reason = f"{type(exc).__name__}: {exc}"
            else:
                return await self._end_step(
                    run,
                    step,
                    position,
                    phase,
                    StepStatus.SUCCEEDED,
                    attempt,
                    result,
                    None,
                    started_at=started_at,
                )
            if attempt < attempts_allowed:
                await safely(
                    self.observer.step_retrying(
                        run, step.id, attempt + 1, attempts_allowed, self.redactor(reason)
                    )
                )
                await self.clock.sleep(step.retry_backoff * 2 ** (attempt - 1))
        return await self._end_step(
            run,
            step,
            position,
            phase,
            StepStatus.FAILED,
            attempt,
            None,
            reason,
            started_at=started_at,
        )

    def variables(self, run: RunRecord, playbook: Playbook) -> dict[str, Any]:
        """What templates see while this run executes."""
        return {
            "params": dict(run.params),
            "steps": {},
            "env": EnvView(self.environ),
            "secrets": SecretsView(self.environ, self.redactor.add),
            "run": {
                "id": run.id,
                "playbook": playbook.name,
                "requested_by": run.requester_display,
                "channel": run.place.name or run.place.channel,
            },
        }

    async def run_child(
        self, parent: RunRecord, step: Step, name: str, params: Mapping[str, Any]
    ) -> ActionResult:
        """Run sub-playbook ``name`` as a child of ``parent``; ActionError unless it succeeds."""
        playbook = self.catalog.get(name)
        resolved = resolve_params(playbook, params)
        if approval_required(playbook.approval, resolved):
            raise ActionError(
                f"sub-playbook `{name}` needs approval with these params; start it on its own "
                f"with `/playbook {name}` so its approvers can decide"
            )
        estimate = estimate_playbook(
            playbook, resolved, self.registry, self.catalog.by_name, self.environ, depth=0
        )
        try:
            child = await self.store.create_run(
                playbook=name,
                params=resolved,
                actor=_system_actor(parent),
                place=parent.place,
                estimate_seconds=estimate.seconds,
                estimate_cost_usd=estimate.cost_usd,
                parent_run_id=parent.id,
                parent_step=step.id,
            )
        except UNREACHABLE as exc:
            raise LostDatabase() from exc
        try:
            started = await self.store.transition(
                child.id,
                expected={RunStatus.PENDING},
                to=RunStatus.RUNNING,
                actor=SYSTEM,
                surface=SYSTEM,
                owner=self.owner,
                detail={"parent_run": parent.id},
            )
        except UNREACHABLE as exc:
            raise LostDatabase((child.id,)) from exc  # it may have started, answer lost
        assert started is not None  # nobody else knows this child yet
        ended = await self.execute(started, playbook, SYSTEM)
        summary = f"sub-playbook `{name}` (run #{ended.id}) {ended.status.value}"
        if ended.status is not RunStatus.SUCCEEDED:
            raise ActionError(f"{summary}: {ended.error or 'no reason given'}")
        return ActionResult(summary=summary, value=ended.status.value, data={"run_id": ended.id})

    # -- internals ----------------------------------------------------------------------

    async def _rollback(
        self, run: RunRecord, playbook: Playbook, variables: dict[str, Any]
    ) -> bool:
        """Run the rollback steps bottom-up; True when every one succeeded."""
        await safely(self.observer.rollback_started(run))
        ok = True
        for position, step in reversed(list(enumerate(playbook.rollback))):
            outcome = await self.run_step(run, step, position, "rollback", variables)
            variables["steps"][step.id] = step_view(outcome.record, outcome.result)
            ok = ok and (not outcome.failed or step.continue_on_failure)
        return ok

    async def _end_step(
        self,
        run: RunRecord,
        step: Step,
        position: int,
        phase: str,
        status: StepStatus,
        attempts: int,
        result: ActionResult | None,
        error: str | None,
        *,
        started_at: datetime | None = None,
    ) -> StepOutcome:
        record = await self.store.finish_step(
            run_id=run.id,
            step_id=step.id,
            phase=phase,
            position=position,
            action=step.action,
            status=status,
            attempts=attempts,
            summary=self._clip(result.summary if result else (error or ""), 500),
            output=self._clip(result.output if result else ""),
            error=error,
            actor=SYSTEM,
            started_at=started_at,
        )
        await self._tell_step(run, record)
        return StepOutcome(record, result)

    async def _finish(
        self, run: RunRecord, status: RunStatus, actor: str, *, error: str | None
    ) -> RunRecord:
        ended = await self.store.transition(
            run.id,
            expected={RunStatus.RUNNING},
            to=status,
            actor=actor,
            surface=SYSTEM,
            error=error,
            held_by=self.owner,
        )
        if ended is None:  # cancelled or interrupted meanwhile: that decision stands
            return await self._reload(run.id)
        await safely(self.observer.run_changed(ended))
        return ended

    async def _reload(self, run_id: int) -> RunRecord:
        current = await self.store.get_run(run_id)
        assert current is not None
        return current

    async def _tell_step(self, run: RunRecord, record: StepRecord) -> None:
        await safely(self.observer.step_finished(run, record))

    def _clip(self, text: str, limit: int | None = None) -> str:
        limit = limit or self.max_output_chars
        text = self.redactor(text)
        if len(text) <= limit:
            return text
        # Keep the tail: the end of an output is where the error usually is.
        kept = text[-(limit - 40) :]
        return f"[… {len(text) - len(kept)} earlier characters cut]\n{kept}"


def _system_actor(parent: RunRecord) -> Actor:
    """Child runs are recorded as requested by whoever requested the parent."""
    surface, _, ident = parent.requested_by.partition(":")
    return Actor(surface, ident, parent.requester_name)


def _validation_reason(exc: ValidationError) -> str:
    first = exc.errors(include_url=False)[0]
    where = ".".join(str(p) for p in first["loc"]) or "arguments"
    return f"bad argument `{where}`: {first['msg']}"
