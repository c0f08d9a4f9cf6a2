"""A fast path for the simplest FITS files: uncompressed images in the primary HDU and image extensions.

`astropy.io.fits` turns every header card into a `Card` object and verifies every HDU on writing. For the
course's small frames (a 512 × 640 CIRRUS frame, a 512 × 512 Hinode/SOT image) that bookkeeping costs more than
the arithmetic a preparation step does with the pixels. The files the data pipelines read and write are plain:
an image in the primary HDU, fixed-format header cards, no compression, no blank values. For those, this module
reads the header cards as text and the pixels with one `numpy.frombuffer`, and writes them back the same way.

Everything else raises `NotSimple` (never a guess): tile-compressed HDUs, random groups, ``BLANK``, scaled
integers other than the unsigned and signed-byte conventions, long-string (``CONTINUE``) values. Callers then
fall back to `solarcnn.io.fits.read_fits` / `write_fits` (astropy), so the fast path changes speed, not results;
`tests/test_fastfits.py` checks both against astropy.

The FITS standard 4.0 (Pence et al. 2010, A&A 524, A42) defines the layout used here: 2880-byte blocks, 80-character
cards, ``END``, big-endian data padded with zeros.
"""
from __future__ import annotations

import re
import zlib

try:                       # ISA-L's inflate: the same bytes as zlib's, about 1.7x faster on gzipped SOT frames
    from isal import isal_zlib as _inflate_lib
except ImportError:        # optional at run time: plain zlib gives identical results
    _inflate_lib = zlib
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ..errors import DataFileError
from ..utils import atomic_path

BLOCK = 2880
CARD = 80
# BITPIX -> big-endian dtype of the stored values
_STORED = {8: np.dtype("u1"), 16: np.dtype(">i2"), 32: np.dtype(">i4"), 64: np.dtype(">i8"),
           -32: np.dtype(">f4"), -64: np.dtype(">f8")}
_BITPIX = {np.dtype("uint8"): 8, np.dtype("int16"): 16, np.dtype("int32"): 32, np.dtype("int64"): 64,
           np.dtype("float32"): -32, np.dtype("float64"): -64}
# keywords the writer derives from the data; a copied header never carries them over
STRUCTURAL = {"SIMPLE", "XTENSION", "BITPIX", "NAXIS", "EXTEND", "PCOUNT", "GCOUNT", "BZERO", "BSCALE", "BLANK",
              "GROUPS", "END"}
_NAXIS_RE = re.compile(r"^NAXIS\d+$")
_INT_RE = re.compile(r"^[+-]?\d+$")
_FLOAT_RE = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([EeDd][+-]?\d+)?$")


class NotSimple(Exception):
    """The file (or the data to write) is outside the fast path; use astropy."""


# ------------------------------------------------------------------------------------------- header cards
def card_keyword(card: str) -> str:
    return card[:8].rstrip()


def card_value(card: str):
    """The value of a fixed- or free-format card: str, bool, int or float; None for commentary cards.

    Raises:
        NotSimple: a value this parser does not handle (complex numbers, a ``&`` long-string start).
    """
    if card[8:10] != "= ":
        return None
    text = card[10:]
    stripped = text.lstrip()
    if stripped.startswith("'"):
        out, i = [], 1
        while i < len(stripped):
            ch = stripped[i]
            if ch == "'":
                if stripped[i + 1:i + 2] == "'":      # '' is an escaped quote
                    out.append("'")
                    i += 2
                    continue
                value = "".join(out).rstrip()
                if value.endswith("&"):
                    raise NotSimple("long-string (CONTINUE) value")
                return value
            out.append(ch)
            i += 1
        raise NotSimple(f"unterminated string in card {card!r}")
    token = stripped.split("/", 1)[0].strip()
    if token == "T":
        return True
    if token == "F":
        return False
    if token == "":
        return None
    if _INT_RE.match(token):
        return int(token)
    if _FLOAT_RE.match(token):
        return float(token.replace("D", "E").replace("d", "e"))
    raise NotSimple(f"value {token!r} of card {card[:8].rstrip()!r}")


class Cards(Mapping):
    """A header as its card images (80-character strings), read-only, values parsed on demand.

    Behaves like a dict of keyword → value for the keywords that occur once or more (the first occurrence
    wins, as in astropy). Commentary cards (``COMMENT``, ``HISTORY``, blank) are kept in `cards` only.
    """

    def __init__(self, cards):
        self.cards = list(cards)
        self._index = {}
        for i, c in enumerate(self.cards):
            key = card_keyword(c)
            if key and key not in ("COMMENT", "HISTORY") and key not in self._index and c[8:10] == "= ":
                self._index[key] = i

    def __getitem__(self, key):
        return card_value(self.cards[self._index[key.upper()]])

    def __contains__(self, key):
        return isinstance(key, str) and key.upper() in self._index

    def __iter__(self):
        return iter(self._index)

    def __len__(self):
        return len(self._index)

    def comment(self, key) -> str:
        card = self.cards[self._index[key.upper()]]
        text = card[10:]
        if text.lstrip().startswith("'"):      # skip the string before looking for '/'
            s = text.lstrip()
            i = 1
            while i < len(s):
                if s[i] == "'" and s[i + 1:i + 2] != "'":
                    break
                i += 2 if s[i] == "'" else 1
            text = s[i + 1:]
        return text.split("/", 1)[1].strip() if "/" in text else ""

    def to_astropy(self):
        """The same header as an `astropy.io.fits.Header`."""
        from astropy.io import fits

        return fits.Header.fromstring("".join(self.cards))


def parse_cards(buf, offset: int = 0, *, path=None) -> tuple[list[str], int]:
    """The cards of the header starting at byte `offset` (END excluded) and the offset of its data.

    Raises:
        DataFileError: the buffer ends before the END card.
    """
    cards = []
    pos = offset
    n = len(buf)
    while True:
        if pos + BLOCK > n:
            raise DataFileError(path or "<buffer>", f"header starting at byte {offset} has no END card "
                                "before the end of the file (truncated or not FITS)")
        block = bytes(buf[pos:pos + BLOCK]).decode("ascii", errors="replace")
        pos += BLOCK
        for k in range(0, BLOCK, CARD):
            card = block[k:k + CARD]
            if card.startswith("END") and card[3:].strip() == "":
                return cards, pos
            cards.append(card)


def _layout(cards: Cards, *, primary: bool, path) -> tuple[tuple[int, ...], np.dtype, float, float]:
    if primary:
        if cards.get("SIMPLE") is not True:
            raise NotSimple("SIMPLE is not T")
        if cards.get("GROUPS") is True:
            raise NotSimple("random groups")
    elif str(cards.get("XTENSION", "")).strip() != "IMAGE":
        raise NotSimple(f"extension type {cards.get('XTENSION')!r}")
    if "ZIMAGE" in cards or "BLANK" in cards:
        raise NotSimple("compressed image or BLANK value")
    bitpix = cards.get("BITPIX")
    if bitpix not in _STORED:
        raise NotSimple(f"BITPIX {bitpix!r}")
    naxis = cards.get("NAXIS")
    if not isinstance(naxis, int) or naxis < 0:
        raise NotSimple(f"NAXIS {naxis!r}")
    shape = tuple(cards.get(f"NAXIS{i}") for i in range(naxis, 0, -1))      # C order: NAXISn first
    if any(not isinstance(s, int) or s < 0 for s in shape):
        raise NotSimple(f"axis lengths {shape!r}")
    if cards.get("PCOUNT", 0) != 0 or cards.get("GCOUNT", 1) != 1:
        raise NotSimple("PCOUNT/GCOUNT")
    bscale, bzero = cards.get("BSCALE", 1), cards.get("BZERO", 0)
    return shape, _STORED[bitpix], bscale, bzero


def _decode(raw: np.ndarray, bitpix_dtype: np.dtype, bscale, bzero):
    """Stored values → the array astropy would give (native byte order)."""
    if bscale == 1 and bzero == 0:
        return raw.astype(raw.dtype.newbyteorder("="))
    if bscale == 1 and bitpix_dtype.kind == "i" and bzero == 2 ** (8 * bitpix_dtype.itemsize - 1):
        unsigned = np.dtype(f"u{bitpix_dtype.itemsize}")
        # s + 2**(bits-1) read as unsigned is s with its sign bit flipped
        return raw.astype(raw.dtype.newbyteorder("=")).view(unsigned) ^ unsigned.type(bzero)
    if bscale == 1 and bitpix_dtype == np.dtype("u1") and bzero == -128:
        return (raw ^ np.uint8(128)).view(np.int8)
    raise NotSimple(f"scaled data (BSCALE={bscale!r}, BZERO={bzero!r})")


def gunzip(raw: bytes) -> bytes:
    """Decompress a whole gzip member in one call: ISA-L (`isal`, a dependency) where installed, else zlib
    (identical output). Raises ``zlib.error`` for corrupt or truncated data, whichever library ran."""
    try:
        return _inflate_lib.decompress(raw, 16 + zlib.MAX_WBITS)
    except zlib.error:
        raise
    except Exception as exc:    # isal's IsalError is not a zlib.error
        if _inflate_lib is zlib:
            raise
        raise zlib.error(str(exc)) from exc


def file_bytes(path) -> bytes:
    """The file's bytes, gunzipped in one call for ``.gz`` (`gunzip`: one-shot inflate is several times faster
    than the streaming `gzip` module)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataFileError(path, "file not found") from None
    if not raw:
        raise DataFileError(path, "file is empty (0 bytes)")
    if path.suffix == ".gz":
        try:
            raw = gunzip(raw)
        except zlib.error as exc:
            raise DataFileError(path, f"corrupt or truncated gzip data ({exc})") from exc
    return raw


def read_hdus(path, *, buf: bytes | None = None, max_hdus: int | None = None) -> list[tuple[np.ndarray, Cards]]:
    """Every HDU of a simple file as ``(data in native byte order, Cards)``, up to `max_hdus`.

    Raises:
        NotSimple: anything outside the fast path (the caller should use astropy).
        DataFileError: a truncated header or data block.
    """
    path = Path(path)
    buf = file_bytes(path) if buf is None else buf
    if not buf.startswith(b"SIMPLE  ="):
        raise NotSimple("does not start with SIMPLE")
    out = []
    offset = 0
    while offset < len(buf) and (max_hdus is None or len(out) < max_hdus):
        if not buf[offset:offset + 8].strip(b" \0"):
            break                                           # zero padding after the last HDU
        card_list, data_at = parse_cards(buf, offset, path=path)
        cards = Cards(card_list)
        shape, stored, bscale, bzero = _layout(cards, primary=not out, path=path)
        count = int(np.prod(shape)) if shape else 0
        nbytes = count * stored.itemsize
        if data_at + nbytes > len(buf):
            raise DataFileError(path, f"HDU {len(out)} is truncated: its {shape} image needs {nbytes} bytes "
                                      f"after the header, the file has {len(buf) - data_at}")
        if count:
            raw = np.frombuffer(buf, dtype=stored, count=count, offset=data_at).reshape(shape)
            out.append((_decode(raw, stored, bscale, bzero), cards))
        else:                                               # a header-only HDU (e.g. before an extension)
            out.append((None, cards))
        offset = data_at + -(-nbytes // BLOCK) * BLOCK
    return out


def read_image(path, hdu: int = 0, *, dtype="float32"):
    """``(data, Cards)`` of image HDU `hdu`, converted to `dtype` (None keeps the decoded type).

    Raises:
        NotSimple: outside the fast path; use `solarcnn.io.fits.read_fits`.
        DataFileError: truncated file, or fewer HDUs than `hdu` + 1.
    """
    hdus = read_hdus(path, max_hdus=hdu + 1)
    if hdu >= len(hdus):
        raise DataFileError(path, f"has no HDU {hdu}; it has {len(hdus)} HDU(s)")
    data, cards = hdus[hdu]
    if data is None:
        raise DataFileError(path, f"HDU {hdu} holds no data")
    return (data.astype(dtype, copy=False) if dtype is not None else data), cards


# ------------------------------------------------------------------------------------------------ writing
def format_card(key: str, value, comment: str = "") -> str:
    """One fixed-format 80-character card (str, bool, int or float value).

    Raises:
        NotSimple: a keyword longer than 8 characters, a non-ASCII text, or a card that does not fit.
    """
    key = key.upper()
    if len(key) > 8 or not key.isascii():
        raise NotSimple(f"keyword {key!r}")
    if isinstance(value, (bool, np.bool_)):
        v = f"{'T' if value else 'F':>20}"
    elif isinstance(value, (int, np.integer)):
        v = f"{int(value):>20d}"
    elif isinstance(value, (float, np.floating)):
        text = repr(float(value)).upper()
        if "E" not in text and "." not in text:
            text += ".0"
        if not np.isfinite(value) or len(text) > 20:
            raise NotSimple(f"float value {value!r}")
        v = f"{text:>20}"
    elif isinstance(value, str):
        if not value.isascii():
            raise NotSimple("non-ASCII string value")
        v = "'" + f"{value.replace(chr(39), chr(39) * 2):<8}" + "'"
        v = f"{v:<20}"
    else:
        raise NotSimple(f"value of type {type(value).__name__}")
    card = f"{key:<8}= {v}"
    if comment:
        card += f" / {comment}"
    if len(card) > CARD:
        if len(f"{key:<8}= {v}") > CARD or not comment.isascii():
            raise NotSimple(f"card for {key!r} does not fit in 80 characters")
        card = card[:CARD]                                   # comments are truncated, as astropy does
    return f"{card:<80}"


def card_images(header) -> list[str]:
    """The 80-character card images of `header`: `Cards`, a list of card strings, or a dict
    ``key -> value`` / ``key -> (value, comment)``; None gives no cards."""
    if header is None:
        return []
    if isinstance(header, Cards):
        return list(header.cards)
    if isinstance(header, Mapping):
        return [format_card(k, *(v if isinstance(v, tuple) else (v,))) for k, v in header.items()]
    return [f"{c:<80}"[:80] for c in header]


def _user_cards(header) -> list[str]:
    """`card_images` of `header` without the structural keywords."""
    out = []
    for c in card_images(header):
        key = card_keyword(c)
        if key in STRUCTURAL or _NAXIS_RE.match(key):
            continue
        if not c.isascii():
            raise NotSimple("non-ASCII header card")
        out.append(c)
    return out


def _encode(data) -> tuple[np.ndarray, int, list[str]]:
    a = np.asarray(data)
    if a.dtype == np.int8:        # astropy's convention: unsigned bytes with BZERO = -128
        return (a.view(np.uint8) ^ np.uint8(128)), 8, [format_card("BZERO", -128), format_card("BSCALE", 1)]
    if a.dtype.newbyteorder("=") not in _BITPIX:
        raise NotSimple(f"dtype {a.dtype}")
    bitpix = _BITPIX[a.dtype.newbyteorder("=")]
    return a.astype(_STORED[bitpix], copy=False), bitpix, []


def _hdu_bytes(data, header, *, primary: bool, extend: bool) -> bytes:
    stored, bitpix, scale_cards = _encode(data)
    if primary:
        head = [format_card("SIMPLE", True, "conforms to FITS standard")]
    else:
        head = [format_card("XTENSION", "IMAGE", "Image extension")]
    head.append(format_card("BITPIX", bitpix, "array data type"))
    head.append(format_card("NAXIS", stored.ndim, "number of array dimensions"))
    head += [format_card(f"NAXIS{i}", n) for i, n in enumerate(reversed(stored.shape), start=1)]
    if primary:
        if extend:
            head.append(format_card("EXTEND", True))
    else:
        head += [format_card("PCOUNT", 0, "number of parameters"), format_card("GCOUNT", 1, "number of groups")]
    cards = head + _user_cards(header) + scale_cards + [f"{'END':<80}"]
    text = "".join(cards)
    text += " " * (-len(text) % BLOCK)
    body = np.ascontiguousarray(stored).tobytes()
    return text.encode("ascii") + body + b"\0" * (-len(body) % BLOCK)


def write_image(path, data, header=None, *, extensions=(), overwrite: bool = True) -> Path:
    """Write a primary image and optional image extensions ``[(data, header), ...]`` atomically.

    `header` may be the `Cards` of a file read with `read_image` (copied card by card, structural keywords
    rewritten from the data), a list of card strings, or a dict ``key -> value`` or ``key -> (value, comment)``.

    Raises:
        NotSimple: a gzip target, a dtype or card outside the fast path (use `solarcnn.io.fits.write_fits`).
        FileExistsError: the file exists and `overwrite` is False.
    """
    path = Path(path)
    if path.suffix == ".gz":
        raise NotSimple("gzip output")
    parts = [_hdu_bytes(data, header, primary=True, extend=bool(extensions))]
    parts += [_hdu_bytes(d, h, primary=False, extend=False) for d, h in extensions]
    with atomic_path(path, overwrite=overwrite) as tmp, open(tmp, "wb") as fh:
        for p in parts:
            fh.write(p)
    return path
