"""One image slot of the studio: a bundled image, an upload or a URL, with a thumbnail.

Lesson: notebooks/06_studio.ipynb
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ipywidgets as ipw

from nst_lab.errors import ImageLoadError
from nst_lab.images import ImageSource, bundled_images
from nst_lab.studio.session import decode_image, parse_upload, png_bytes

THUMB_PX = 96  # side of the content and style thumbnails
WIDE = {"description_width": "initial"}  # show descriptions in full


class ImagePicker:
    """One image slot: a bundled image, an upload or a URL, with its thumbnail."""

    def __init__(self, title: str, default: str, on_error: Callable[[BaseException], None]):
        self._sources: dict[str, ImageSource] = {k: v for k, v in bundled_images().items()}
        self._on_error = on_error
        self.choice = ipw.Dropdown(options=list(self._sources), value=default, description=title,
                                 style=WIDE)
        self.upload = ipw.FileUpload(accept="image/*", multiple=False, description="Upload")
        self.url = ipw.Text(placeholder="https://... (online only)", layout=ipw.Layout(width="200px"))
        self.fetch = ipw.Button(description="Load URL", layout=ipw.Layout(width="90px"))
        box = ipw.Layout(width=f"{THUMB_PX}px", height=f"{THUMB_PX}px", object_fit="contain")
        self.thumbnail = ipw.Image(format="png", layout=box)
        self.choice.observe(lambda _: self._show(), names="value")
        self.upload.observe(self._on_upload, names="value")
        self.fetch.on_click(self._on_fetch)
        self.box = ipw.VBox([self.choice, ipw.HBox([self.upload]), ipw.HBox([self.url, self.fetch]),
                           self.thumbnail])
        self._show()

    @property
    def source(self) -> ImageSource:
        return self._sources[self.choice.value]

    @property
    def inputs(self) -> list[ipw.Widget]:
        return [self.choice, self.upload, self.url, self.fetch]

    def add(self, label: str, source: ImageSource) -> None:
        """Offer ``source`` under ``label`` in the dropdown and select it."""
        self._sources[label] = source
        self.choice.options = list(self._sources)
        self.choice.value = label

    def _show(self) -> None:
        try:
            self.thumbnail.value = png_bytes(decode_image(self.source, self.choice.value), THUMB_PX)
        except ImageLoadError as exc:
            self._on_error(exc)

    def _on_upload(self, change: dict[str, Any]) -> None:
        if not change["new"]:
            return  # the value was cleared
        try:
            name, data = parse_upload(change["new"])
            decode_image(data, name)  # refuse a bad file before it is offered
        except ImageLoadError as exc:
            self._on_error(exc)
            return
        self.add(f"upload: {name}", data)

    def _on_fetch(self, _button: Any = None) -> None:
        address = self.url.value.strip()
        if not address.startswith(("http://", "https://")):
            self._on_error(ValueError(f"{address!r} is not a web address: it must start with https://"))
            return
        try:
            image = decode_image(address, address)
        except ImageLoadError as exc:
            self._on_error(exc)
            return
        self.add(f"url: {address.rsplit('/', 1)[-1][:30] or address}", image)
