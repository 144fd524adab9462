#!/usr/bin/env python3
"""An 8-bit RGB PNG decoded independently of armfarm's writer, for the tests.

usage: png_decode.py IN.png OUT.rgb
Checks the signature, the chunk order (IHDR first, IDAT together, IEND last, nothing after),
every chunk's CRC-32, the IHDR fields, the zlib stream (zlib.decompress checks its Adler-32)
and its length, undoes the five row filters and writes the pixels as raw RGB (height, width, 3),
top row first. Prints "WIDTH HEIGHT IDAT_BYTES" on success; one line on stderr and exit 1 on
any defect.
"""
import struct
import sys
import zlib


def fail(msg):
    print("png_decode: " + msg, file=sys.stderr)
    sys.exit(1)


def main():
    if len(sys.argv) != 3:
        fail("usage: png_decode.py IN.png OUT.rgb")
    data = open(sys.argv[1], "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        fail("bad signature")
    # the chunks, each CRC over type and data
    pos, chunks = 8, []
    while pos < len(data):
        if pos + 12 > len(data):
            fail("truncated chunk at byte %d" % pos)
        (n,) = struct.unpack(">I", data[pos:pos + 4])
        kind, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + n]
        if len(body) != n or pos + 12 + n > len(data):
            fail("truncated %r chunk" % kind)
        (crc,) = struct.unpack(">I", data[pos + 8 + n:pos + 12 + n])
        if zlib.crc32(kind + body) & 0xFFFFFFFF != crc:
            fail("CRC mismatch in %r chunk at byte %d" % (kind, pos))
        chunks.append((kind, body))
        pos += 12 + n
    kinds = [k for k, _ in chunks]
    if not kinds or kinds[0] != b"IHDR" or kinds[-1] != b"IEND" or kinds.count(b"IEND") != 1:
        fail("chunk order %r" % kinds)
    idat_at = [i for i, k in enumerate(kinds) if k == b"IDAT"]
    if not idat_at or idat_at != list(range(idat_at[0], idat_at[-1] + 1)):
        fail("IDAT chunks missing or not consecutive")
    w, h, depth, colour, comp, filt, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    if w < 1 or h < 1 or (depth, colour, comp, filt, interlace) != (8, 2, 0, 0, 0):
        fail("not a plain 8-bit RGB image: %r" % ((w, h, depth, colour, comp, filt, interlace),))
    z = b"".join(chunks[i][1] for i in idat_at)
    try:
        d = zlib.decompressobj()
        raw = d.decompress(z) + d.flush()
    except zlib.error as e:
        fail("zlib: %s" % e)
    if not d.eof or d.unused_data:
        fail("the zlib stream does not end where IDAT does")
    stride = 3 * w
    if len(raw) != (stride + 1) * h:
        fail("%d bytes of scanlines, %d expected" % (len(raw), (stride + 1) * h))
    # undo the filters row by row
    out = bytearray(stride * h)
    prev = bytearray(stride)
    for y in range(h):
        t = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        if t == 0:
            pass
        elif t == 1:
            for i in range(3, stride):
                line[i] = (line[i] + line[i - 3]) & 0xFF
        elif t == 2:
            for i in range(stride):
                line[i] = (line[i] + prev[i]) & 0xFF
        elif t == 3:
            for i in range(stride):
                a = line[i - 3] if i >= 3 else 0
                line[i] = (line[i] + ((a + prev[i]) >> 1)) & 0xFF
        elif t == 4:
            for i in range(stride):
                a = line[i - 3] if i >= 3 else 0
                b = prev[i]
                c = prev[i - 3] if i >= 3 else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pred) & 0xFF
        else:
            fail("row %d: filter type %d" % (y, t))
        out[y * stride:(y + 1) * stride] = line
        prev = line
    open(sys.argv[2], "wb").write(bytes(out))
    print(w, h, len(z))


if __name__ == "__main__":
    main()
