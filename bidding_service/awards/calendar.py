"""The PRC official working-day calendar (weekends, public holidays and the make-up
working days, 调休), from the maintained `chinesecalendar` library."""

from __future__ import annotations

from datetime import date

import chinese_calendar

from shared.errors import Invalid


class CalendarUnknown(Invalid):
    """A day beyond the years the official calendar library knows."""

    def __init__(self, day: date) -> None:
        super().__init__(
            f"the official working-day calendar does not know {day.year} yet: use "
            "acceptance_seconds, or a shorter window",
            [{"loc": ["acceptance_working_days"],
              "msg": "beyond the official calendar's known years"}],
            slug="calendar-unknown")


def is_workday(day: date) -> bool:
    """An official working day in the PRC (raises CalendarUnknown past known years)."""
    try:
        return bool(chinese_calendar.is_workday(day))
    except NotImplementedError:
        raise CalendarUnknown(day) from None


def is_workday_or_weekday(day: date) -> bool:
    """`is_workday`, or Monday to Friday for a year the library does not know yet (an
    award published long after its launch; the launch itself refused such a window)."""
    try:
        return is_workday(day)
    except CalendarUnknown:
        return day.weekday() < 5
