"""Edge models: the contract as callers send it, with raw licence plates the API pseudonymises."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, TypeVar

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from schemas.events import Getaway, IncidentReport, ReconSighting, Vehicle
from schemas.pseudonym import normalise_plate, pseudonymise_free_text, pseudonymise_plate

ContractT = TypeVar("ContractT", bound=BaseModel)


@dataclass(frozen=True)
class PlateKey:
    """The keyed-hash secret and its id, read once from settings at start-up."""

    key: bytes
    key_id: str

    def __repr__(self) -> str:
        return f"PlateKey(key_id={self.key_id!r})"

    def free_text(self, event: ContractT) -> ContractT:
        """The event with plates typed into any free-text field pseudonymised (issue 11 #9).

        Pseudonymised rather than refused: a report made in a hurry is not sent back for a plate
        in the wrong field, and the pseudonym still matches the same plate elsewhere.
        """
        return pseudonymise_free_text(event, self.key, self.key_id)


class ReportedVehicle(Vehicle):
    """A vehicle as a caller reports it: the raw plate, or a pseudonym it made itself."""

    # _one_plate in the spec, so that clients (and schemathesis) know it before posting.
    model_config = ConfigDict(
        json_schema_extra={
            "not": {
                "required": ["plate", "plate_pseudonym"],
                "properties": {"plate": {"type": "string"}, "plate_pseudonym": {"type": "string"}},
            }
        }
    )

    # SecretStr so that a repr, a log line or a dump of the edge model never shows the plate.
    plate: (
        Annotated[
            SecretStr,
            Field(
                min_length=2,
                max_length=20,
                description="The licence plate as read. Pseudonymised by the API on arrival; "
                "never stored, logged or published.",
                examples=["12-ABC-3"],
            ),
        ]
        | None
    ) = None

    @field_validator("plate")
    @classmethod
    def _plate_readable(cls, plate: SecretStr | None) -> SecretStr | None:
        if plate is not None:
            normalise_plate(plate.get_secret_value())
        return plate

    @model_validator(mode="after")
    def _one_plate(self) -> ReportedVehicle:
        if self.plate is not None and self.plate_pseudonym is not None:
            raise ValueError("give plate or plate_pseudonym, not both")
        return self

    def pseudonymised(self, plate_key: PlateKey) -> Vehicle:
        """The contract vehicle: the raw plate replaced by its pseudonym."""
        pseudonym = self.plate_pseudonym
        if self.plate is not None:
            pseudonym = pseudonymise_plate(
                self.plate.get_secret_value(), plate_key.key, plate_key.key_id
            )
        return Vehicle.model_validate(
            {**self.model_dump(exclude={"plate", "plate_pseudonym"}), "plate_pseudonym": pseudonym}
        )


class ReportedGetaway(Getaway):
    vehicle: ReportedVehicle | None = None


class IncidentReportIn(IncidentReport):
    """An incident report whose getaway vehicle may carry a raw plate."""

    getaway: ReportedGetaway | None = None

    def pseudonymised(self, plate_key: PlateKey) -> IncidentReport:
        getaway: Getaway | None = None
        if self.getaway is not None:
            vehicle = self.getaway.vehicle
            getaway = Getaway.model_validate(
                {
                    **self.getaway.model_dump(exclude={"vehicle"}),
                    "vehicle": None if vehicle is None else vehicle.pseudonymised(plate_key),
                }
            )
        return plate_key.free_text(
            IncidentReport.model_validate(
                {**self.model_dump(exclude={"getaway"}), "getaway": getaway}
            )
        )


class ReconSightingIn(ReconSighting):
    """A reconnaissance sighting whose vehicle may carry a raw plate."""

    vehicle: ReportedVehicle | None = None

    def pseudonymised(self, plate_key: PlateKey) -> ReconSighting:
        vehicle = None if self.vehicle is None else self.vehicle.pseudonymised(plate_key)
        return plate_key.free_text(
            ReconSighting.model_validate(
                {**self.model_dump(exclude={"vehicle"}), "vehicle": vehicle}
            )
        )
