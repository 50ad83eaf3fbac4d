"""Calendar effects shared by all shops: festival dates, weekly/yearly rhythm and shop-wide sales."""

from __future__ import annotations

import datetime as dt

import numpy as np

from smartmarket.datagen.profiles import Festival, Profile, SaleWindow

# Lunar-calendar festivals cannot be computed simply; a table covers every preset's window.
_DIWALI = {2022: (10, 24), 2023: (11, 12), 2024: (11, 1), 2025: (10, 20), 2026: (11, 8)}
_DHANTERAS = {2022: (10, 23), 2023: (11, 10), 2024: (10, 29), 2025: (10, 18), 2026: (11, 6)}
_AKSHAYA_TRITIYA = {2022: (5, 3), 2023: (4, 22), 2024: (5, 10), 2025: (4, 30), 2026: (4, 19)}
_EASTER = {2022: (4, 17), 2023: (4, 9), 2024: (3, 31), 2025: (4, 20), 2026: (4, 5)}


def _black_friday(year: int) -> dt.date:
    nov1 = dt.date(year, 11, 1)
    first_thursday = nov1 + dt.timedelta(days=(3 - nov1.weekday()) % 7)
    return first_thursday + dt.timedelta(days=22)


def festival_date(name: str, year: int) -> dt.date:
    fixed = {"christmas": (12, 25), "valentines": (2, 14), "new_year": (1, 1)}
    tables = {
        "diwali": _DIWALI,
        "dhanteras": _DHANTERAS,
        "akshaya_tritiya": _AKSHAYA_TRITIYA,
        "easter": _EASTER,
    }
    if name in fixed:
        return dt.date(year, *fixed[name])
    if name == "black_friday":
        return _black_friday(year)
    try:
        return dt.date(year, *tables[name][year])
    except KeyError:
        raise ValueError(f"no date for festival {name!r} in {year}") from None


class Calendar:
    """Day-indexed arrays over a history window: day 0 is `start`."""

    def __init__(self, start: dt.date, end: dt.date):
        self.start, self.end = start, end
        self.n_days = (end - start).days + 1
        self.dates = np.arange(np.datetime64(start, "D"), np.datetime64(end, "D") + 1)
        self.date_strings: list[str] = [str(d) for d in self.dates]
        self.weekday = (start.weekday() + np.arange(self.n_days)) % 7
        years = self.dates.astype("datetime64[Y]")
        self.day_of_year = (self.dates - years).astype(int) + 1
        self.year = years.astype(int) + 1970
        self.month = (self.dates.astype("datetime64[M]") - years).astype(int) + 1
        self.day_of_month = (self.dates - self.dates.astype("datetime64[M]")).astype(int) + 1
        self.years_since_start = np.arange(self.n_days) / 365.25

    def index_of(self, day: dt.date) -> int:
        return (day - self.start).days

    def festival_days(self, name: str) -> list[int]:
        """Day indices (possibly outside the window) of every occurrence near the window."""
        return [self.index_of(festival_date(name, y)) for y in range(self.start.year - 1, self.end.year + 2)]

    def window_mask(self, window: SaleWindow) -> np.ndarray:
        md = self.month * 100 + self.day_of_month
        lo, hi = window.start[0] * 100 + window.start[1], window.end[0] * 100 + window.end[1]
        # A window such as 27 Dec - 15 Jan wraps the year end.
        return (md >= lo) & (md <= hi) if lo <= hi else (md >= lo) | (md <= hi)


def festival_multiplier(cal: Calendar, festivals: tuple[Festival, ...]) -> np.ndarray:
    days = np.arange(cal.n_days)
    mult = np.ones(cal.n_days)
    for f in festivals:
        bump = np.zeros(cal.n_days)
        for center in cal.festival_days(f.name):
            bump += np.exp(-0.5 * ((days - (center + f.offset_days)) / f.width_days) ** 2)
        mult *= 1.0 + f.amplitude * bump
    return mult


def yearly_multiplier(cal: Calendar, harmonics: tuple[tuple[float, float, int], ...]) -> np.ndarray:
    mult = np.ones(cal.n_days)
    for amplitude, peak_doy, harmonic in harmonics:
        mult += amplitude * np.cos(2 * np.pi * harmonic * (cal.day_of_year - peak_doy) / 365.25)
    return mult


def sale_cut(cal: Calendar, profile: Profile) -> np.ndarray:
    """Shop-wide discount per day (0 = no sale)."""
    cut = np.zeros(cal.n_days)
    for window in profile.sales:
        cut = np.where(cal.window_mask(window), np.maximum(cut, window.cut), cut)
    for name in profile.sale_festivals:
        for center in cal.festival_days(name):
            # Black-Friday style: the day itself through Cyber Monday.
            lo, hi = max(center, 0), min(center + 4, cal.n_days)
            if lo < hi:
                cut[lo:hi] = np.maximum(cut[lo:hi], profile.sale_festival_cut)
    return cut


def closures(cal: Calendar) -> np.ndarray:
    """Shops mostly close on Christmas Day and open short on New Year's Day."""
    mult = np.ones(cal.n_days)
    mult[(cal.month == 12) & (cal.day_of_month == 25)] = 0.1
    mult[(cal.month == 1) & (cal.day_of_month == 1)] = 0.4
    return mult


def traffic_multiplier(cal: Calendar, profile: Profile) -> np.ndarray:
    """Relative shop traffic per day, normalised to mean 1 over the window."""
    weekly = np.asarray(profile.weekly)[cal.weekday]
    trend = np.exp(profile.trend_per_year * cal.years_since_start)
    # A shop-wide sale brings extra visitors; cannibalisation between products is handled by the choice model.
    sale_traffic = (1.0 - sale_cut(cal, profile)) ** -1.0
    s = (
        weekly
        * yearly_multiplier(cal, profile.yearly)
        * festival_multiplier(cal, profile.festivals)
        * trend
        * sale_traffic
        * closures(cal)
    )
    return s / s.mean()
