#!/usr/bin/env python3
"""Generate compact Rust operation/shape tables from botocore service models.

Reads botocore/data/<service>/<version>/service-2.json(.gz) for the services Portcullis
speaks and writes crates/portcullis-model/src/generated/<service>.rs plus mod.rs. Only the
machine-readable parts of the models are emitted (operations, shapes, constraints, error
codes); documentation text is never copied.

Usage:
    python3 tools/codegen/gen_models.py           # write the generated files
    python3 tools/codegen/gen_models.py --check   # exit 1 when the committed files differ

Python 3.11, standard library only. botocore is located with `import botocore`.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
from pathlib import Path

SERVICES = [
    "sts",
    "iam",
    "kms",
    "organizations",
    "cloudtrail",
    "wafv2",
    "shield",
    "guardduty",
    "inspector2",
    "artifact",
]

REPO = Path(__file__).resolve().parents[2]
OUT_DIR = REPO / "crates" / "portcullis-model" / "src" / "generated"

PROTOCOLS = {
    "query": "ProtocolKind::Query",
    "json": "ProtocolKind::Json",
    "rest-json": "ProtocolKind::RestJson",
    "rest-xml": "ProtocolKind::RestXml",
}

SCALARS = {
    "integer": "ShapeKind::Integer",
    "long": "ShapeKind::Long",
    "float": "ShapeKind::Float",
    "double": "ShapeKind::Double",
    "boolean": "ShapeKind::Boolean",
    "timestamp": "ShapeKind::Timestamp",
    "blob": "ShapeKind::Blob",
}

LOCATIONS = {
    "uri": "Location::Uri",
    "querystring": "Location::Querystring",
    "header": "Location::Header",
    "headers": "Location::Headers",
    "statusCode": "Location::StatusCode",
}

# Member flags, mirrored by constants in crates/portcullis-model/src/model.rs.
REQUIRED = 1
IDEMPOTENCY_TOKEN = 2
# Operation flags.
OP_UNSIGNED = 1
OP_IDEMPOTENT = 2
OP_DEPRECATED = 4


def botocore_data() -> tuple[Path, str]:
    try:
        import botocore  # noqa: PLC0415
    except ImportError:
        sys.exit("gen_models.py: botocore is not installed (pip install botocore)")
    return Path(botocore.__file__).parent / "data", botocore.__version__


def load_model(data: Path, service: str) -> tuple[str, dict]:
    versions = sorted(p.name for p in (data / service).iterdir() if p.is_dir())
    if not versions:
        sys.exit(f"gen_models.py: no model for {service}")
    version = versions[-1]
    base = data / service / version
    plain = base / "service-2.json"
    if plain.exists():
        text = plain.read_text(encoding="utf-8")
    else:
        with gzip.open(base / "service-2.json.gz", "rt", encoding="utf-8") as f:
            text = f.read()
    return version, json.loads(text)


def rust_str(s: str) -> str:
    """A Rust string literal; raw when it holds backslashes or quotes (patterns)."""
    if "\\" in s or '"' in s:
        hashes = "#"
        while f'"{hashes}' in s:
            hashes += "#"
        return f'r{hashes}"{s}"{hashes}'
    return f'"{s}"'


def opt(v, fmt=str) -> str:
    return "None" if v is None else f"Some({fmt(v)})"


def bound(shape: dict, key: str, name: str) -> str:
    v = shape.get(key)
    if v is None:
        return "None"
    if isinstance(v, float):
        if not v.is_integer():
            sys.exit(f"gen_models.py: non-integral {key} on {name}: {v}")
        v = int(v)
    return f"Some({v})"


def generate(service: str, version: str, model: dict, botocore_version: str) -> str:
    meta = model["metadata"]
    protocol = meta.get("protocol")
    if protocol not in PROTOCOLS:
        sys.exit(f"gen_models.py: {service}: unsupported protocol {protocol}")
    shapes = model["shapes"]
    names = sorted(shapes)
    index = {n: i for i, n in enumerate(names)}
    if len(names) > 65535:
        sys.exit("gen_models.py: too many shapes for u16 indices")

    patterns: list[str] = []
    pattern_index: dict[str, int] = {}

    def pattern_id(p: str) -> int:
        if p not in pattern_index:
            pattern_index[p] = len(patterns)
            patterns.append(p)
        return pattern_index[p]

    shape_lines = []
    for n in names:
        s = shapes[n]
        t = s["type"]
        sens = "true" if s.get("sensitive") else "false"
        lo, hi = bound(s, "min", n), bound(s, "max", n)
        if t == "structure":
            members = []
            required = set(s.get("required", []))
            for mn, mm in s.get("members", {}).items():
                flags = 0
                if mn in required:
                    flags |= REQUIRED
                if mm.get("idempotencyToken"):
                    flags |= IDEMPOTENCY_TOKEN
                loc = LOCATIONS.get(mm.get("location"), "Location::Body")
                if mm.get("location") and mm["location"] not in LOCATIONS:
                    sys.exit(f"gen_models.py: unknown location {mm['location']}")
                ln = mm.get("locationName")
                members.append(
                    f"m({rust_str(mn)}, {index[mm['shape']]}, {flags}, {loc}, {opt(ln, rust_str)})"
                )
            err = "None"
            if s.get("exception"):
                e = s.get("error", {})
                code = e.get("code", n)
                status = e.get("httpStatusCode", 500 if s.get("fault") else 400)
                sender = "false" if s.get("fault") else "true"
                if "senderFault" in e:
                    sender = "true" if e["senderFault"] else "false"
                err = f"Some(ErrorInfo {{ code: {rust_str(code)}, status: {status}, sender_fault: {sender} }})"
            union = "true" if s.get("union") else "false"
            body = ", ".join(members)
            kind = f"ShapeKind::Structure {{ members: &[{body}], union: {union}, error: {err} }}"
        elif t == "list":
            kind = f"ShapeKind::List {{ member: {index[s['member']['shape']]}, member_name: {opt(s['member'].get('locationName'), rust_str)} }}"
            if s.get("flattened"):
                sys.exit(f"gen_models.py: flattened list {n} is not supported")
        elif t == "map":
            kind = (
                f"ShapeKind::Map {{ key: {index[s['key']['shape']]}, value: {index[s['value']['shape']]}, "
                f"key_name: {opt(s['key'].get('locationName'), rust_str)}, "
                f"value_name: {opt(s['value'].get('locationName'), rust_str)} }}"
            )
            if s.get("flattened"):
                sys.exit(f"gen_models.py: flattened map {n} is not supported")
        elif t == "string":
            enums = ", ".join(rust_str(e) for e in s.get("enum", []))
            pat = opt(pattern_id(s["pattern"]) if "pattern" in s else None)
            kind = f"ShapeKind::String {{ pattern: {pat}, enums: &[{enums}] }}"
        elif t in SCALARS:
            kind = SCALARS[t]
        else:
            sys.exit(f"gen_models.py: {service}: unknown shape type {t}")
        shape_lines.append(f"    /* {index[n]} */ sh({rust_str(n)}, {kind}, {lo}, {hi}, {sens}),")

    op_lines = []
    for on in sorted(model["operations"]):
        o = model["operations"][on]
        http = o.get("http", {})
        flags = 0
        if o.get("authtype") == "none" or o.get("auth") == ["smithy.api#noAuth"]:
            flags |= OP_UNSIGNED
        if o.get("idempotent"):
            flags |= OP_IDEMPOTENT
        if o.get("deprecated"):
            flags |= OP_DEPRECATED
        inp = opt(index[o["input"]["shape"]] if "input" in o else None)
        out = opt(index[o["output"]["shape"]] if "output" in o else None)
        wrapper = opt(o.get("output", {}).get("resultWrapper"), rust_str)
        errs = ", ".join(str(index[e["shape"]]) for e in o.get("errors", []))
        op_lines.append(
            f"    op({rust_str(on)}, {rust_str(http.get('method', 'POST'))}, "
            f"{rust_str(http.get('requestUri', '/'))}, {http.get('responseCode', 200)}, "
            f"{inp}, {out}, {wrapper}, &[{errs}], {flags}),"
        )

    pattern_lines = [f"    {rust_str(p)}," for p in patterns]
    signing = meta.get("signingName", meta.get("endpointPrefix", service))
    out = []
    out.append(f"// @generated by tools/codegen/gen_models.py from botocore {botocore_version}")
    out.append(f"// ({service} {version}, service-2.json). Do not edit by hand: regenerate instead.")
    out.append("")
    out.append("use crate::model::{")
    out.append("    ErrorInfo, Location, ProtocolKind, ServiceModel, ServiceTables, ShapeKind, m, op, sh,")
    out.append("};")
    out.append("")
    out.append("/// The botocore model of this service.")
    out.append("pub static SERVICE: ServiceModel = ServiceModel::new(")
    out.append("    ServiceTables {")
    out.append(f"        name: {rust_str(service)},")
    out.append(f"        signing_name: {rust_str(signing)},")
    out.append(f"        endpoint_prefix: {rust_str(meta.get('endpointPrefix', service))},")
    out.append(f"        protocol: {PROTOCOLS[protocol]},")
    out.append(f"        api_version: {rust_str(meta['apiVersion'])},")
    out.append(f"        xmlns: {opt(meta.get('xmlNamespace'), rust_str)},")
    out.append(f"        target_prefix: {opt(meta.get('targetPrefix'), rust_str)},")
    out.append(f"        json_version: {opt(meta.get('jsonVersion'), rust_str)},")
    out.append("        operations: &OPERATIONS,")
    out.append("        shapes: &SHAPES,")
    out.append("        patterns: &PATTERNS,")
    out.append("    },")
    out.append(");")
    out.append("")
    out.append(f"static OPERATIONS: [crate::model::Operation; {len(op_lines)}] = [")
    out.extend(op_lines)
    out.append("];")
    out.append("")
    out.append(f"static SHAPES: [crate::model::Shape; {len(shape_lines)}] = [")
    out.extend(shape_lines)
    out.append("];")
    out.append("")
    out.append(f"static PATTERNS: [&str; {len(pattern_lines)}] = [")
    out.extend(pattern_lines)
    out.append("];")
    out.append("")
    return "\n".join(out)


def generate_mod(versions: dict[str, str], botocore_version: str) -> str:
    out = [
        f"// @generated by tools/codegen/gen_models.py from botocore {botocore_version}.",
        "// Do not edit by hand: regenerate instead.",
        "",
        "//! Service models generated from botocore: one module per service, each holding a",
        "//! `SERVICE` table of operations and shapes.",
        "",
    ]
    for s in SERVICES:
        out.append(f"#[rustfmt::skip]")
        out.append(f"pub mod {s};")
    out.append("")
    out.append(f'/// The botocore version the tables were generated from.')
    out.append(f'pub const BOTOCORE_VERSION: &str = "{botocore_version}";')
    out.append("")
    out.append("/// Every generated service, in a fixed order.")
    out.append(f"pub static SERVICES: [&crate::model::ServiceModel; {len(SERVICES)}] = [")
    for s in SERVICES:
        out.append(f"    &{s}::SERVICE,")
    out.append("];")
    out.append("")
    return "\n".join(out)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="fail if committed output differs")
    ap.add_argument("--out", type=Path, default=OUT_DIR, help="output directory")
    args = ap.parse_args()

    data, botocore_version = botocore_data()
    files: dict[str, str] = {}
    versions = {}
    for s in SERVICES:
        version, model = load_model(data, s)
        versions[s] = version
        files[f"{s}.rs"] = generate(s, version, model, botocore_version)
    files["mod.rs"] = generate_mod(versions, botocore_version)

    if args.check:
        stale = []
        for name, text in files.items():
            path = args.out / name
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(name)
        extra = sorted(
            p.name for p in args.out.glob("*.rs") if p.name not in files
        ) if args.out.exists() else []
        if stale or extra:
            print(
                f"gen_models.py --check: generated models are stale (botocore {botocore_version}): "
                + ", ".join(stale + extra),
                file=sys.stderr,
            )
            print("run: python3 tools/codegen/gen_models.py", file=sys.stderr)
            return 1
        print(f"gen_models.py --check: up to date (botocore {botocore_version})")
        return 0

    args.out.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (args.out / name).write_text(text, encoding="utf-8")
    print(f"wrote {len(files)} files to {args.out} (botocore {botocore_version})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
