"""Add annotators the way a person joins: through the organisation's invite link.

``users.create`` in the API makes a user row without a password, who can never log in, so the
simulator and the tests go through the real sign-up form. label-studio-sdk has no call for the
sign-up form (it is an HTML page, not an API), so this one step posts the form as a browser would;
everything after it uses the SDK with the new user's own token.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from oma_analysis import OmaError
from oma_analysis.labelstudio.client import connect


@dataclass(frozen=True)
class Annotator:
    email: str
    token: str
    user_id: int

    def client(self, url: str):
        return connect(url, self.token)


def signup_annotator(url: str, admin_token: str, email: str, password: str) -> Annotator:
    """Sign ``email`` up through the invite link (or log in if it exists) and return its token."""
    import requests

    admin = connect(url, admin_token)
    invite = admin.organizations.invites.get_invite_link()
    signup = url.rstrip("/") + invite.invite_url
    with requests.Session() as s:
        page = s.get(signup, timeout=30)
        m = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
        if page.status_code != 200 or not m:
            raise OmaError(f"sign-up page {url}/user/signup/ did not load (HTTP {page.status_code})")
        s.post(signup, data={"csrfmiddlewaretoken": m.group(1), "email": email, "password": password},
               headers={"Referer": signup}, timeout=30)
        r = s.get(url.rstrip("/") + "/api/current-user/token", timeout=30)
        if r.status_code != 200:
            # Already signed up: log in instead.
            login = url.rstrip("/") + "/user/login/"
            page = s.get(login, timeout=30)
            m = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
            s.post(login, data={"csrfmiddlewaretoken": m.group(1) if m else "", "email": email,
                                "password": password}, headers={"Referer": login}, timeout=30)
            r = s.get(url.rstrip("/") + "/api/current-user/token", timeout=30)
        if r.status_code != 200:
            raise OmaError(f"could not sign up or log in {email} at {url} (HTTP {r.status_code})")
        token = r.json()["token"]
    me = connect(url, token).users.whoami()
    return Annotator(email=email, token=token, user_id=me.id)
