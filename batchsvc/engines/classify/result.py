"""The engine's result type, shaped like the SDK's classifier ItemResult plus mode/notes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Classification:
    type: str | None
    confidence: float
    reasoning: str
    mode_used: str = "FAST"
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "confidence": float(min(1.0, max(0.0, self.confidence))),
            "reasoning": self.reasoning,
            "mode_used": self.mode_used,
            "notes": list(self.notes),
        }
