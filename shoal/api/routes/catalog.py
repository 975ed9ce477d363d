"""/v2/sizes and /v2/regions: the operator's plans and the one region."""

from __future__ import annotations

from fastapi import Depends

from shoal.api.auth import Auth
from shoal.api.deps import settings_of
from shoal.api.pagination import Page, page_params
from shoal.api.routing import SlashRouter
from shoal.api.views import region_view, size_view
from shoal.control.config import Settings

router = SlashRouter(prefix="/v2", dependencies=[Auth])


@router.get("/sizes")
def list_sizes(
    page: Page = Depends(page_params), settings: Settings = Depends(settings_of)
):
    sizes = [size_view(s, settings.region) for s in settings.sizes]
    return page.envelope(
        "sizes", sizes[page.offset : page.offset + page.size], len(sizes)
    )


@router.get("/regions")
def list_regions(
    page: Page = Depends(page_params), settings: Settings = Depends(settings_of)
):
    regions = [region_view(settings)]
    return page.envelope("regions", regions[page.offset : page.offset + page.size], 1)
