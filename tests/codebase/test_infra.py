"""infra/*.bicep agrees with the code: what checkov cannot know (checkov runs in `make infra-check`).

- every Service Bus topic, subscription and queue the code names exists in the Bicep, with sessions where a
  trigger asks for them, and the subscriptions' maxDeliveryCount is the one the sync code assumes;
- every app setting the code reads is set by the Bicep, or is on the short list of settings deliberately left
  unset in Azure (each with its reason), and none of those local-only settings is set;
- no keys: no `listKeys(` or other key-listing call, no connection string with a secret, shared-key/local
  auth off everywhere it exists;
- each Key Vault reference names a secret the template can write; storage is never locally redundant;
  every role assignment is scoped to a resource.

The Bicep is read as text (no Bicep compiler here), so these tests look for the exact forms main.bicep uses
and fail loudly when a form changes rather than pass vacuously.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from bootstrap.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
MAIN = INFRA / "main.bicep"
MODULES = INFRA / "modules"
APP_SOURCES = [
    ROOT / "function_app.py",
    *sorted(p for d in ("http_api", "triggers") for p in (ROOT / d).glob("*.py")),
]
CORE_SOURCES = sorted(p for d in ("scheduling_core", "bootstrap") for p in (ROOT / d).rglob("*.py"))

# Settings the code reads that Azure deliberately does not get.
LOCAL_ONLY = {
    "TABLES_CONNECTION_STRING": "has the account key; Azure uses TABLES_ENDPOINT + identity",
    "GRAPH_STATIC_TOKEN": "simulator token; Azure gets real tokens for the identity",
    "DATAVERSE_STATIC_TOKEN": "simulator token; Azure gets real tokens for the identity",
    "API_KEY": "the Functions runtime checks function keys itself in Azure",
    "ServiceBusConnection": "SAS connection string; Azure: ServiceBusConnection__fullyQualifiedNamespace",
}
# App settings Flex Consumption rejects or that would put a key into the app's configuration.
FORBIDDEN_SETTINGS = {
    "FUNCTIONS_WORKER_RUNTIME",
    "FUNCTIONS_EXTENSION_VERSION",
    "WEBSITE_RUN_FROM_PACKAGE",
    "WEBSITE_CONTENTSHARE",
    "WEBSITE_CONTENTAZUREFILECONNECTIONSTRING",
    "AzureWebJobsStorage",
    "APPINSIGHTS_INSTRUMENTATIONKEY",
}


def _bicep_files() -> list[Path]:
    files = sorted(INFRA.rglob("*.bicep"))
    assert MAIN in files and len(files) > 1, files
    return files


def _balanced(text: str, start: int) -> str:
    """The text inside the bracketed literal whose opening bracket is at `start`."""
    opening = text[start]
    close = {"{": "}", "[": "]"}[opening]
    depth = 0
    for i in range(start, len(text)):
        if text[i] == opening:
            depth += 1
        elif text[i] == close:
            depth -= 1
            if depth == 0:
                return text[start + 1 : i]
    raise AssertionError(f"unbalanced literal at {text[start : start + 60]!r}")


def _block(text: str, opening: str) -> str:
    """The text of the bracketed literal that `opening` (ending with `{` or `[`) starts."""
    return _balanced(text, text.index(opening) + len(opening) - 1)


def _resource(text: str, symbol: str) -> str:
    """The body of `resource <symbol> '<type>' = ...` (object, loop or conditional)."""
    declaration = text.index(f"resource {symbol} '")
    body = re.compile(r"[{\[]").search(text, text.index("= ", declaration))
    assert body is not None
    return _balanced(text, body.start())


def _var_string(text: str, name: str) -> str:
    match = re.search(rf"^var {name} = '([^']*)'$", text, re.MULTILINE)
    assert match, f"main.bicep should declare var {name} as a string literal"
    return match.group(1)


def _keys(block: str) -> set[str]:
    return set(re.findall(r"^\s+([A-Za-z_][A-Za-z0-9_]*): ", block, re.MULTILINE))


def bicep_app_settings() -> set[str]:
    text = MAIN.read_text()
    names = set()
    for opening in (
        "var identitySettings = {",
        "var appSettingsMap = union(identitySettings, {",
        "var secretSettings = usesClientSecret ? {",
    ):
        names |= _keys(_block(text, opening))
    return names


def _calls(paths: list[Path]) -> list[ast.Call]:
    return [node for p in paths for node in ast.walk(ast.parse(p.read_text())) if isinstance(node, ast.Call)]


def _literal_keyword(call: ast.Call, name: str) -> str | None:
    for keyword in call.keywords:
        if (
            keyword.arg == name
            and isinstance(keyword.value, ast.Constant)
            and isinstance(keyword.value.value, str)
        ):
            return keyword.value.value
    return None


def service_bus_triggers() -> list[dict[str, str | bool | None]]:
    """Every Service Bus trigger the function app declares (the decorators' keyword arguments)."""
    triggers = []
    for call in _calls(APP_SOURCES):
        name = getattr(call.func, "attr", "")
        if not name.startswith("service_bus_"):
            continue
        sessions = next((k.value for k in call.keywords if k.arg == "is_sessions_enabled"), None)
        triggers.append(
            {
                "topic": _literal_keyword(call, "topic_name"),
                "subscription": _literal_keyword(call, "subscription_name"),
                "queue": _literal_keyword(call, "queue_name"),
                "connection": _literal_keyword(call, "connection"),
                "sessions": isinstance(sessions, ast.Constant) and sessions.value is True,
            }
        )
    return triggers


def settings_the_code_reads() -> set[str]:
    """Names read from the environment: Settings.from_env's `get("X")`, and os.environ/os.getenv anywhere."""
    names = set()
    settings_tree = ast.parse((ROOT / "bootstrap" / "settings.py").read_text())
    from_env = next(
        n for n in ast.walk(settings_tree) if isinstance(n, ast.FunctionDef) and n.name == "from_env"
    )
    for node in ast.walk(from_env):
        if not isinstance(node, ast.Call):
            continue
        named_get = getattr(node.func, "id", None) == "get" or getattr(node.func, "attr", None) == "get"
        if named_get and node.args:
            arg = node.args[0]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                names.add(arg.value)
    for call in _calls(APP_SOURCES + CORE_SOURCES):
        func = call.func
        environ_get = (
            isinstance(func, ast.Attribute)
            and func.attr == "get"
            and isinstance(func.value, ast.Attribute)
            and func.value.attr == "environ"
        )
        getenv = isinstance(func, ast.Attribute) and func.attr == "getenv"
        if (environ_get or getenv) and call.args and isinstance(call.args[0], ast.Constant):
            names.add(str(call.args[0].value))
    for tree in (ast.parse(p.read_text()) for p in APP_SOURCES + CORE_SOURCES):
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Subscript)
                and isinstance(node.value, ast.Attribute)
                and node.value.attr == "environ"
                and isinstance(node.slice, ast.Constant)
            ):
                names.add(str(node.slice.value))
    return names


# --- Service Bus -----------------------------------------------------------------------------------------


def test_every_service_bus_entity_the_code_names_exists_in_the_bicep() -> None:
    text = MAIN.read_text()
    topic = _var_string(text, "bookingTopic")
    subscriptions = set(re.findall(r"'([^']+)'", _block(text, "var bookingSubscriptions = [")))
    queues = {_var_string(text, "graphChangesQueue"), _var_string(text, "dynamicsChangesQueue")}
    assert "queueNames: [\n      graphChangesQueue\n      dynamicsChangesQueue\n    ]" in text

    triggers = service_bus_triggers()
    assert triggers, "the app declares Service Bus triggers; none were found (did the decorator name change?)"
    for trigger in triggers:
        if trigger["topic"] is not None:
            assert trigger["topic"] == topic, trigger
            assert trigger["subscription"] in subscriptions, trigger
        else:
            assert trigger["queue"] in queues, trigger
    assert {t["queue"] for t in triggers if t["topic"] is None} == queues  # each queue has its consumer
    # The publisher's topic (BOOKING_TOPIC default) and the spec's consumers exist too.
    assert Settings.from_env({}).booking_topic == topic
    assert {"outlook", "dataverse"} <= subscriptions


def test_sessions_and_dead_lettering_are_on_where_the_code_relies_on_them() -> None:
    module = (MODULES / "servicebus.bicep").read_text()
    subscription = _resource(module, "subscriptions")
    assert "requiresSession: true" in subscription
    assert "deadLetteringOnMessageExpiration: true" in subscription
    assert "maxDeliveryCount: maxDeliveryCount" in subscription
    topic = _resource(module, "topic")
    assert "requiresDuplicateDetection: true" in topic  # message id = CloudEvent id: a republish is dropped
    queue = _resource(module, "queues")
    assert "deadLetteringOnMessageExpiration: true" in queue
    assert all(t["sessions"] for t in service_bus_triggers() if t["topic"] is not None)


def test_each_subscription_admits_only_the_throttled_copies_addressed_to_it() -> None:
    from scheduling_core.adapters.service_bus import RETRY_SUBSCRIPTION_PROPERTY

    module = (MODULES / "servicebus.bicep").read_text()
    rules = _resource(module, "subscriptionRules")
    assert "for (subscriptionName, i) in subscriptionNames" in rules
    assert "parent: subscriptions[i]" in rules
    assert "name: '$Default'" in rules  # replaces the TrueFilter, which would pass every copy to all
    assert "filterType: 'SqlFilter'" in rules
    expected = (
        f"sqlExpression: '{RETRY_SUBSCRIPTION_PROPERTY} IS NULL OR "
        f"{RETRY_SUBSCRIPTION_PROPERTY} = \\'${{subscriptionName}}\\''"
    )
    assert expected in rules
    # Scheduling a copy is a send: the identity has Data Sender on the topic.
    sender = _resource(module, "topicSender")
    assert "scope: topic" in sender and "principalId: principalId" in sender
    assert "var sender = '69a216fc-b8fb-44d8-bc22-1f3c2cd27a39'" in module


def test_the_subscriptions_max_delivery_count_is_the_one_the_sync_assumes() -> None:
    text = MAIN.read_text()
    match = re.search(r"^var maxDeliveryCount = (\d+)$", text, re.MULTILINE)
    assert match
    assert int(match.group(1)) == Settings.from_env({}).sync_max_delivery_count
    assert "SYNC_MAX_DELIVERY_COUNT: string(maxDeliveryCount)" in text
    assert "maxDeliveryCount: maxDeliveryCount\n" in text  # passed to the Service Bus module


# --- App settings ----------------------------------------------------------------------------------------


def test_every_app_setting_the_code_reads_is_set_or_deliberately_local_only() -> None:
    read = settings_the_code_reads()
    assert {"TABLES_ENDPOINT", "DATAVERSE_URL", "ADMIN_API_KEY"} <= read, read  # the scan itself works
    missing = sorted(read - bicep_app_settings() - set(LOCAL_ONLY))
    assert not missing, (
        f"app settings the code reads but infra/main.bicep does not set: {missing}; set them in "
        "appSettingsMap, or add them to LOCAL_ONLY in this test with the reason Azure must not have them"
    )


def test_local_only_and_flex_incompatible_settings_are_not_set_in_azure() -> None:
    present = bicep_app_settings()
    assert not (present & set(LOCAL_ONLY)), present & set(LOCAL_ONLY)
    assert not (present & FORBIDDEN_SETTINGS), present & FORBIDDEN_SETTINGS


def test_service_bus_trigger_connections_are_identity_based() -> None:
    present = bicep_app_settings()
    connections = {t["connection"] for t in service_bus_triggers()}
    assert connections and None not in connections
    for connection in connections:
        assert f"{connection}__fullyQualifiedNamespace" in present
        assert f"{connection}__credential" in present
        assert f"{connection}__clientId" in present  # the user-assigned identity, not a system one
    for prefix in (
        "AzureWebJobsStorage__accountName",
        "AzureWebJobsStorage__credential",
        "AzureWebJobsStorage__clientId",
    ):
        assert prefix in present


def test_key_vault_references_name_secrets_the_template_writes() -> None:
    written = set(re.findall(r"name: '([a-z0-9-]+)'", (MODULES / "keyvault.bicep").read_text()))
    referenced = set(re.findall(r"SecretName=([a-z0-9-]+)\)", MAIN.read_text()))
    assert referenced, "main.bicep should wire secrets as Key Vault references"
    assert referenced <= written, referenced - written


# --- No keys ---------------------------------------------------------------------------------------------

KEY_PATTERNS = [
    r"listKeys\(",
    r"listkeys\(",
    r"listConnectionStrings\(",
    r"listAuthKeys\(",
    r"listSecrets\(",
    r"AccountKey=",
    r"SharedAccessKey",
    r"primaryKey",
    r"secondaryKey",
    r"InstrumentationKey=",
    r"allowSharedKeyAccess: true",
    r"disableLocalAuth: false",
    r"DisableLocalAuth: false",
]


@pytest.mark.parametrize("path", _bicep_files(), ids=lambda p: p.relative_to(INFRA).as_posix())
def test_no_bicep_file_lists_keys_or_builds_a_connection_string_with_a_secret(path: Path) -> None:
    text = path.read_text()
    found = [p for p in KEY_PATTERNS if re.search(p, text)]
    assert not found, f"{path.name}: {found}"


def test_local_and_shared_key_authentication_is_off_everywhere_it_exists() -> None:
    assert "allowSharedKeyAccess: false" in (MODULES / "storage.bicep").read_text()
    assert "allowBlobPublicAccess: false" in (MODULES / "storage.bicep").read_text()
    assert "disableLocalAuth: true" in (MODULES / "servicebus.bicep").read_text()
    assert "DisableLocalAuth: true" in (MODULES / "monitoring.bicep").read_text()
    assert "APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'ClientId=" in MAIN.read_text()
    vault = (MODULES / "keyvault.bicep").read_text()
    for line in ("enableRbacAuthorization: true", "enableSoftDelete: true", "enablePurgeProtection: true"):
        assert line in vault


def test_storage_is_never_locally_redundant() -> None:
    text = MAIN.read_text()
    match = re.search(r"@allowed\(\[([^\]]*)\]\)\nparam storageSku string", text)
    assert match, "storageSku should be restricted by @allowed"
    skus = set(re.findall(r"'([^']+)'", match.group(1)))
    assert skus and not any(sku.endswith("_LRS") for sku in skus), skus
    assert "param storageSku string = 'Standard_GZRS'" in text


def test_every_role_assignment_is_scoped_to_a_resource() -> None:
    for path in _bicep_files():
        text = path.read_text()
        for match in re.finditer(r"resource \w+ 'Microsoft\.Authorization/roleAssignments@[^']+' = ", text):
            body = text[match.end() : match.end() + 600]
            assert re.search(r"^\s+scope: \w+", body, re.MULTILINE), f"{path.name}: unscoped role assignment"
            assert "principalType: 'ServicePrincipal'" in body
