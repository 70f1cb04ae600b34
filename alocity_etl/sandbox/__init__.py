"""Local Alocity sandbox: a faithful stand-in for the unreachable Alocity API.

from alocity_etl.sandbox import Sandbox, SandboxConfig
with Sandbox(SandboxConfig(preset="tiny", seed=7)).serve(port=0) as sb:
    sb.base_url, sb.access_key, sb.admin.ground_truth()
"""

from .admin import SandboxAdmin
from .config import PRESETS, SandboxConfig, parse_rate_limit
from .server import RunningSandbox, Sandbox

__all__ = ["PRESETS", "RunningSandbox", "Sandbox", "SandboxAdmin", "SandboxConfig", "parse_rate_limit"]
