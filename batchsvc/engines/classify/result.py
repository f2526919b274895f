"""The engine's result type, shaped like the SDK's classifier ItemResult plus mode/notes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Evidence:
    """What batch refinement needs of one document, kept by a caller that refines later over
    many documents (a whole job): its vector as the rules saw it, and whether a rule fits."""

    doc: np.ndarray  # [D] float32, unit length
    matched: bool


@dataclass
class Classification:
    type: str | None
    confidence: float
    reasoning: str
    mode_used: str = "FAST"
    notes: list[str] = field(default_factory=list)
    # FAST with two or more rules: the document's evidence for a later refinement.
    evidence: Evidence | None = field(default=None, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "confidence": float(min(1.0, max(0.0, self.confidence))),
            "reasoning": self.reasoning,
            "mode_used": self.mode_used,
            "notes": list(self.notes),
        }
