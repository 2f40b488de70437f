"""Google's own Python client (google-api-python-client, with its shipped YouTube v3 discovery
document) against sidekey's fake YouTube: proves the fake speaks what a client nobody on this
project wrote expects (paths, parameters, bodies, paging, error bodies).

Usage: client.py BASE_URL TOKEN   (BASE_URL: the fake's root, e.g. http://127.0.0.1:PORT/)
Prints one JSON object per step on stdout; crates/sidekey/tests/it/youtube.rs checks them.
"""

import json
import sys

from google.oauth2.credentials import Credentials
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError


def main() -> None:
    base, token = sys.argv[1], sys.argv[2]
    yt = build(
        "youtube",
        "v3",
        credentials=Credentials(token),
        client_options={"api_endpoint": base},
        static_discovery=True,
        cache_discovery=False,
    )

    def step(name, fn):
        try:
            out = {"step": name, "ok": True, "result": fn()}
        except HttpError as e:
            details = e.error_details if isinstance(e.error_details, list) else []
            out = {
                "step": name,
                "ok": False,
                "status": e.resp.status,
                "reason": e.reason,
                "error_reasons": [d.get("reason") for d in details if isinstance(d, dict)],
            }
        print(json.dumps(out), flush=True)

    def mine():
        return [
            p["snippet"]["title"]
            for p in yt.playlists().list(part="snippet,contentDetails", mine=True).execute()["items"]
        ]

    step("playlists.list", mine)

    created = {}

    def create():
        p = yt.playlists().insert(
            part="snippet,status",
            body={"snippet": {"title": "From the Python client"}, "status": {"privacyStatus": "private"}},
        ).execute()
        created["id"] = p["id"]
        return {"id": p["id"], "privacy": p["status"]["privacyStatus"]}

    step("playlists.insert", create)

    def add():
        it = yt.playlistItems().insert(
            part="snippet",
            body={"snippet": {"playlistId": created["id"],
                              "resourceId": {"kind": "youtube#video", "videoId": "dQw4w9WgXcQ"}}},
        ).execute()
        created["item"] = it["id"]
        return {"position": it["snippet"]["position"], "video": it["snippet"]["resourceId"]["videoId"]}

    step("playlistItems.insert", add)

    def page_through():
        # list_next follows nextPageToken exactly as Google's client does.
        req = yt.search().list(part="snippet", q="rust talk", type="video", maxResults=25)
        pages, ids = 0, []
        while req is not None:
            resp = req.execute()
            pages += 1
            ids += [i["id"]["videoId"] for i in resp["items"]]
            req = yt.search().list_next(req, resp)
        return {"pages": pages, "count": len(ids), "distinct": len(set(ids))}

    step("search.list paged", page_through)

    step("playlistItems.delete", lambda: yt.playlistItems().delete(id=created["item"]).execute())
    step(
        "playlistItems.insert unknown video",
        lambda: yt.playlistItems().insert(
            part="snippet",
            body={"snippet": {"playlistId": created["id"],
                              "resourceId": {"kind": "youtube#video", "videoId": "zzzzzzzzzzz"}}},
        ).execute(),
    )
    step(
        "playlistItems.list unknown playlist",
        lambda: yt.playlistItems().list(part="snippet", playlistId="PLnothing0000000000").execute(),
    )
    step("playlistItems.list WL", lambda: yt.playlistItems().list(part="snippet", playlistId="WL").execute())


if __name__ == "__main__":
    main()
