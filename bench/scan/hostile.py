#!/usr/bin/env python3
"""Writes hostile files for `kura scan` (issue 19): a spreadsheet whose single cell inflates
to SIZE bytes, a gzip bomb of SIZE bytes, and a normal CSV beside them.

Usage: bench/scan/hostile.py DIR [SIZE_MIB]   (default 1024 MiB inflated)
Then:  /usr/bin/time -v kura scan --format json DIR   (max RSS, wall time, skipped reasons)
"""
import gzip
import os
import sys
import zipfile

out = sys.argv[1]
size = int(sys.argv[2]) * (1 << 20) if len(sys.argv) > 2 else 1 << 30
os.makedirs(out, exist_ok=True)
chunk = b"A" * (1 << 20)

parts = {
    "[Content_Types].xml": '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>',
    "_rels/.rels": '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>',
    "xl/workbook.xml": '<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>',
    "xl/_rels/workbook.xml.rels": '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>',
}
with zipfile.ZipFile(os.path.join(out, "bomb.xlsx"), "w", zipfile.ZIP_DEFLATED, compresslevel=9) as z:
    for name, text in parts.items():
        z.writestr(name, text)
    with z.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as f:
        f.write(b'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>')
        for _ in range(size // len(chunk)):
            f.write(chunk)
        f.write(b"</t></is></c></row></sheetData></worksheet>")

with gzip.open(os.path.join(out, "bomb.log.gz"), "wb", compresslevel=9) as g:
    for _ in range(size // len(chunk)):
        g.write(chunk)

with open(os.path.join(out, "customers.csv"), "w") as c:
    c.write("name,email\nTaro Yamada,taro.yamada@gmail.com\nErika Mustermann,erika.m@web.de\n")
for f in sorted(os.listdir(out)):
    print(f, os.path.getsize(os.path.join(out, f)))
