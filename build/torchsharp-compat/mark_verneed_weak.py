#!/usr/bin/env python3
"""Set VER_FLG_WEAK on one version-need entry (e.g. GLIBCXX_3.4.32) of an ELF64 shared object.

A weak version need makes ld.so warn instead of refusing to load the library when the
providing libstdc++ lacks that version. patchelf has no option for this flag.
Usage: mark_verneed_weak.py FILE VERSION   (idempotent; exit 0 when already weak)
"""
import struct
import sys

VER_FLG_WEAK = 0x2
SHT_GNU_VERNEED = 0x6FFFFFFE


def main(path: str, version: str) -> int:
    with open(path, "r+b") as f:
        data = bytearray(f.read())
        if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
            print(f"{path}: not a little-endian ELF64 file", file=sys.stderr)
            return 1
        e_shoff = struct.unpack_from("<Q", data, 0x28)[0]
        e_shentsize, e_shnum = struct.unpack_from("<HH", data, 0x3A)
        sections = []
        for i in range(e_shnum):
            off = e_shoff + i * e_shentsize
            sh_type = struct.unpack_from("<I", data, off + 4)[0]
            sh_offset, sh_size = struct.unpack_from("<QQ", data, off + 0x18)
            sh_link, sh_info = struct.unpack_from("<II", data, off + 0x28)
            sections.append((sh_type, sh_offset, sh_size, sh_link, sh_info))
        for sh_type, sh_offset, _, sh_link, sh_info in sections:
            if sh_type != SHT_GNU_VERNEED:
                continue
            strtab = sections[sh_link][1]
            vn = sh_offset
            for _ in range(sh_info):
                _, vn_cnt, _, vn_aux, vn_next = struct.unpack_from("<HHIII", data, vn)
                va = vn + vn_aux
                for _ in range(vn_cnt):
                    _, flags, _, name_off, va_next = struct.unpack_from("<IHHII", data, va)
                    end = data.index(b"\0", strtab + name_off)
                    if data[strtab + name_off:end].decode() == version:
                        if flags & VER_FLG_WEAK:
                            return 0
                        struct.pack_into("<H", data, va + 4, flags | VER_FLG_WEAK)
                        f.seek(0)
                        f.write(data)
                        return 0
                    va += va_next
                vn += vn_next
        print(f"{path}: no version need named {version}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
