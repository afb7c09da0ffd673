"""Bundle only the discovery documents Hark builds its clients from.

google-api-python-client ships ~500 static discovery documents (over 100 MB); the stock hook
collects all of them. Hark calls ``build("calendar", "v3", static_discovery=True)`` and
``build("gmail", "v1", static_discovery=True)`` (app/google/api.py), which read exactly these
two files, so the bundle carries those and nothing else. A new Google API in app/google means a
new name here (tests/test_packaging.py checks the list against app/google).
"""

from __future__ import annotations

from PyInstaller.utils.hooks import collect_data_files, copy_metadata

DOCUMENTS = ("calendar.v3.json", "gmail.v1.json")

datas = copy_metadata("google_api_python_client")
datas += collect_data_files(
    "googleapiclient.discovery_cache",
    includes=[f"documents/{name}" for name in DOCUMENTS],
)
