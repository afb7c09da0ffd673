"""webrtcvad comes from the ``webrtcvad-wheels`` distribution.

The stock hook copies the metadata of ``webrtcvad`` (the unmaintained original), which is not
installed, and fails the build; the module asks for ``webrtcvad-wheels``' version at import.
"""

from __future__ import annotations

from PyInstaller.utils.hooks import copy_metadata

datas = copy_metadata("webrtcvad-wheels")
