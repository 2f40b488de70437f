"""A real AWS client using sidekey as its credential_process, for crates/sidekey/tests/it/aws.rs.

Writes an AWS config file with one profile:

    [profile sk]
    credential_process = <sidekey> aws credentials --account-id ID --role-name ROLE [--account NAME]
    region = us-east-1

starts moto's STS (moto.server.ThreadedMotoServer) on 127.0.0.1, and with boto3 calls
STS GetCallerIdentity signed with the credentials botocore got from sidekey. Prints one JSON
line: the caller identity, the access key id botocore used, the SHA-256 of the secret key and
session token (so the test can compare them with what the fake portal issued without the
secrets appearing anywhere), the expiry botocore parsed, and timings. On a credential error it
prints {"error": "..."} (botocore's message, which carries sidekey's stderr) and exits 3.

Usage: caller.py SIDEKEY_BIN ACCOUNT_ID ROLE_NAME [SIDEKEY_ACCOUNT] [--repeat N]
"""

import hashlib
import json
import os
import shlex
import socket
import sys
import tempfile
import time


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main():
    args = [a for a in sys.argv[1:]]
    repeat = 1
    if "--repeat" in args:
        i = args.index("--repeat")
        repeat = int(args[i + 1])
        del args[i : i + 2]
    sidekey, account_id, role = args[0], args[1], args[2]
    cmd = [sidekey, "aws", "credentials", "--account-id", account_id, "--role-name", role]
    if len(args) > 3:
        cmd += ["--account", args[3]]

    tmp = tempfile.mkdtemp(prefix="sidekey-aws-")
    cfg = os.path.join(tmp, "config")
    with open(cfg, "w") as f:
        f.write("[profile sk]\n")
        f.write("credential_process = " + " ".join(shlex.quote(c) for c in cmd) + "\n")
        f.write("region = us-east-1\n")
    os.environ["AWS_CONFIG_FILE"] = cfg
    os.environ["AWS_SHARED_CREDENTIALS_FILE"] = os.path.join(tmp, "nothing")
    for v in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        os.environ.pop(v, None)

    import boto3
    import botocore.exceptions
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        # Whole credential resolution, `repeat` times in this process (a new Session each time,
        # so botocore runs the process every time).
        times = []
        for _ in range(repeat):
            t0 = time.perf_counter()
            session = boto3.Session(profile_name="sk")
            try:
                creds = session.get_credentials().get_frozen_credentials()
            except botocore.exceptions.BotoCoreError as e:
                print(json.dumps({"error": str(e)}))
                sys.exit(3)
            times.append(time.perf_counter() - t0)
        sts = session.client(
            "sts",
            endpoint_url=f"http://127.0.0.1:{port}",
            region_name="us-east-1",
        )
        ident = sts.get_caller_identity()
        expiry = session.get_credentials()._expiry_time  # parsed from "Expiration"
        sha = lambda s: hashlib.sha256(s.encode()).hexdigest()
        times.sort()
        print(
            json.dumps(
                {
                    "account": ident["Account"],
                    "arn": ident["Arn"],
                    "user_id": ident["UserId"],
                    "access_key_id": creds.access_key,
                    "secret_sha256": sha(creds.secret_key),
                    "token_sha256": sha(creds.token),
                    "expiry": expiry.isoformat() if expiry else None,
                    "median_seconds": times[len(times) // 2],
                    "runs": len(times),
                }
            )
        )
    finally:
        server.stop()


if __name__ == "__main__":
    main()
