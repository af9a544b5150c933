"""The web dashboard `weir serve` answers at `/`: static HTML, JS and CSS (package data, no
framework, nothing fetched from elsewhere) that poll the HTTP API every second."""

from controlplane.dashboard._serve import ASSETS, mount_dashboard

__all__ = ["ASSETS", "mount_dashboard"]
