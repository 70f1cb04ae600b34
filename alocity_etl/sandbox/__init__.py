"""Local Alocity sandbox: a faithful stand-in for the unreachable Alocity API.

from alocity_etl.sandbox import Sandbox, SandboxConfig
with Sandbox(SandboxConfig(preset="tiny", seed=7)).serve(port=0) as sb:
    sb.base_url, sb.access_key, sb.admin.ground_truth()

Many accounts on one port (tenants.py):
with MultiSandbox.numbered(3, SandboxConfig(preset="tiny")).serve() as ms:
    ms.accounts["acct02"].access_key, ms.accounts["acct02"].admin.ground_truth()
"""

from .admin import SandboxAdmin
from .config import PRESETS, SandboxConfig, parse_rate_limit
from .server import RunningSandbox, Sandbox
from .tenants import MultiSandbox, RunningMultiSandbox

__all__ = [
    "PRESETS",
    "MultiSandbox",
    "RunningMultiSandbox",
    "RunningSandbox",
    "Sandbox",
    "SandboxAdmin",
    "SandboxConfig",
    "parse_rate_limit",
]
