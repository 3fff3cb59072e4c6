# starlette_app.py
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from cfcookie_middleware import Signer, grant
from cfcookie_middleware.asgi import CloudFrontCookieMiddleware

ALBUMS = {"7": "holiday-2024"}  # your own records


async def album(request: Request) -> PlainTextResponse:
    slug = ALBUMS.get(request.path_params["album_id"])
    if slug is None:
        return PlainTextResponse("no such album", status_code=404)
    response = PlainTextResponse(f"album {slug}")
    grant(
        response,
        "https://media.example.com/albums/{slug}/*",
        request=request,
        params={"slug": slug},
    )
    return response


def create_app(signer: Signer | None = None) -> Starlette:
    options = {"signer": signer or Signer.from_env(), "rules": [], "cookie_domain": ".example.com"}
    return Starlette(
        routes=[Route("/albums/{album_id}", album)],
        middleware=[Middleware(CloudFrontCookieMiddleware, **options)],
    )
