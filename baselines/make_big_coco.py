"""Write the synthetic COCO file of ``convert_bench.make_coco`` at a large N, JSON only.

The 500k-image file is ~517 MB (3.65M boxes) and is never committed: it goes under
``baselines/_work/`` (git-ignored). Used by ``stream_bench.py``.

    python baselines/make_big_coco.py --n 500000   # -> baselines/_work/big/coco-500000.json
"""
from __future__ import annotations

import argparse
import gc
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from convert_bench import make_coco  # noqa: E402

WORK = Path(__file__).resolve().parent / "_work" / "big"


def big_coco(n: int, folder: Path = WORK) -> Path:
    """The path of the N-image synthetic COCO file, written on first use.

    Example:
        >>> big_coco(1000)  # doctest: +SKIP
        PosixPath('.../baselines/_work/big/coco-1000.json')
    """
    import orjson

    out = folder / f"coco-{n}.json"
    if not out.exists():
        folder.mkdir(parents=True, exist_ok=True)
        gc.disable()  # millions of fresh dicts, no cycles
        tmp = out.with_suffix(".tmp")
        tmp.write_bytes(orjson.dumps(make_coco(n)))
        tmp.rename(out)
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, nargs="+", default=[500_000])
    for n in parser.parse_args().n:
        print(big_coco(n))
