"""What the SDK client scripts share: how an answer is compared with the
scenario's expectation."""


def matches(want, got):
    """`got` has every key of `want` with a matching value (extra keys are
    the vendor's to add); lists match element by element."""
    if isinstance(want, dict):
        return isinstance(got, dict) and all(k in got and matches(v, got[k]) for k, v in want.items())
    if isinstance(want, list):
        return isinstance(got, list) and len(want) == len(got) and all(map(matches, want, got))
    return want == got
