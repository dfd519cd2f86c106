"""The Dynamics solution zip (`make solution`): structural checks, each named for what it checks.

Microsoft's solution schema (CustomizationsSolution.xsd) ships only in the CrmSdk NuGet packages, which
this project's package registries (PyPI, npm, Debian) do not carry, so these tests check the structure an
import relies on instead: the parts exist and parse, every reference inside the package resolves, and the
package is reproducible.
"""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path
from xml.etree import ElementTree

import pytest

from dynamics import solution

CONTENT_TYPES_NS = "{http://schemas.openxmlformats.org/package/2006/content-types}"


@pytest.fixture(scope="module")
def package() -> zipfile.ZipFile:
    return zipfile.ZipFile(io.BytesIO(solution.build_solution(event_type="discovery-call")))


def xml(package: zipfile.ZipFile, name: str) -> ElementTree.Element:
    return ElementTree.fromstring(package.read(name))


def test_the_zip_opens_and_holds_the_three_solution_parts(package: zipfile.ZipFile) -> None:
    assert package.testzip() is None
    names = package.namelist()
    assert names[0] == "[Content_Types].xml"
    assert {"solution.xml", "customizations.xml", "[Content_Types].xml"} <= set(names)


def test_every_xml_part_parses(package: zipfile.ZipFile) -> None:
    xml_parts = [n for n in package.namelist() if n.endswith(".xml")]
    assert len(xml_parts) == 4
    for name in xml_parts:
        ElementTree.fromstring(package.read(name))  # raises on malformed XML


def test_entry_paths_are_relative_with_forward_slashes(package: zipfile.ZipFile) -> None:
    for name in package.namelist():
        assert "\\" not in name and not name.startswith("/")


def test_every_file_customizations_names_is_in_the_zip_with_the_source_bytes(
    package: zipfile.ZipFile,
) -> None:
    sources = {w.name: w.content for w in solution.read_web_resources()}
    resources = xml(package, "customizations.xml").findall("./WebResources/WebResource")
    assert sorted(r.findtext("Name") or "" for r in resources) == sorted(sources)
    for resource in resources:
        file_name = (resource.findtext("FileName") or "").lstrip("/")
        assert file_name in package.namelist()
        assert package.read(file_name) == sources[resource.findtext("Name") or ""]


def test_web_resource_types_match_their_extensions(package: zipfile.ZipFile) -> None:
    expected = {".js": "3", ".html": "1", ".css": "2"}
    for resource in xml(package, "customizations.xml").findall("./WebResources/WebResource"):
        name = resource.findtext("Name") or ""
        assert resource.findtext("WebResourceType") == expected[Path(name).suffix]


def test_every_root_component_is_defined_in_the_package(package: zipfile.ZipFile) -> None:
    customizations = xml(package, "customizations.xml")
    web_resources = {r.findtext("Name") for r in customizations.findall("./WebResources/WebResource")}
    entities = {e.findtext("Name") for e in customizations.findall("./Entities/Entity")}
    variables = {
        xml(package, n).get("schemaname")
        for n in package.namelist()
        if n.startswith("environmentvariabledefinitions/")
    }
    roots = xml(package, "solution.xml").findall("./SolutionManifest/RootComponents/RootComponent")
    by_type: dict[str, set[str | None]] = {"61": web_resources, "1": entities, "380": variables}
    assert sorted({r.get("type") for r in roots}) == ["1", "380", "61"]
    for root in roots:
        assert root.get("schemaName") in by_type[root.get("type") or ""]
    # and nothing is defined that the manifest does not carry
    assert {r.get("schemaName") for r in roots} == web_resources | entities | variables


def test_manifest_is_unmanaged_with_a_four_part_version_and_a_publisher_prefix(
    package: zipfile.ZipFile,
) -> None:
    manifest = xml(package, "solution.xml").find("./SolutionManifest")
    assert manifest is not None
    assert manifest.findtext("Managed") == "0"
    assert re.fullmatch(r"\d+\.\d+\.\d+\.\d+", manifest.findtext("Version") or "")
    assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", manifest.findtext("UniqueName") or "")
    prefix = manifest.findtext("./Publisher/CustomizationPrefix") or ""
    # Dataverse: 2-8 letters or digits, starting with a letter, not "mscrm".
    assert re.fullmatch(r"[a-z][a-z0-9]{1,7}", prefix) and not prefix.startswith("mscrm")
    option_prefix = int(manifest.findtext("./Publisher/CustomizationOptionValuePrefix") or "0")
    assert 10_000 <= option_prefix <= 99_999


def test_every_component_name_carries_the_publisher_prefix(package: zipfile.ZipFile) -> None:
    prefix = xml(package, "solution.xml").findtext("./SolutionManifest/Publisher/CustomizationPrefix")
    roots = xml(package, "solution.xml").findall("./SolutionManifest/RootComponents/RootComponent")
    own = [r.get("schemaName") or "" for r in roots if r.get("type") != "1"]  # tables are Microsoft's
    assert own and all(name.startswith(f"{prefix}_") for name in own)


def test_every_part_has_a_content_type(package: zipfile.ZipFile) -> None:
    types = xml(package, "[Content_Types].xml")
    defaults = {d.get("Extension") for d in types.findall(f"{CONTENT_TYPES_NS}Default")}
    overrides = {o.get("PartName") for o in types.findall(f"{CONTENT_TYPES_NS}Override")}
    for name in package.namelist():
        if name == "[Content_Types].xml":
            continue
        suffix = Path(name).suffix.lstrip(".")
        assert suffix in defaults or f"/{name}" in overrides, name


def test_the_command_calls_functions_the_packaged_library_defines(package: zipfile.ZipFile) -> None:
    customizations = xml(package, "customizations.xml")
    files = {
        r.findtext("Name"): package.read((r.findtext("FileName") or "").lstrip("/")).decode()
        for r in customizations.findall("./WebResources/WebResource")
    }
    entities = customizations.findall("./Entities/Entity")
    assert sorted(e.findtext("Name") or "" for e in entities) == sorted(solution.COMMAND_TABLES)
    for entity in entities:
        table = entity.findtext("Name")
        ribbon = entity.find("RibbonDiffXml")
        assert ribbon is not None
        action = ribbon.find("./CustomActions/CustomAction")
        assert action is not None and (action.get("Location") or "").startswith(f"Mscrm.Form.{table}.")
        calls = ribbon.findall(".//JavaScriptFunction") + ribbon.findall(".//CustomRule")
        assert len(calls) == 2
        for call in calls:
            library = (call.get("Library") or "").removeprefix("$webresource:")
            assert library in files
            member = (call.get("FunctionName") or "").rsplit(".", 1)[-1]
            assert re.search(rf"\b{member}\s*:", files[library]), member
        parameters = [p.get("Value") for p in ribbon.findall(".//JavaScriptFunction/*")]
        assert parameters == ["PrimaryControl", "discovery-call"]
        labels = {label.get("Id") for label in ribbon.findall("./LocLabels/LocLabel")}
        button = ribbon.find(".//Button")
        assert button is not None
        assert (button.get("LabelText") or "").removeprefix("$LocLabels:") in labels
        command_ids = {c.get("Id") for c in ribbon.findall("./CommandDefinitions/CommandDefinition")}
        assert button.get("Command") in command_ids


def test_the_booking_dialog_finds_its_script_and_the_command_its_dialog(package: zipfile.ZipFile) -> None:
    names = {
        r.findtext("Name") for r in xml(package, "customizations.xml").findall("./WebResources/WebResource")
    }
    html = package.read(
        next(w.part_name for w in solution.read_web_resources() if w.name == "sched_/booking/booking.html")
    ).decode()
    for script in re.findall(r'<script[^>]+src="([^"]+)"', html):
        assert f"sched_/booking/{script}" in names
    command = next(w.content for w in solution.read_web_resources() if w.name == solution.COMMAND_LIBRARY)
    assert b'"sched_/booking/booking.html"' in command
    assert f'"{solution.ENVIRONMENT_VARIABLE}"'.encode() in command


def test_the_environment_variable_is_text_and_takes_the_given_default() -> None:
    package = zipfile.ZipFile(
        io.BytesIO(solution.build_solution(default_base_url="https://contoso.azurewebsites.net/api/book"))
    )
    definition = xml(package, solution.ENVIRONMENT_VARIABLE_PART)
    assert definition.get("schemaname") == "sched_BookingPageBaseUrl"
    assert definition.findtext("type") == "100000000"
    assert definition.findtext("defaultvalue") == "https://contoso.azurewebsites.net/api/book"


def test_the_same_sources_build_the_same_bytes() -> None:
    assert solution.build_solution() == solution.build_solution()


def test_a_file_with_no_web_resource_type_is_refused(tmp_path: Path) -> None:
    (tmp_path / "sched_").mkdir()
    (tmp_path / "sched_" / "notes.md").write_text("not a web resource")
    with pytest.raises(ValueError, match=r"notes\.md"):
        solution.build_solution(web_resource_root=tmp_path)
