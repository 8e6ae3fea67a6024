"""The agent's per-browser choices: the zone the dashboard shows times in (see `web.zones`)."""

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import RedirectResponse, Response

from wasession.web import auth
from wasession.web.auth import Form
from wasession.web.zones import COOKIE, valid_choice

COOKIE_AGE = 400 * 86400  # the longest browsers keep a cookie


router = APIRouter()


@router.post("/dashboard/timezone", include_in_schema=False)
def choose(form: Annotated[Form, Depends(auth.form)]) -> Response:
    """Keep the agent's choice (`channel` or a zone name, the browser's as the script reads it)."""
    back = form.get("next")
    back = back if back.startswith("/dashboard/") and not back.startswith("//") else "/dashboard/chats"
    response = RedirectResponse(back, status_code=303)
    choice = form.get("zone")
    if not valid_choice(choice):
        return response  # an unknown zone changes nothing: the pages keep naming the zone they use
    response.set_cookie(COOKIE, choice, max_age=COOKIE_AGE, samesite="lax", path="/dashboard")
    return response
