"""Small statistics helpers (an example with deliberate bugs for trying refute)."""


def mean(values):
    return sum(values) / len(values)  # an empty list divides by zero


def median(values):
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle]  # wrong for an even number of values
