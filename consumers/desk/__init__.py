"""The police desk: a unit's robbery alerts live in the browser, with map, evidence and handling."""

from consumers.desk.alerts import AlertCard, AlertNotFound, AlertStore, Outcome
from consumers.desk.app import create_desk_app
from consumers.desk.tail import tail
from consumers.desk.users import (
    DeskUser,
    DeskUserError,
    add_user,
    disable_user,
    enable_user,
    list_users,
    set_password,
)
from heterdaad.thresholds.desk import DeskThresholds

__all__ = [
    "AlertCard",
    "AlertNotFound",
    "AlertStore",
    "DeskThresholds",
    "DeskUser",
    "DeskUserError",
    "Outcome",
    "add_user",
    "create_desk_app",
    "disable_user",
    "enable_user",
    "list_users",
    "set_password",
    "tail",
]
