"""The organiser's group destinations: the group chats Linli posts to through their
robots, each with its tags; add one, turn one off or on, and post a test message to it
(straight through the channel, so the robot's answer shows at once)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ...core.errors import ServiceError
from ...domain import chat_groups
from ...domain.chat_groups import GroupChanges, GroupInput
from ..chat_groups import send_test_post
from ..jsonio import path_id
from .base import Console, console_routes, form_text, page_route, view

routes = console_routes()
_page = page_route(routes, "Groups")
_FIELDS = ("name", "channel", "credential", "signing_secret", "tags", "language")


def _tags(text: str) -> list[str]:
    """Tags as typed: separated by commas (ASCII or Chinese) or spaces."""
    for separator in ("，", "、", " "):
        text = text.replace(separator, ",")
    return [tag for tag in text.split(",") if tag.strip()]


async def _list(
    c: Console,
    status: int = 200,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None,
    result: Any = None,
) -> web.Response:
    found = await chat_groups.list_groups(c.store, limit=500, offset=0)
    return c.render(
        "groups/list.html",
        status,
        groups=found.items,
        errors=errors or {},
        values=values or {"language": c.settings.community.default_language},
        result=result,
    )


@_page("GET", "/groups", "the group chats posted to, and a form to add one")
@view
async def groups_page(request: web.Request, c: Console) -> web.StreamResponse:
    """Each group's robot, tags and state (a disabled one with its reason)."""
    return await _list(c)


@_page("POST", "/groups", "add a group chat")
@view
async def groups_create(request: web.Request, c: Console) -> web.StreamResponse:
    """A bad field is a 400 beside it; a name in use a 409."""
    values = {k: form_text(c.form, k) for k in _FIELDS}
    try:
        created = await chat_groups.create_group(
            c.store,
            GroupInput(
                name=values["name"],
                channel=values["channel"],
                credential=values["credential"],
                signing_secret=values["signing_secret"],
                tags=_tags(values["tags"]),
                language=values["language"] or "zh-CN",
            ),
            now=c.now,
        )
    except ServiceError as exc:
        # The credential and secret are not echoed back into the page.
        values.update(credential="", signing_secret="")
        return await _list(c, exc.status, errors=c.errors(exc), values=values)
    return c.redirect("/console/groups", "groups.created", name=created.name)


def _group_id(request: web.Request) -> int:
    return path_id(request, "group_not_found", "group")


@_page("POST", r"/groups/{id:\d+}/test", "post a test message to one group")
@view
async def groups_test(request: web.Request, c: Console) -> web.StreamResponse:
    """The robot's answer (or the reason it refused) shows on the page."""
    text = c.t("groups.test_text")
    try:
        result = await send_test_post(request, _group_id(request), text)
    except ServiceError as exc:
        return await _list(c, exc.status, errors=c.errors(exc))
    return await _list(c, result=result)


@_page("POST", r"/groups/{id:\d+}/enabled", "turn a group off or on")
@view
async def groups_enabled(request: web.Request, c: Console) -> web.StreamResponse:
    """enabled=1 turns it on again (its robot fixed), anything else off."""
    on = form_text(c.form, "enabled") == "1"
    group = await chat_groups.update_group(
        c.store, _group_id(request), GroupChanges(enabled=on), now=c.now
    )
    return c.redirect("/console/groups", "groups.on" if on else "groups.off", name=group.name)
