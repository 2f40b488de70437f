"""Drive the fake Google (crates/testkit/src/google.rs) with Google's own Python client.

google-api-python-client builds its requests from Google's discovery documents (shipped with the
package: no network) and parses errors the way Google's answers are shaped. If the fake accepted
something Google would not, or answered in a shape Google does not use, this fails.

Usage: check_fake.py BASE_URL  (the fake's http://127.0.0.1:PORT). Prints one line per check.
"""

import sys

from google.oauth2.credentials import Credentials
import json

from googleapiclient import discovery_cache
from googleapiclient.discovery import build_from_document
from googleapiclient.errors import HttpError
from googleapiclient.http import MediaInMemoryUpload

base = sys.argv[1].rstrip("/") + "/"
creds = Credentials(token="py-client-token")


def service(name: str, version: str):
    """Google's discovery document as shipped with the client, pointed at the fake: `rootUrl` is
    what both the API and the upload URLs are built from (`api_endpoint` moves only the API)."""
    doc = json.loads(discovery_cache.get_static_doc(name, version))
    doc["rootUrl"] = base
    doc["mtlsRootUrl"] = base
    return build_from_document(doc, credentials=creds)


drive = service("drive", "v3")
docs = service("docs", "v1")


def reason(e: HttpError) -> str:
    details = e.error_details
    if isinstance(details, list) and details:
        return details[0].get("reason", "")
    return ""


folder = drive.files().create(
    body={"name": "OpenClaw Inbox", "mimeType": "application/vnd.google-apps.folder"},
    fields="id,name,mimeType",
).execute()
assert folder["mimeType"] == "application/vnd.google-apps.folder", folder
print("ok folder created")

up = drive.files().create(
    body={"name": "O'Brien notes.txt", "parents": [folder["id"]]},
    media_body=MediaInMemoryUpload(b"call O'Brien\n", mimetype="text/plain", resumable=False),
    fields="id,name,size,parents",
).execute()
assert up["size"] == "13" and up["parents"] == [folder["id"]], up
print("ok multipart upload (size as a string)")

doc = drive.files().create(
    body={"name": "Plan", "mimeType": "application/vnd.google-apps.document", "parents": [folder["id"]]},
    media_body=MediaInMemoryUpload(b"# Plan\nship it\n", mimetype="text/markdown", resumable=False),
    fields="id,mimeType",
).execute()
assert doc["mimeType"] == "application/vnd.google-apps.document", doc
print("ok markdown imported as a Google Doc")

q = "'%s' in parents and name contains 'O\\'Brien' and trashed = false" % folder["id"]
listed = drive.files().list(q=q, fields="nextPageToken, files(id,name)").execute()
assert [f["name"] for f in listed["files"]] == ["O'Brien notes.txt"], listed
print("ok files.list with an escaped quote")

content = drive.files().get_media(fileId=up["id"]).execute()
assert content == b"call O'Brien\n", content
print("ok alt=media download")

try:
    drive.files().get_media(fileId=doc["id"]).execute()
    raise SystemExit("a Google Doc was downloadable")
except HttpError as e:
    assert e.resp.status == 403 and reason(e) == "fileNotDownloadable", (e.resp.status, e.error_details)
print("ok fileNotDownloadable parsed by the client")

text = drive.files().export(fileId=doc["id"], mimeType="text/plain").execute()
assert b"ship it" in text, text
print("ok export")

# files.get answers the fields asked for; `trashed` only when asked (Drive's File resource in
# the discovery document: "Whether the file has been trashed, either explicitly or from a
# trashed parent folder").
file_schema = json.loads(discovery_cache.get_static_doc("drive", "v3"))["schemas"]["File"]["properties"]
assert "trashed" in file_schema, sorted(file_schema)
meta = drive.files().get(fileId=up["id"], fields="id,trashed").execute()
assert meta == {"id": up["id"], "trashed": False}, meta
meta = drive.files().get(fileId=up["id"]).execute()
assert sorted(meta) == ["id", "kind", "mimeType", "name"], meta
print("ok files.get answers the fields asked for")

try:
    drive.files().get(fileId="1NotGrantedToThisApp").execute()
    raise SystemExit("an unknown file was found")
except HttpError as e:
    assert e.resp.status == 404 and reason(e) == "notFound", (e.resp.status, e.error_details)
print("ok 404 notFound parsed by the client")

try:
    drive.files().list(spaces="appDataFolder").execute()
    raise SystemExit("appDataFolder without drive.appdata")
except HttpError as e:
    assert e.resp.status == 403, e.resp.status
print("ok appDataFolder refused without drive.appdata")

d = docs.documents().get(documentId=doc["id"]).execute()
end = d["body"]["content"][-1]["endIndex"]
try:
    docs.documents().batchUpdate(
        documentId=doc["id"],
        body={"requests": [
            {"insertText": {"location": {"index": 1}, "text": "X"}},
            {"deleteContentRange": {"range": {"startIndex": 1, "endIndex": end + 1}}},
        ]},
    ).execute()
    raise SystemExit("the final newline was deleted")
except HttpError as e:
    assert e.resp.status == 400, e.resp.status
again = docs.documents().get(documentId=doc["id"]).execute()
assert again["body"]["content"][-1]["endIndex"] == end, "a failed batch changed the document"
print("ok Docs batchUpdate is all-or-nothing")

r = docs.documents().batchUpdate(
    documentId=doc["id"],
    body={"requests": [{"replaceAllText": {"containsText": {"text": "ship", "matchCase": True}, "replaceText": "launch"}}]},
).execute()
assert r["replies"][0]["replaceAllText"]["occurrencesChanged"] == 1, r
print("ok Docs replaceAllText")
print("all checks passed")
