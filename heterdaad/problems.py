"""The HTTP API's error answers: one detail, or the fields at fault and why.

Every router answers its 4xx in these shapes, on both sides of the house (the intake in
producers/api, history and subscriptions in consumers/), so they sit in the core.
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class Problem(BaseModel):
    detail: str


class FieldProblem(BaseModel):
    field: str = Field(description="Dotted path of the offending field, e.g. branch.location.lat.")
    reason: str


class ValidationProblem(BaseModel):
    detail: list[FieldProblem]
