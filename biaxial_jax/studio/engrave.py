"""The engraved score in the page: MusicXML to SVG by Verovio (the studio extra), pages joined."""

from __future__ import annotations

import os

try:
  import verovio
except ImportError:  # the studio runs without it; the page then shows the piano roll alone
  verovio = None

_OPTIONS = {'pageWidth': 2100, 'pageHeight': 2970, 'scale': 40, 'adjustPageHeight': True, 'footer': 'none',
            'header': 'none', 'breaks': 'auto'}


def svg(musicxml: str) -> str | None:
  """The score as SVG (one `<svg>` per page, in order), or None where Verovio is not installed or cannot read it."""
  if verovio is None:
    return None
  toolkit = verovio.toolkit(False)
  # The wheel carries its fonts beside the module; the toolkit looks elsewhere unless told.
  toolkit.setResourcePath(os.path.join(os.path.dirname(verovio.__file__), 'data'))
  toolkit.setOptions(_OPTIONS)
  if not toolkit.loadData(musicxml):
    return None
  return '\n'.join(toolkit.renderToSVG(page) for page in range(1, toolkit.getPageCount() + 1))
