"""/api/v1/groups: group destinations (group chats posted to through their robots), and a
test post to one."""

from __future__ import annotations

from typing import Literal

from aiohttp import web
from pydantic import Field

from ..core.errors import ConflictError
from ..core.models import ChatGroup
from ..dispatch import TestResult
from ..domain import chat_groups
from ..domain.chat_groups import CREDENTIAL_MAX, NAME_MAX, GroupChanges, GroupInput
from ..keys import clock_key, delivery_key, store_key
from .jsonio import NO_NUL, Body, Patch, path_id, reply
from .paging import PageQuery
from .routing import STAFF, Api, ListOf

routes = Api()
TAG = "groups"
_CREDENTIAL_HELP = (
    "The robot's webhook address as the app shows it, or just its key (WeCom), "
    "access_token (DingTalk) or hook id (Feishu); never shown again"
)
_SECRET_HELP = "The robot's signing secret (DingTalk SEC…, Feishu); empty for none"
_TAGS_HELP = "Audience tags: an event whose audience has any of them posts here"
Tags = list[str]
# How long a test post waits for the robot (the channel's own timeout applies inside).
TEST_TIMEOUT_S = 20.0


class GroupIn(Body):
    """A new group destination."""

    name: str = Field(min_length=1, max_length=NAME_MAX, pattern=NO_NUL)
    channel: Literal["wecom", "dingtalk", "feishu"]
    credential: str = Field(min_length=1, max_length=400, description=_CREDENTIAL_HELP)
    signing_secret: str = Field("", max_length=CREDENTIAL_MAX, description=_SECRET_HELP)
    tags: Tags = Field(default_factory=list, max_length=50, description=_TAGS_HELP)
    language: Literal["zh-CN", "en"] = "zh-CN"


class GroupPatch(Patch):
    """Fields of a group to change."""

    name: str | None = Field(None, min_length=1, max_length=NAME_MAX, pattern=NO_NUL)
    credential: str | None = Field(None, min_length=1, max_length=400, description=_CREDENTIAL_HELP)
    signing_secret: str | None = Field(None, max_length=CREDENTIAL_MAX, description=_SECRET_HELP)
    tags: Tags | None = Field(None, max_length=50, description=_TAGS_HELP)
    language: Literal["zh-CN", "en"] | None = None
    enabled: bool | None = Field(None, description="false turns it off; true turns it on again")


class GroupTestIn(Body):
    """A test post."""

    text: str = Field("Linli test / 测试消息", min_length=1, max_length=500, pattern=NO_NUL)


def _group_id(request: web.Request) -> int:
    return path_id(request, "group_not_found", "group")


@routes.route(
    "POST",
    "/groups",
    summary="Add a group chat to post to through its robot",
    tag=TAG,
    roles=STAFF,
    body=GroupIn,
    response=ChatGroup,
    status=201,
    errors=(409,),
)
async def create_group(request: web.Request, body: GroupIn) -> web.Response:
    """409 group_name_taken when another group has the name."""
    data = GroupInput(
        name=body.name,
        channel=body.channel,
        credential=body.credential,
        signing_secret=body.signing_secret,
        tags=body.tags,
        language=body.language,
    )
    created = await chat_groups.create_group(
        request.app[store_key], data, now=request.app[clock_key]()
    )
    return reply(request, created, 201)


@routes.route(
    "GET",
    "/groups",
    summary="List group destinations (never their credentials)",
    tag=TAG,
    roles=STAFF,
    query=PageQuery,
    response=ListOf(ChatGroup),
)
async def list_groups(request: web.Request, query: PageQuery) -> web.Response:
    """By name, disabled ones included with their reason."""
    page = await chat_groups.list_groups(
        request.app[store_key], limit=query.limit, offset=query.offset
    )
    return reply(request, page)


@routes.route(
    "GET",
    r"/groups/{id:\d+}",
    summary="Get a group destination",
    tag=TAG,
    roles=STAFF,
    response=ChatGroup,
)
async def get_group(request: web.Request) -> web.Response:
    """Its name, robot, tags, and whether (and why) it is disabled."""
    return reply(request, await chat_groups.get_group(request.app[store_key], _group_id(request)))


@routes.route(
    "PATCH",
    r"/groups/{id:\d+}",
    summary="Change a group's name, tags, language or robot, or turn it off or on",
    tag=TAG,
    roles=STAFF,
    body=GroupPatch,
    response=ChatGroup,
    errors=(409,),
)
async def update_group(request: web.Request, body: GroupPatch) -> web.Response:
    """A group disabled because its robot refused the key stays off until enabled: true."""
    changes = GroupChanges(
        name=body.name,
        tags=body.tags,
        language=body.language,
        credential=body.credential,
        signing_secret=body.signing_secret,
        enabled=body.enabled,
    )
    updated = await chat_groups.update_group(
        request.app[store_key], _group_id(request), changes, now=request.app[clock_key]()
    )
    return reply(request, updated)


@routes.route(
    "DELETE",
    r"/groups/{id:\d+}",
    summary="Delete a group destination",
    tag=TAG,
    roles=STAFF,
    status=204,
)
async def delete_group(request: web.Request) -> web.Response:
    """Its posts go too, those still queued included."""
    await chat_groups.delete_group(request.app[store_key], _group_id(request))
    return web.Response(status=204)


@routes.route(
    "POST",
    r"/groups/{id:\d+}/test",
    summary="Post a test message to a group now, and say what its robot answered",
    tag=TAG,
    roles=STAFF,
    body=GroupTestIn,
    response=TestResult,
    errors=(409,),
)
async def test_group(request: web.Request, body: GroupTestIn) -> web.Response:
    """Straight through the channel, not the outbox; 409 group_channel_off when the group's
    robot channel is not configured ([channels.wecom] and so on)."""
    result = await send_test_post(request, _group_id(request), body.text)
    return reply(request, result)


async def send_test_post(request: web.Request, group_id: int, text: str) -> TestResult:
    """A test post to one group, as the API and the console send it."""
    delivery = request.app[delivery_key]
    group, secrets = await chat_groups.credentials(request.app[store_key], group_id)
    if group.channel.value not in delivery.routes:
        raise ConflictError(
            f"no {group.channel.value} channel is configured (channels.{group.channel.value})",
            code="group_channel_off",
        )
    return await delivery.send_test(
        group.channel.value,
        group.name,
        language=group.language.value,
        text=text,
        timeout_s=TEST_TIMEOUT_S,
        credentials=secrets,
    )
