"""Build the Dynamics side as one importable unmanaged solution zip (`make solution`).

What the zip holds, in the layout Dataverse exports and imports (Power Platform "solution file"):
- `solution.xml`: the manifest (unique name, version, unmanaged, the publisher with its customization
  prefix) and one `RootComponent` per component below.
- `customizations.xml`: the web resources (name, type, file inside the zip), and for each table the
  "Schedule meeting" command offers itself on, that table as a shell (`unmodified="1"`, no metadata) with
  its `RibbonDiffXml`: a form command bar button that runs `Sched.Booking.openFromForm(PrimaryControl,
  "<event type slug>")` from `sched_/booking/command.js`, enabled by `Sched.Booking.isEnabled`.
- `environmentvariabledefinitions/sched_BookingPageBaseUrl/environmentvariabledefinition.xml`: where the
  booking page lives (command.js reads it).
- `WebResources/<name without punctuation><id>`: each file of `dynamics/webresources/`, as an export
  names them.
- `[Content_Types].xml`: the Open Packaging Conventions part list.

Invariants the tests hold: every id is deterministic (uuid5 of the name), so rebuilding the same sources
gives the same zip bytes and re-importing updates components instead of duplicating them; every file
`customizations.xml` names is in the zip; every root component is defined in the zip; every web resource
name starts with the publisher prefix.
"""

from __future__ import annotations

import argparse
import io
import re
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

HERE = Path(__file__).resolve().parent
WEB_RESOURCES = HERE / "webresources"

SOLUTION_UNIQUE_NAME = "SchedulingLayer"
SOLUTION_DISPLAY_NAME = "Scheduling layer"
SOLUTION_VERSION = "1.0.0.0"
PUBLISHER_UNIQUE_NAME = "schedulinglayer"
PUBLISHER_DISPLAY_NAME = "Scheduling layer"
PUBLISHER_PREFIX = "sched"
# Option values of choices this publisher adds start here (10000-99999, Dataverse's allowed range).
PUBLISHER_OPTION_VALUE_PREFIX = 10_000
ENVIRONMENT_VARIABLE = "sched_BookingPageBaseUrl"
LANGUAGE = 1033
COMMAND_LIBRARY = "sched_/booking/command.js"
COMMAND_FUNCTION = "Sched.Booking.openFromForm"
ENABLE_FUNCTION = "Sched.Booking.isEnabled"
# Tables whose main form gets the command: the ones command.js knows how to read a context from.
COMMAND_TABLES = ("lead", "contact", "account", "opportunity", "incident")
TABLE_DISPLAY_NAMES = {
    "lead": "Lead",
    "contact": "Contact",
    "account": "Account",
    "opportunity": "Opportunity",
    "incident": "Case",
}

# Solution component types (Dataverse `solutioncomponent.componenttype`).
COMPONENT_ENTITY = 1
COMPONENT_WEB_RESOURCE = 61
COMPONENT_ENVIRONMENT_VARIABLE_DEFINITION = 380
# RootComponent behavior 2: the table as a shell — neither its metadata nor its subcomponents, only the
# ribbon customisation that comes with it.
BEHAVIOR_SHELL = 2
BEHAVIOR_INCLUDE = 0

# webresourcetype by extension (Dataverse web resource types).
WEB_RESOURCE_TYPES = {
    ".html": 1,
    ".htm": 1,
    ".css": 2,
    ".js": 3,
    ".xml": 4,
    ".png": 5,
    ".jpg": 6,
    ".gif": 7,
    ".xsl": 9,
    ".xslt": 9,
    ".ico": 10,
    ".svg": 11,
    ".resx": 12,
}

_NAMESPACE = uuid.UUID("6f1d7f5e-3b0a-4c8e-9a52-5c3f0f7f2d10")
_XSI = "http://www.w3.org/2001/XMLSchema-instance"
_CONTENT_TYPES_NS = "http://schemas.openxmlformats.org/package/2006/content-types"
# Fixed timestamp for every zip entry, so the same sources give the same bytes.
_ZIP_TIME = (2026, 1, 1, 0, 0, 0)


def component_id(kind: str, name: str) -> str:
    """A deterministic id in Dataverse's `{guid}` form: the same component keeps its id across builds."""
    return "{" + str(uuid.uuid5(_NAMESPACE, f"{kind}:{name}")) + "}"


@dataclass(frozen=True, kw_only=True)
class WebResource:
    name: str  # e.g. sched_/booking/command.js
    content: bytes

    @property
    def id(self) -> str:
        return component_id("webresource", self.name)

    @property
    def type_code(self) -> int:
        return WEB_RESOURCE_TYPES[Path(self.name).suffix.lower()]

    @property
    def part_name(self) -> str:
        """Where an export puts the file: the name without punctuation, then the id without braces."""
        return "WebResources/" + re.sub(r"[^A-Za-z0-9_]", "", self.name) + self.id.strip("{}")


def read_web_resources(root: Path = WEB_RESOURCES) -> tuple[WebResource, ...]:
    found = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        name = path.relative_to(root).as_posix()
        if Path(name).suffix.lower() not in WEB_RESOURCE_TYPES:
            raise ValueError(f"{name}: no Dataverse web resource type for this extension")
        found.append(WebResource(name=name, content=path.read_bytes()))
    return tuple(found)


def _label(description: str) -> str:
    return f'<LocalizedName description={quoteattr(description)} languagecode="{LANGUAGE}" />'


def solution_xml(web_resources: tuple[WebResource, ...]) -> str:
    roots = [
        f'<RootComponent type="{COMPONENT_ENTITY}" schemaName="{table}" behavior="{BEHAVIOR_SHELL}" />'
        for table in COMMAND_TABLES
    ]
    roots += [
        f'<RootComponent type="{COMPONENT_WEB_RESOURCE}" schemaName={quoteattr(w.name)} '
        f'behavior="{BEHAVIOR_INCLUDE}" />'
        for w in web_resources
    ]
    roots.append(
        f'<RootComponent type="{COMPONENT_ENVIRONMENT_VARIABLE_DEFINITION}" '
        f'schemaName="{ENVIRONMENT_VARIABLE}" behavior="{BEHAVIOR_INCLUDE}" />'
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        f'<ImportExportXml version="9.2.0.0" SolutionPackageVersion="9.2" languagecode="{LANGUAGE}" '
        f'generatedBy="CrmLive" xmlns:xsi="{_XSI}">\n'
        "  <SolutionManifest>\n"
        f"    <UniqueName>{SOLUTION_UNIQUE_NAME}</UniqueName>\n"
        f"    <LocalizedNames>{_label(SOLUTION_DISPLAY_NAME)}</LocalizedNames>\n"
        "    <Descriptions />\n"
        f"    <Version>{SOLUTION_VERSION}</Version>\n"
        "    <Managed>0</Managed>\n"
        "    <Publisher>\n"
        f"      <UniqueName>{PUBLISHER_UNIQUE_NAME}</UniqueName>\n"
        f"      <LocalizedNames>{_label(PUBLISHER_DISPLAY_NAME)}</LocalizedNames>\n"
        "      <Descriptions />\n"
        '      <EMailAddress xsi:nil="true"></EMailAddress>\n'
        '      <SupportingWebsiteUrl xsi:nil="true"></SupportingWebsiteUrl>\n'
        f"      <CustomizationPrefix>{PUBLISHER_PREFIX}</CustomizationPrefix>\n"
        "      <CustomizationOptionValuePrefix>"
        f"{PUBLISHER_OPTION_VALUE_PREFIX}</CustomizationOptionValuePrefix>\n"
        "      <Addresses />\n"
        "    </Publisher>\n"
        "    <RootComponents>\n      " + "\n      ".join(roots) + "\n    </RootComponents>\n"
        "    <MissingDependencies />\n"
        "  </SolutionManifest>\n"
        "</ImportExportXml>\n"
    )


def ribbon_diff_xml(table: str, event_type: str) -> str:
    """A main-form command bar button on `table` that opens the booking dialog for `event_type`."""
    base = f"{PUBLISHER_PREFIX}.{table}.ScheduleMeeting"
    library = f"$webresource:{COMMAND_LIBRARY}"
    label = f"{PUBLISHER_PREFIX}.ScheduleMeeting.LabelText"
    tooltip = f"{PUBLISHER_PREFIX}.ScheduleMeeting.ToolTip"
    return (
        "<RibbonDiffXml>"
        "<CustomActions>"
        f'<CustomAction Id="{base}.CustomAction" '
        f'Location="Mscrm.Form.{table}.MainTab.Save.Controls._children" Sequence="900">'
        "<CommandUIDefinition>"
        f'<Button Id="{base}.Button" Command="{base}.Command" Sequence="900" TemplateAlias="o1" '
        f'LabelText="$LocLabels:{label}" ToolTipTitle="$LocLabels:{label}" '
        f'ToolTipDescription="$LocLabels:{tooltip}" ModernImage="Calendar" />'
        "</CommandUIDefinition>"
        "</CustomAction>"
        "</CustomActions>"
        '<Templates><RibbonTemplates Id="Mscrm.Templates" /></Templates>'
        "<CommandDefinitions>"
        f'<CommandDefinition Id="{base}.Command">'
        f'<EnableRules><EnableRule Id="{base}.EnableRule" /></EnableRules>'
        "<DisplayRules />"
        "<Actions>"
        f"<JavaScriptFunction FunctionName={quoteattr(COMMAND_FUNCTION)} Library={quoteattr(library)}>"
        '<CrmParameter Value="PrimaryControl" />'
        f"<StringParameter Value={quoteattr(event_type)} />"
        "</JavaScriptFunction>"
        "</Actions>"
        "</CommandDefinition>"
        "</CommandDefinitions>"
        "<RuleDefinitions>"
        "<TabDisplayRules />"
        "<DisplayRules />"
        "<EnableRules>"
        f'<EnableRule Id="{base}.EnableRule">'
        f'<CustomRule FunctionName={quoteattr(ENABLE_FUNCTION)} Library={quoteattr(library)} Default="false">'
        '<CrmParameter Value="PrimaryControl" />'
        "</CustomRule>"
        "</EnableRule>"
        "</EnableRules>"
        "</RuleDefinitions>"
        "<LocLabels>"
        f'<LocLabel Id="{label}"><Titles><Title description="Schedule meeting" languagecode="{LANGUAGE}" />'
        "</Titles></LocLabel>"
        f'<LocLabel Id="{tooltip}"><Titles><Title description="Book a meeting with this record\'s routed rep"'
        f' languagecode="{LANGUAGE}" /></Titles></LocLabel>'
        "</LocLabels>"
        "</RibbonDiffXml>"
    )


def _web_resource_xml(w: WebResource) -> str:
    display = Path(w.name).name
    return (
        "    <WebResource>\n"
        f"      <WebResourceId>{w.id}</WebResourceId>\n"
        f"      <Name>{escape(w.name)}</Name>\n"
        f"      <DisplayName>{escape(display)}</DisplayName>\n"
        f"      <WebResourceType>{w.type_code}</WebResourceType>\n"
        f"      <IntroducedVersion>{SOLUTION_VERSION}</IntroducedVersion>\n"
        "      <IsEnabledForMobileClient>0</IsEnabledForMobileClient>\n"
        "      <IsAvailableForMobileOffline>0</IsAvailableForMobileOffline>\n"
        "      <IsCustomizable>1</IsCustomizable>\n"
        "      <CanBeDeleted>1</CanBeDeleted>\n"
        "      <IsHidden>0</IsHidden>\n"
        f"      <FileName>/{w.part_name}</FileName>\n"
        "    </WebResource>\n"
    )


def _entity_xml(table: str, event_type: str) -> str:
    display = TABLE_DISPLAY_NAMES[table]
    return (
        "    <Entity>\n"
        f'      <Name LocalizedName="{display}" OriginalName="{display}">{table}</Name>\n'
        f'      <EntityInfo><entity Name="{table}" unmodified="1"><attributes /></entity></EntityInfo>\n'
        f"      {ribbon_diff_xml(table, event_type)}\n"
        "    </Entity>\n"
    )


def customizations_xml(web_resources: tuple[WebResource, ...], event_type: str) -> str:
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        f'<ImportExportXml xmlns:xsi="{_XSI}" OrganizationSchemaType="Standard">\n'
        "  <Entities>\n" + "".join(_entity_xml(t, event_type) for t in COMMAND_TABLES) + "  </Entities>\n"
        "  <Roles />\n  <Workflows />\n  <FieldSecurityProfiles />\n  <Templates />\n  <EntityMaps />\n"
        "  <EntityRelationships />\n  <OrganizationSettings />\n  <optionsets />\n  <CustomControls />\n"
        "  <EntityDataProviders />\n"
        "  <WebResources>\n" + "".join(_web_resource_xml(w) for w in web_resources) + "  </WebResources>\n"
        f"  <Languages>\n    <Language>{LANGUAGE}</Language>\n  </Languages>\n"
        "</ImportExportXml>\n"
    )


def environment_variable_xml(default_base_url: str | None) -> str:
    default = f"  <defaultvalue>{escape(default_base_url)}</defaultvalue>\n" if default_base_url else ""
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        f'<environmentvariabledefinition schemaname="{ENVIRONMENT_VARIABLE}">\n'
        '  <displayname default="Booking page base URL">\n'
        f'    <label description="Booking page base URL" languagecode="{LANGUAGE}" />\n'
        "  </displayname>\n"
        '  <description default="The booking page address without the event type, e.g. '
        'https://contoso-sched.azurewebsites.net/api/book">\n'
        '    <label description="The booking page address without the event type, e.g. '
        f'https://contoso-sched.azurewebsites.net/api/book" languagecode="{LANGUAGE}" />\n'
        "  </description>\n"
        # 100000000 = String (Text).
        "  <type>100000000</type>\n"
        "  <isrequired>1</isrequired>\n"
        "  <secretstore>0</secretstore>\n"
        f"  <introducedversion>{SOLUTION_VERSION}</introducedversion>\n"
        f"{default}"
        "</environmentvariabledefinition>\n"
    )


ENVIRONMENT_VARIABLE_PART = (
    f"environmentvariabledefinitions/{ENVIRONMENT_VARIABLE}/environmentvariabledefinition.xml"
)


def content_types_xml(part_names: list[str]) -> str:
    """Defaults for the extensions in the package, an Override for each part without one (OPC)."""
    extensions = sorted({Path(p).suffix.lstrip(".").lower() for p in part_names if Path(p).suffix})
    defaults = "".join(
        f'<Default Extension="{ext}" ContentType="application/octet-stream" />' for ext in extensions
    )
    overrides = "".join(
        f'<Override PartName="/{escape(p)}" ContentType="application/octet-stream" />'
        for p in part_names
        if not Path(p).suffix
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<Types xmlns="{_CONTENT_TYPES_NS}">{defaults}{overrides}</Types>'
    )


def build_solution(
    *,
    event_type: str = "discovery-call",
    default_base_url: str | None = None,
    web_resource_root: Path = WEB_RESOURCES,
) -> bytes:
    """The solution zip's bytes: the same inputs always give the same bytes."""
    web_resources = read_web_resources(web_resource_root)
    parts: dict[str, bytes] = {
        "solution.xml": solution_xml(web_resources).encode(),
        "customizations.xml": customizations_xml(web_resources, event_type).encode(),
        ENVIRONMENT_VARIABLE_PART: environment_variable_xml(default_base_url).encode(),
    }
    for w in web_resources:
        parts[w.part_name] = w.content
    parts = {"[Content_Types].xml": content_types_xml(sorted(parts)).encode(), **parts}
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in parts.items():
            info = zipfile.ZipInfo(name, date_time=_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, content)
    return buffer.getvalue()


def solution_file_name() -> str:
    return f"{SOLUTION_UNIQUE_NAME}_{SOLUTION_VERSION.replace('.', '_')}.zip"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Build the unmanaged Dynamics 365 solution zip.")
    parser.add_argument("--out", type=Path, default=Path("dist") / solution_file_name())
    parser.add_argument(
        "--event-type", default="discovery-call", help="event type slug the Schedule meeting command books"
    )
    parser.add_argument(
        "--base-url",
        default=None,
        help="default value of sched_BookingPageBaseUrl, e.g. https://app.azurewebsites.net/api/book",
    )
    args = parser.parse_args(argv)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(build_solution(event_type=args.event_type, default_base_url=args.base_url))
    print(args.out)


if __name__ == "__main__":
    main()
