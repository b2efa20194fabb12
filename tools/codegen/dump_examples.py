#!/usr/bin/env python3
"""Dump botocore's example inputs for the generated services, for conformance tests.

Writes two JSON files (never committed: they hold botocore's example data):
- EXAMPLES: rows [service, operation, input] from each service's examples-1.json;
- QUERY: for query services, rows [service, operation, input, params] where params are the
  form parameters botocore's own query serializer produces for that input.

    python3 tools/codegen/dump_examples.py /tmp/examples.json /tmp/query_examples.json
    PORTCULLIS_BOTOCORE_EXAMPLES=/tmp/examples.json \
    PORTCULLIS_BOTOCORE_QUERY_EXAMPLES=/tmp/query_examples.json \
        cargo test -p portcullis-model -- --ignored
"""

import json
import sys

import botocore.serialize
import botocore.session
from botocore.exceptions import DataNotFoundError

from gen_models import SERVICES


def main() -> int:
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    session = botocore.session.get_session()
    loader = session.get_component("data_loader")
    rows, query_rows = [], []
    for service in SERVICES:
        model = session.get_service_model(service)
        try:
            examples = loader.load_service_model(service, "examples-1", model.api_version)
        except DataNotFoundError:
            continue
        for op, items in sorted(examples.get("examples", {}).items()):
            for item in items:
                if "input" not in item:
                    continue
                rows.append([service, op, item["input"]])
                if model.protocol == "query":
                    serializer = botocore.serialize.create_serializer("query")
                    req = serializer.serialize_to_request(item["input"], model.operation_model(op))
                    query_rows.append([service, op, item["input"], sorted(req["body"].items())])
    with open(sys.argv[1], "w", encoding="utf-8") as f:
        json.dump(rows, f)
    with open(sys.argv[2], "w", encoding="utf-8") as f:
        json.dump(query_rows, f)
    print(f"{len(rows)} examples, {len(query_rows)} query examples")
    return 0


if __name__ == "__main__":
    sys.exit(main())
