"""One console session: who is typing, in which channel, and what each line means.

Lines starting with ``/`` are chat commands; ``:`` lines drive the console itself:
``:as NAME`` switches the acting user, ``:channel NAME`` the channel, ``:press LABEL RUN``
presses a button, ``:wait`` waits for running runs, ``:help``, ``:quit``.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.chat import Actor, Button, ButtonAction, ButtonPress, Invocation, MessageRef, Place
from bot.service import ChatOpsService
from handlers.dispatch import dispatch_command
from handlers.grammar import GrammarError, check_length, parse_run_id, read_words, split_command
from handlers.shell.output import SURFACE, ShellChat

__all__ = ["CONSOLE_HELP", "ShellSession"]

CONSOLE_HELP = """\
Type chat commands as in Slack, e.g. `/playbook list`, `/playbook help clear-cache`,
`/playbook clear-cache index_name=kb`. Console commands:
  :as NAME            act as another user (roles map shell names in chatops.yaml)
  :channel NAME       post in another channel
  :press LABEL RUN    press a button of a run, e.g. `:press Run 1`
  :press Deny RUN "why"   deny with a reason
  :confirm            go ahead with a press that asked to confirm (Run on a risky
                      playbook, Abort, ...); anything else typed instead cancels it
  :wait               wait until every running run has ended
  :whoami             show the acting user and channel
  :help               this text
  :quit               leave (runs still executing are marked interrupted)"""


@dataclass
class ShellSession:
    service: ChatOpsService
    chat: ShellChat
    user: str
    channel: str = "incidents"
    running: bool = True
    # A press whose button asks to confirm (as Slack's dialog does), until `:confirm`.
    awaiting_confirmation: ButtonPress | None = None

    def actor(self, user: str | None = None) -> Actor:
        name = user or self.user
        return Actor(SURFACE, name, name)

    def place(self) -> Place:
        return Place(SURFACE, self.channel, name=self.channel)

    async def execute(self, line: str, *, user: str | None = None) -> None:
        """Act on one typed line (as ``user``, or the session's current user)."""
        text = line.strip()
        if not text or text.startswith("#"):
            return
        pending, self.awaiting_confirmation = self.awaiting_confirmation, None
        actor = self.actor(user)
        invocation = Invocation(actor, self.place(), text)
        try:
            check_length(text)
        except GrammarError as exc:
            await self.chat.reply_private(invocation, exc.reason)
            return
        if text.startswith("/"):
            command, arguments = split_command(text)
            await dispatch_command(self.service, self.chat, invocation, command, arguments)
        elif text.startswith(":"):
            await self._console_command(invocation, text[1:], pending)
        else:
            await self.chat.reply_private(
                invocation, "Commands start with `/` (try `/playbook list`) or `:` (try `:help`)."
            )

    async def press(
        self,
        label: str,
        run_id: int,
        *,
        user: str | None = None,
        reason: str = "",
        confirmed: bool = True,
    ) -> None:
        """Press the latest button ``label`` of run ``run_id`` as ``user``. Unless
        ``confirmed``, a button that asks to confirm first only asks (``:confirm`` goes on)."""
        actor = self.actor(user)
        try:
            action = ButtonAction(label.lower())
        except ValueError:
            labels = ", ".join(a.label for a in ButtonAction)
            await self.chat.reply_private(
                Invocation(actor, self.place(), label), f"No button `{label}`; buttons: {labels}."
            )
            return
        button, message = self._latest_button(action, run_id)
        if message is None:
            # Not on this console's screen (posted before it started): show its card as it
            # stands, so the press carries the button the card offers, confirmation and all.
            await self._show_card(run_id)
            button, message = self._latest_button(action, run_id)
        press = ButtonPress(actor, self.place(), button, message, reason=reason)
        if button.confirm and not confirmed:
            self.awaiting_confirmation = press
            await self.chat.reply_private(
                Invocation(actor, self.place(), label),
                f"⚠️ {button.confirm} Type `:confirm` to go ahead; anything else cancels.",
            )
            return
        await self.service.press(press)

    async def _show_card(self, run_id: int) -> None:
        try:
            run = await self.service.store.get_run(run_id)
        except Exception:  # the press itself will say what is wrong
            return
        if run is not None and run.card is not None and run.card.surface == SURFACE:
            await self.service.progress.refresh_card(run)

    def _latest_button(self, action: ButtonAction, run_id: int) -> tuple[Button, MessageRef | None]:
        """The newest such button on screen (an Approve of a step gate carries its step)."""
        for message in reversed(self.chat.messages):
            for button in message.buttons:
                if button.action is action and button.run_id == run_id:
                    ref = MessageRef(SURFACE, message.channel, message.id, message.thread_of)
                    return button, ref
        return Button(action, run_id), None

    async def _console_command(
        self, invocation: Invocation, text: str, pending: ButtonPress | None = None
    ) -> None:
        try:
            words = read_words(text)
        except GrammarError as exc:
            await self.chat.reply_private(invocation, exc.reason)
            return
        verb, args = (words[0].lower(), words[1:]) if words else ("help", [])
        if verb in ("as", "user") and len(args) == 1:
            self.user = args[0]
            await self.chat.reply(invocation, f"Now acting as {self.user}.")
        elif verb == "channel" and len(args) == 1:
            self.channel = args[0].lstrip("#")
            await self.chat.reply(invocation, f"Now in #{self.channel}.")
        elif verb == "press" and len(args) in (2, 3):
            try:
                run_id = parse_run_id(args[1])
            except GrammarError as exc:
                await self.chat.reply_private(invocation, exc.reason)
                return
            await self.press(
                args[0],
                run_id,
                user=invocation.actor.id,
                reason=args[2] if len(args) == 3 else "",
                confirmed=False,
            )
        elif verb == "confirm":
            if pending is None or pending.actor != invocation.actor:
                await self.chat.reply_private(invocation, "Nothing is waiting to be confirmed.")
            else:
                await self.service.press(pending)
        elif verb == "wait":
            await self.service.wait_idle()
        elif verb == "whoami":
            await self.chat.reply(invocation, f"You are {self.user} in #{self.channel}.")
        elif verb in ("quit", "exit", "q"):
            self.running = False
        else:
            await self.chat.reply_private(invocation, CONSOLE_HELP)
