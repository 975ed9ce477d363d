"""/v2/tags: tags, and tagging droplets through them.

Tag names may hold ``:`` (``env:prod``), in paths as in ``tag_name``
filters (B06); Starlette hands the decoded segment over either way.
"""

from __future__ import annotations

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from shoal.api.auth import Auth, Db
from shoal.api.deps import base_url
from shoal.api.pagination import Page, page_params
from shoal.api.routes.droplets import no_content
from shoal.api.routing import SlashRouter
from shoal.api.schemas import TagCreate, TagResources
from shoal.api.views import tag_view
from shoal.control import tags
from shoal.control.models import Tag

router = SlashRouter(prefix="/v2/tags", dependencies=[Auth])


def _view(session: Session, request: Request, tag: Tag) -> dict:
    return tag_view(tag, tags.usage(session, tag.name), base_url(request))


def _resources(body: TagResources) -> list[tags.Resource]:
    return [tags.Resource(str(r.resource_id), r.resource_type) for r in body.resources]


@router.get("")
def list_tags(
    request: Request, page: Page = Depends(page_params), session: Session = Db
):
    found, total = tags.list_tags(session, page.offset, page.size)
    return page.envelope("tags", [_view(session, request, t) for t in found], total)


@router.post("", status_code=201)
def create_tag(body: TagCreate, request: Request, session: Session = Db):
    return {"tag": _view(session, request, tags.create_tag(session, body.name))}


@router.get("/{tag_name}")
def get_tag(tag_name: str, request: Request, session: Session = Db):
    return {"tag": _view(session, request, tags.get_tag(session, tag_name))}


@router.delete("/{tag_name}", status_code=204)
def delete_tag(tag_name: str, session: Session = Db):
    tags.delete_tag(session, tag_name)
    return no_content()


@router.post("/{tag_name}/resources", status_code=204)
def tag_resources(tag_name: str, body: TagResources, session: Session = Db):
    tags.tag_resources(session, tag_name, _resources(body))
    return no_content()


@router.delete("/{tag_name}/resources", status_code=204)
def untag_resources(tag_name: str, body: TagResources, session: Session = Db):
    tags.untag_resources(session, tag_name, _resources(body))
    return no_content()
