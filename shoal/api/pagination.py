"""``page``/``per_page`` in, ``links.pages`` and ``meta.total`` out."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Query, Request

from shoal.control.errors import BadRequest

MAX_PER_PAGE = 200

# Past any real total; keeps OFFSET within SQL's 64-bit integers for a
# page number as large as a client cares to send.
MAX_OFFSET = 2**62


@dataclass
class Page:
    number: int
    size: int
    request: Request

    @property
    def offset(self) -> int:
        return min((self.number - 1) * self.size, MAX_OFFSET)

    def _url(self, number: int) -> str:
        base = self.request.app.state.services.settings.public_url
        url = self.request.url
        if base:
            url = url.replace(
                scheme=base.split("://")[0], netloc=base.split("://")[1].rstrip("/")
            )
        return str(url.include_query_params(page=number, per_page=self.size))

    def links(self, total: int) -> dict:
        last = max(1, -(-total // self.size))
        pages = {}
        if self.number > 1:
            pages["first"] = self._url(1)
            pages["prev"] = self._url(min(self.number - 1, last))
        if self.number < last:
            pages["next"] = self._url(self.number + 1)
            pages["last"] = self._url(last)
        return {"pages": pages} if pages else {}

    def envelope(self, key: str, items: list, total: int) -> dict:
        return {key: items, "links": self.links(total), "meta": {"total": total}}


async def page_params(
    request: Request,
    page: str = Query("1"),
    per_page: str = Query("20"),
) -> Page:
    # Taken as strings so that a bad value gets DigitalOcean's 400 body.
    try:
        number, size = int(page), int(per_page)
    except ValueError:
        raise BadRequest("page and per_page must be integers.") from None
    if number < 1 or size < 1:
        raise BadRequest("page and per_page must be at least 1.")
    return Page(number=number, size=min(size, MAX_PER_PAGE), request=request)
