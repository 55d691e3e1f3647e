"""Write tests/data/mnist_subset.npz, the small real MNIST that tests and CI use, from the full file.

    python tests/make_subset.py ../shared/data/mnist.npz

Then paste the printed hashes into data.KNOWN_SHA256['MNIST test subset'].
"""
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import data  # noqa: E402

SIZE = 1400  # 1200 train + 200 test: 120 and 20 of each digit
OUT = Path(__file__).resolve().parent / 'data' / 'mnist_subset.npz'

if __name__ == '__main__':
    full = data.read_arrays(sys.argv[1] if len(sys.argv) > 1 else '../shared/data/mnist.npz')
    if data.identify(full) != 'MNIST':
        sys.exit('the source is not the full MNIST file (hash check failed)')
    sub = data.balanced_subset(full, SIZE, seed=0)
    OUT.parent.mkdir(exist_ok=True)
    np.savez_compressed(OUT, **sub)
    print(f'wrote {OUT} ({OUT.stat().st_size} bytes)')
    for k in data.ARRAY_NAMES:
        print(f"        '{k}': '{data.sha256(sub[k])}',")
