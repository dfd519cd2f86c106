"""Start-up: Azure Monitor is configured once when a connection string is set, and not at all without one.

Each case runs `import function_app` in a fresh interpreter (global OpenTelemetry providers can be set
only once per process). Every endpoint in the connection string is on loopback, statsbeat is off and
only the environment-reading resource detector runs, so nothing leaves the machine.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROBE = """
import json, sys
import function_app
from opentelemetry import trace
from bootstrap.settings import current_settings
from scheduling_core.runtime import telemetry
again = telemetry.configure(current_settings().applicationinsights_connection_string)
with telemetry.span("probe") as span:
    recording = span.is_recording()
provider = trace.get_tracer_provider()
processors = getattr(getattr(provider, "_active_span_processor", None), "_span_processors", ())
print(json.dumps({
    "recording": recording,
    "again": again,
    "redacting": any(type(p).__name__ == "RedactingSpanProcessor" for p in processors),
    "sdk_loaded": "opentelemetry.sdk.trace" in sys.modules,
    "distro_loaded": "azure.monitor.opentelemetry" in sys.modules,
}))
"""


def _probe(extra_env: dict[str, str]) -> dict[str, bool]:
    env = {k: v for k, v in os.environ.items() if k != "APPLICATIONINSIGHTS_CONNECTION_STRING"}
    env.update({"PYTHONPATH": str(ROOT), **extra_env})
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    result: dict[str, bool] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_without_a_connection_string_nothing_but_the_api_is_loaded() -> None:
    result = _probe({})
    assert result == {
        "recording": False,
        "again": False,
        "redacting": False,
        "sdk_loaded": False,
        "distro_loaded": False,
    }


def test_with_a_connection_string_spans_are_recorded_and_redacted_once_configured() -> None:
    result = _probe(
        {
            "APPLICATIONINSIGHTS_CONNECTION_STRING": (
                "InstrumentationKey=00000000-0000-0000-0000-000000000000;"
                "IngestionEndpoint=http://127.0.0.1:9/;LiveEndpoint=http://127.0.0.1:9/"
            ),
            "APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL": "true",
            "OTEL_EXPERIMENTAL_RESOURCE_DETECTORS": "azure_app_service",
            # The distro's default samples 5 traces/s after a warm-up; record every span here.
            "OTEL_TRACES_SAMPLER": "always_on",
        }
    )
    assert result == {
        "recording": True,
        "again": True,
        "redacting": True,
        "sdk_loaded": True,
        "distro_loaded": True,
    }
