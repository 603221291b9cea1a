"""The official `openai` client against airgate's /v1/embeddings (run by tests/it/embeddings.rs).

The client asks for base64 unless told otherwise and decodes it itself, so both encodings are
exercised; `dimensions`, token-array inputs and a refused (too long) input are checked too.
"""

import argparse
import math
import sys

import openai
from openai import OpenAI


def norm(v):
    return math.sqrt(sum(x * x for x in v))


def cosine(a, b):
    return sum(x * y for x, y in zip(a, b)) / (norm(a) * norm(b))


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--base-url", required=True)
    p.add_argument("--model", required=True)
    p.add_argument("--dims", type=int, required=True, help="the model's vector width")
    p.add_argument("--max-tokens", type=int, required=True, help="the longest input it embeds")
    args = p.parse_args()
    client = OpenAI(base_url=args.base_url, api_key="not-needed")
    texts = ["def add(a, b):\n    return a + b\n", "The harbour was quiet at dawn.", "def add(a, b):\n    return a + b\n"]

    # The client's default: base64, decoded by the client.
    r = client.embeddings.create(model=args.model, input=texts)
    assert r.object == "list" and r.model == args.model, r
    assert [d.index for d in r.data] == [0, 1, 2], r.data
    vectors = [d.embedding for d in r.data]
    assert all(len(v) == args.dims for v in vectors), [len(v) for v in vectors]
    assert all(abs(norm(v) - 1) < 1e-3 for v in vectors), [norm(v) for v in vectors]
    assert cosine(vectors[0], vectors[2]) > 0.999, "the same text twice"
    assert cosine(vectors[0], vectors[1]) < 0.5, "code and prose"
    assert r.usage.prompt_tokens > 0 and r.usage.total_tokens == r.usage.prompt_tokens, r.usage

    # Floats: the same numbers.
    f = client.embeddings.create(model=args.model, input=texts[0], encoding_format="float")
    assert len(f.data) == 1 and cosine(f.data[0].embedding, vectors[0]) > 0.999

    # dimensions: cut and scaled back to unit length.
    d = client.embeddings.create(model=args.model, input=texts[:2], dimensions=16, encoding_format="float")
    assert all(len(x.embedding) == 16 and abs(norm(x.embedding) - 1) < 1e-3 for x in d.data), d.data

    # Token ids in, like text in.
    ids = client.embeddings.create(model=args.model, input=[[2, 1596, 2134], [2, 20057]], encoding_format="float")
    assert len(ids.data) == 2 and ids.usage.prompt_tokens == 5, ids

    # Too long: a 400 that names the limit.
    try:
        client.embeddings.create(model=args.model, input="word " * (args.max_tokens + 10))
    except openai.BadRequestError as e:
        message = str(e)
        assert f"at most {args.max_tokens} tokens" in message, message
    else:
        raise AssertionError("an input over the limit was embedded")

    print("openai client: embeddings ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
