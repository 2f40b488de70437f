#!/usr/bin/env python3
"""Start django-oauth-toolkit as an RFC 8628 authorization server on loopback (tests only).

Binds HOST:PORT (PORT=0: a free port), migrates a fresh SQLite database in a temp dir, creates
the test user and the public device client, then prints ONE JSON line on stdout with the
endpoints and serves until SIGTERM/SIGINT. Everything else goes to stderr. See README.md.
"""

import json
import os
import signal
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def main():
    t0 = time.monotonic()
    host = os.environ.get("HOST", "127.0.0.1")
    port = int(os.environ.get("PORT", "8000"))

    from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler

    # Bind first, so the settings can carry the real port (verification URI, issuer).
    httpd = ThreadedWSGIServer((host, port), WSGIRequestHandler)
    port = httpd.server_address[1]
    base = f"http://{host}:{port}"
    tmp = tempfile.TemporaryDirectory(prefix="dot-idp-")
    os.environ["DOT_IDP_BASE"] = base
    os.environ["DOT_IDP_DB"] = os.path.join(tmp.name, "db.sqlite3")
    os.environ["DJANGO_SETTINGS_MODULE"] = "dotidp.settings"

    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0, interactive=False, run_syncdb=True)

    from django.contrib.auth import get_user_model
    from oauth2_provider.models import get_application_model

    user = os.environ.get("TEST_USER", "alice")
    password = os.environ.get("TEST_PASSWORD", "wonderland")
    get_user_model().objects.create_user(
        username=user,
        password=password,
        first_name="Alice",
        last_name="Liddell",
        email="alice@example.test",
    )
    Application = get_application_model()
    client_id = os.environ.get("CLIENT_ID", "device-client")
    Application.objects.create(
        name="sidekey test client",
        client_id=client_id,
        client_type=Application.CLIENT_PUBLIC,
        authorization_grant_type=Application.GRANT_DEVICE_CODE,
        # Public client: no secret is ever checked; the model still wants one.
        client_secret="",
        hash_client_secret=False,
        # ID tokens (issued on refresh when `openid` was granted) are signed with the RSA key.
        algorithm=Application.RS256_ALGORITHM,
    )

    from django.core.handlers.wsgi import WSGIHandler

    httpd.set_app(WSGIHandler())
    httpd.daemon_threads = True

    def stop(*_):
        threading.Thread(target=httpd.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    o = base + "/o"
    print(
        json.dumps(
            {
                "ready": True,
                "base": base,
                "port": port,
                "pid": os.getpid(),
                "client_id": client_id,
                "device_authorization_endpoint": o + "/device-authorization/",
                "token_endpoint": o + "/token/",
                "revocation_endpoint": o + "/revoke_token/",
                "introspection_endpoint": o + "/introspect/",
                "userinfo_endpoint": o + "/userinfo/",
                "verification_uri": o + "/device/",
                "issuer": o,
                "startup_ms": int((time.monotonic() - t0) * 1000),
            }
        ),
        flush=True,
    )
    try:
        httpd.serve_forever(poll_interval=0.2)
    finally:
        httpd.server_close()
        tmp.cleanup()


if __name__ == "__main__":
    main()
