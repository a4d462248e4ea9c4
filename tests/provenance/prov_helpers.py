"""Helpers shared by the provenance tests."""


def light_edit(text: str, rate: float, seed: int, pool: list[str]) -> str:
    """Substitute, delete or insert words with total probability ``rate`` (a re-post with light edits)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    out = []
    for w in text.split():
        r = rng.random()
        if r < rate / 3:
            out.append(pool[int(rng.integers(len(pool)))])
        elif r < 2 * rate / 3:
            continue
        elif r < rate:
            out.extend([w, pool[int(rng.integers(len(pool)))]])
        else:
            out.append(w)
    return " ".join(out)
