"""Small deterministic stand-ins shared by several test files."""

import torch


def letter_counts(texts) -> torch.Tensor:
    """``(B, 26)``: how often each letter a–z occurs in each text (case-insensitive)."""
    counts = torch.zeros(len(texts), 26)
    for i, text in enumerate(texts):
        for ch in text.lower():
            if "a" <= ch <= "z":
                counts[i, ord(ch) - 97] += 1
    return counts
