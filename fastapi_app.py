# fastapi_app.py
from fastapi import APIRouter, Depends, FastAPI, HTTPException

from cfcookie_middleware import Signer
from cfcookie_middleware.asgi import CloudFrontCookieMiddleware
from cfcookie_middleware.fastapi import GrantRoute, grant

router = APIRouter(route_class=GrantRoute)
VIDEOS = {"intro", "launch"}  # your own records


@router.get(
    "/{video_id}",
    dependencies=[Depends(grant("https://media.example.com/videos/{video_id}/*"))],
)
def watch(video_id: str) -> dict[str, str]:
    if video_id not in VIDEOS:
        raise HTTPException(404)  # no response of this route: no cookies
    return {"video": video_id}


def create_app(signer: Signer | None = None) -> FastAPI:
    app = FastAPI()
    app.include_router(router, prefix="/videos")  # the pattern would repeat this prefix
    app.add_middleware(
        CloudFrontCookieMiddleware,
        signer=signer or Signer.from_env(),
        rules=[],
        cookie_domain=".example.com",
    )
    return app
