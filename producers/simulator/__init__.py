"""Traffic simulator: realistic alarms, robberies and sightings with planted patterns and truth."""

from producers.simulator.config import SimulationConfig
from producers.simulator.drive import SimulationReport, simulate
from producers.simulator.scenario import Scenario, generate, read_truth
from producers.simulator.truth import GroundTruth, PlantedRecon, PlantedSeries, ScenarioEvent

__all__ = [
    "GroundTruth",
    "PlantedRecon",
    "PlantedSeries",
    "Scenario",
    "ScenarioEvent",
    "SimulationConfig",
    "SimulationReport",
    "generate",
    "read_truth",
    "simulate",
]
