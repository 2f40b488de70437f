#!/usr/bin/env python3
"""The headless "user" for the django-oauth-toolkit test IdP: standard library only.

Logs in (Django's login form), opens the library's device page, enters the user code and
presses Accept or Deny, following redirects by hand with one cookie jar (sessionid, csrftoken).

    python approve.py --base http://127.0.0.1:PORT --user-code CODE [--action approve|deny]
                      [--login alice] [--password wonderland]

Prints one JSON line {"outcome", "final_page", "ms", "steps"}. outcome: approved, denied,
code-rejected (the device page refused the code), bad-credentials, or error. Exit code 0 if the
outcome matches the action, 2 if the code was rejected, 1 otherwise.
"""

import argparse
import html
import http.cookiejar
import json
import re
import sys
import time
import urllib.error
import urllib.parse
import urllib.request


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class User:
    def __init__(self, base):
        self.base = base.rstrip("/")
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.jar), NoRedirect()
        )
        self.steps = []

    def request(self, method, path, form=None):
        url = path if path.startswith("http") else self.base + path
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        req = urllib.request.Request(url, data=data, method=method)
        try:
            with self.opener.open(req, timeout=10) as r:
                status, headers, body = r.status, r.headers, r.read().decode()
        except urllib.error.HTTPError as e:
            status, headers, body = e.code, e.headers, e.read().decode(errors="replace")
        location = headers.get("Location")
        self.steps.append(
            {"method": method, "path": urllib.parse.urlsplit(url).path, "status": status, "location": location}
        )
        return status, location, body

    def get(self, path):
        """GET, following redirects (always with GET, as a browser does after a 302)."""
        for _ in range(10):
            status, location, body = self.request("GET", path)
            if status in (301, 302, 303, 307, 308) and location:
                path = urllib.parse.urljoin(self.base + "/", location)
                continue
            return status, path, body
        raise RuntimeError("too many redirects")

    def post(self, path, form):
        """POST a form; a redirect answer is followed with GET."""
        status, location, body = self.request("POST", path, form)
        if status in (301, 302, 303) and location:
            return self.get(urllib.parse.urljoin(self.base + "/", location))
        return status, path, body


def csrf(body):
    m = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', body)
    if not m:
        raise RuntimeError("no CSRF token on the page")
    return html.unescape(m.group(1))


def page_of(path, body):
    if "/accounts/login/" in path:
        return "login"
    if "/o/device-confirm/" in path:
        return "confirm"
    if "/o/device-grant-status/" in path:
        return "status"
    if "/o/device/" in path:
        return "code-entry"
    return path


def run(base, user_code, action, login, password):
    u = User(base)
    # 1. Log in first: the library's device page requires a signed-in user (LoginRequiredMixin).
    status, path, body = u.get("/o/device/")
    if page_of(path, body) != "login":
        return "error", page_of(path, body), u.steps
    status, path, body = u.post(
        "/accounts/login/",
        {"csrfmiddlewaretoken": csrf(body), "username": login, "password": password, "next": "/o/device/"},
    )
    if 'id="login-error"' in body:
        return "bad-credentials", "login", u.steps
    # 2. The code-entry page (DeviceUserCodeView), back after login.
    if page_of(path, body) != "code-entry":
        return "error", page_of(path, body), u.steps
    status, path, body = u.post("/o/device/", {"csrfmiddlewaretoken": csrf(body), "user_code": user_code})
    if page_of(path, body) == "code-entry":
        # The form is shown again with the library's error ("Incorrect user code", ...).
        m = re.search(r'<ul class="errorlist[^"]*"[^>]*>\s*<li>([^<]+)</li>', body)
        return "code-rejected", (m.group(1) if m else "code-entry"), u.steps
    # 3. Accept or Deny (DeviceConfirmView), then the status page (DeviceGrantStatusView).
    if page_of(path, body) != "confirm":
        return "error", page_of(path, body), u.steps
    choice = "accept" if action == "approve" else "deny"
    status, path, body = u.post(path, {"csrfmiddlewaretoken": csrf(body), "action": choice})
    if page_of(path, body) != "status" or status != 200:
        return "error", f"{page_of(path, body)} {status}", u.steps
    m = re.search(r"<h1>\s*Device\s+(\w[\w ]*?)\s*</h1>", body)
    shown = m.group(1) if m else "?"
    outcome = {"Authorized": "approved", "Denied": "denied"}.get(shown, "error")
    return outcome, f"status: {shown}", u.steps


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--base", required=True)
    p.add_argument("--user-code", required=True)
    p.add_argument("--action", choices=["approve", "deny"], default="approve")
    p.add_argument("--login", default="alice")
    p.add_argument("--password", default="wonderland")
    a = p.parse_args()
    t0 = time.monotonic()
    try:
        outcome, final, steps = run(a.base, a.user_code, a.action, a.login, a.password)
    except Exception as e:  # report, never a traceback on stdout
        outcome, final, steps = "error", f"{type(e).__name__}: {e}", []
    print(
        json.dumps(
            {"outcome": outcome, "final_page": final, "ms": int((time.monotonic() - t0) * 1000), "steps": steps}
        ),
        flush=True,
    )
    wanted = {"approve": "approved", "deny": "denied"}[a.action]
    sys.exit(0 if outcome == wanted else 2 if outcome == "code-rejected" else 1)


if __name__ == "__main__":
    main()
