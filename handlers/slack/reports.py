"""Reports (digests, alerts) as Slack Block Kit blocks. Pure: no I/O, no Slack client.

A header with the title, the summary, then each section: its title and fields side by
side (section fields, ten to a block), then its lines; the footer in a context block and
the buttons last. A line that points at a run card links to its thread (a permalink built
from the stored message reference). Within Block Kit's limits as handlers.slack.blocks
keeps cards: 50 blocks and 12,000 characters of text; the sections share what the title,
summary, footer and buttons leave, and one cut short ends with how much was left out.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from slack_sdk.models.blocks import (
    ActionsBlock,
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from bot.chat import Button, MessageRef, Report, ReportLine, ReportSection
from handlers.slack.blocks import (
    MAX_ACTIONS,
    MAX_BLOCKS,
    MAX_FIELD_TEXT,
    MAX_FIELDS,
    MAX_HEADER_TEXT,
    MAX_SECTION_TEXT,
    MAX_TOTAL_TEXT,
    action_id,
    button_element,
    fallback_text,
)
from handlers.slack.text import (
    ELLIPSIS,
    cut,
    escape,
    fair_shares,
    plain,
    text_size,
    text_total,
    truncate,
)

__all__ = ["Permalink", "permalink", "report_blocks", "report_text"]

Block = dict[str, Any]
Permalink = Callable[[MessageRef], str | None]

_SURFACE = "slack"
_CHANNEL = re.compile(r"[A-Z0-9]+", re.ASCII)
_TS = re.compile(r"[0-9]+\.[0-9]+", re.ASCII)
_SUMMARY_TEXT = 1000
_FOOTER_TEXT = 500
_NOTE = 40  # "… 12 more not shown here"
_BLANK = " "


def permalink(workspace_url: str | None, ref: MessageRef) -> str | None:
    """The link to a message the bot posted on Slack (and so to its thread), from the
    workspace's URL (auth.test) and the stored reference; None for another surface, or
    a reference that does not look like Slack's own ids."""
    if workspace_url is None or ref.surface != _SURFACE:
        return None
    if not (_CHANNEL.fullmatch(ref.channel) and _TS.fullmatch(ref.message_id)):
        return None
    url = f"{workspace_url.rstrip('/')}/archives/{ref.channel}/p{ref.message_id.replace('.', '')}"
    if ref.thread and ref.thread != ref.message_id and _TS.fullmatch(ref.thread):
        url += f"?thread_ts={ref.thread}&cid={ref.channel}"
    return url


def report_text(report: Report) -> str:
    """The notification fallback: the title, the summary, and the lines of an untitled
    section (an alert's body, with its mentions)."""
    parts = [report.text()]
    for section in report.sections:
        if not section.title:
            parts += [line.text for line in section.lines]
    return fallback_text("\n".join(parts))


def report_blocks(report: Report, link: Permalink = lambda _ref: None) -> list[Block]:
    header = HeaderBlock(
        block_id="report-header",
        text=PlainTextObject(
            text=truncate(plain(report.title) or _BLANK, MAX_HEADER_TEXT), emoji=True
        ),
    ).to_dict()
    top: list[Block] = [header]
    if report.summary.strip():
        top.append(_section("report-summary", cut(escape(report.summary), _SUMMARY_TEXT)))
    tail: list[Block] = []
    if report.footer.strip():
        footer = cut(escape(report.footer), _FOOTER_TEXT)
        tail.append(ContextBlock(block_id="report-footer", elements=[_mrkdwn(footer)]).to_dict())
    actions = _actions(report.buttons)
    if actions is not None:
        tail.append(actions)
    left = MAX_TOTAL_TEXT - text_total(top) - text_total(tail)
    rooms = MAX_BLOCKS - len(top) - len(tail)
    rendered = [_rendered(section, link) for section in report.sections]
    sizes = [
        _size(section.title, texts)
        for section, texts in zip(report.sections, rendered, strict=True)
    ]
    shares = fair_shares(sizes, left, left)
    body: list[Block] = []
    for index, (section, texts, share) in enumerate(
        zip(report.sections, rendered, shares, strict=True), 1
    ):
        blocks = _section_blocks(f"s{index}", section.title, texts, share, rooms - len(body))
        if not blocks:
            break  # no room left for even its title: what follows is left out too
        body += blocks
    return top + body + tail


# -- one section ----------------------------------------------------------------------------


class _Texts:
    """A section's parts as escaped mrkdwn: fields then lines."""

    def __init__(self, fields: list[str], lines: list[str]) -> None:
        self.fields = fields
        self.lines = lines


def _rendered(section: ReportSection, link: Permalink) -> _Texts:
    fields = [
        cut(f"*{escape(field.label)}*\n{escape(field.value)}", MAX_FIELD_TEXT)
        for field in section.fields
    ]
    return _Texts(fields, [_line(line, link) for line in section.lines])


def _line(line: ReportLine, link: Permalink) -> str:
    text = escape(line.text)
    url = link(line.link) if line.link is not None else None
    return f"{text} <{url}|thread>" if url else text


def _size(title: str, texts: _Texts) -> int:
    """What the section needs whole: its heading, fields and lines, and room for a note."""
    heading = text_size(escape(title)) + 2 if title.strip() else 0
    parts = sum(text_size(t) for t in texts.fields) + sum(text_size(t) + 1 for t in texts.lines)
    return heading + parts + _NOTE


def _section_blocks(
    block_id: str, title: str, texts: _Texts, budget: int, rooms: int
) -> list[Block]:
    """The section's blocks within ``budget`` characters and ``rooms`` blocks; parts that
    do not fit are dropped from the end, and a note says how many."""
    heading = f"*{escape(title)}*" if title.strip() else ""
    budget -= text_size(heading)
    if rooms < 1 or budget < 0:
        return []
    fields: list[str] = []
    for text in texts.fields:
        if len(fields) >= MAX_FIELDS * max(rooms - 1, 1) or text_size(text) > budget:
            break
        fields.append(text)
        budget -= text_size(text)
    lines: list[str] = []
    left_out = len(texts.fields) - len(fields)
    for text in texts.lines:
        if text_size(text) + 1 > budget - _NOTE:
            break
        lines.append(cut(text, MAX_SECTION_TEXT))
        budget -= text_size(text) + 1
    left_out += len(texts.lines) - len(lines)
    if left_out:
        lines.append(f"{ELLIPSIS} {left_out} more not shown here")
    blocks: list[Block] = []
    chunks = [fields[i : i + MAX_FIELDS] for i in range(0, len(fields), MAX_FIELDS)] or [[]]
    for number, chunk in enumerate(chunks, 1):
        text = heading if number == 1 else ""
        if not text and not chunk:
            continue
        block = SectionBlock(
            block_id=f"{block_id}-f{number}",
            text=_mrkdwn(text) if text else None,
            fields=[_mrkdwn(field) for field in chunk] or None,
        )
        blocks.append(block.to_dict())
    blocks += [
        _section(f"{block_id}-l{number}", text) for number, text in enumerate(_packed(lines), 1)
    ]
    return blocks[:rooms]


def _packed(lines: Sequence[str]) -> list[str]:
    """Lines joined into texts of at most MAX_SECTION_TEXT, never splitting a line."""
    texts: list[str] = []
    current: list[str] = []
    size = 0
    for line in lines:
        if current and size + 1 + text_size(line) > MAX_SECTION_TEXT:
            texts.append("\n".join(current))
            current, size = [], 0
        size += text_size(line) + (1 if current else 0)
        current.append(line)
    if current:
        texts.append("\n".join(current))
    return texts


def _mrkdwn(text: str) -> MarkdownTextObject:
    return MarkdownTextObject(text=text if text.strip() else _BLANK)


def _section(block_id: str, text: str) -> Block:
    return SectionBlock(block_id=block_id, text=_mrkdwn(cut(text, MAX_SECTION_TEXT))).to_dict()


def _actions(buttons: Sequence[Button]) -> Block | None:
    elements: list[Block] = []
    seen: dict[str, int] = {}
    for button in dict.fromkeys(buttons):
        if len(elements) == MAX_ACTIONS:
            break
        base = action_id(button)
        seen[base] = seen.get(base, 0) + 1
        unique = base if seen[base] == 1 else f"{base}.{seen[base]}"
        elements.append(button_element(button, unique_action_id=unique))
    if not elements:
        return None
    return ActionsBlock(block_id="report-actions", elements=elements).to_dict()
