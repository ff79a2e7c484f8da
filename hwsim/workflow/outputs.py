"""Output files other than traces (figures, device files): never replace a file of another kind.

``check_output(path, kind, force)`` runs before any work: a folder is refused; a figure needs a format
matplotlib writes (by its extension); an existing file is replaced only if it is of the same kind (a figure
of that format by a figure, a file ``devices fit`` wrote by a device file) or with ``force``. Traces have
their own check (``hwsim.workflow.trace.check_output``)."""
from __future__ import annotations

import os

FIGURES = {".png": (b"\x89PNG\r\n\x1a\n",), ".pdf": (b"%PDF",), ".svg": (b"<?xml", b"<svg"),
           ".eps": (b"%!PS", b"\xc5\xd0\xd3\xc6"), ".ps": (b"%!PS",), ".jpg": (b"\xff\xd8\xff",),
           ".jpeg": (b"\xff\xd8\xff",), ".tif": (b"II*\x00", b"MM\x00*"), ".tiff": (b"II*\x00", b"MM\x00*"),
           ".gif": (b"GIF8",), ".webp": (b"RIFF",)}
FIT_TOML = b"# fitted by hwsim devices fit"


def check_output(path: str, kind: str, force: bool = False) -> None:
    """``kind``: "figure" or "fit-toml"."""
    if os.path.isdir(path):
        raise ValueError(f"output {path!r} is a folder; give a file name")
    if kind == "figure":
        ext = os.path.splitext(path)[1].lower()
        if ext not in FIGURES:
            raise ValueError(f"figure {path!r}: the extension must be one of {', '.join(sorted(FIGURES))}")
        signatures, what = FIGURES[ext], f"a {ext[1:].upper()} figure"
    else:
        signatures, what = (FIT_TOML,), "a device file written by hwsim devices fit"
    if os.path.exists(path) and not force:
        try:
            with open(path, "rb") as f:
                head = f.read(64)
        except OSError as exc:
            raise ValueError(f"output {path}: cannot be read to check what it is ({exc.strerror})") from None
        if not any(head.startswith(s) for s in signatures):
            raise ValueError(f"{path} exists and is not {what}; refusing to overwrite it (give --force to "
                             "replace it)")
