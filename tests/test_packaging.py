"""The packaging files are valid and the Linux installer does what it says, fast.

No bundle is built here (packaging/check.sh does that, in minutes): the spec and hooks must
compile and name what exists, the desktop entries parse (and pass ``desktop-file-validate``
where it is installed), the macOS keys and the Windows installer's entries are there, the shell
scripts pass ``bash -n`` and shellcheck, and install.sh/uninstall.sh run against a tiny fake
bundle in a temporary HOME.
"""

from __future__ import annotations

import ast
import configparser
import os
import plistlib
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from app.gui.autostart import Autostart, hark_command

ROOT = Path(__file__).resolve().parent.parent
PACKAGING = ROOT / "packaging"
SPEC = PACKAGING / "hark.spec"
LINUX = PACKAGING / "linux"
SCRIPTS = [LINUX / "install.sh", LINUX / "uninstall.sh", PACKAGING / "check.sh"]


def spec_tree() -> ast.Module:
    return ast.parse(SPEC.read_text(encoding="utf-8"), filename=str(SPEC))


def assigned_list(tree: ast.Module, name: str) -> list[str]:
    """The string items of a top-level ``name = [...]`` (or tuple) in a parsed file."""
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == name for t in node.targets)
            and isinstance(node.value, ast.List | ast.Tuple)
        ):
            return [e.value for e in node.value.elts if isinstance(e, ast.Constant)]
    raise AssertionError(f"no top-level list {name} found")


def spec_definitions(*names: str, **given: Any) -> dict[str, Any]:
    """Run only the named top-level functions and assignments of the spec (no PyInstaller),
    with ``given`` as the globals they read."""
    tree = spec_tree()
    picked = [
        node
        for node in tree.body
        if (isinstance(node, ast.FunctionDef) and node.name in names)
        or (
            isinstance(node, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id in names for t in node.targets)
        )
    ]
    namespace: dict[str, Any] = {"re": re, "sys": sys, "os": os, "Path": Path, **given}
    exec(compile(ast.Module(body=picked, type_ignores=[]), str(SPEC), "exec"), namespace)
    return namespace


def desktop_entry(path: Path) -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read(path, encoding="utf-8")
    return parser["Desktop Entry"]


def validate(path: Path) -> None:
    """``desktop-file-validate`` when installed (desktop-file-utils)."""
    tool = shutil.which("desktop-file-validate")
    if tool is None:
        return
    result = subprocess.run([tool, str(path)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stdout + result.stderr


def unquote_exec(value: str) -> list[str]:
    """A desktop entry's Exec value as arguments (string unescaping, then the Exec quoting)."""
    value = value.replace("\\\\", "\\")
    args, current, quoted, escaped, started = [], "", False, False, False
    for char in value:
        if escaped:
            current, escaped = current + char, False
        elif quoted and char == "\\":
            escaped = True
        elif char == '"':
            quoted, started = not quoted, True
        elif char == " " and not quoted:
            if current or started:
                args.append(current)
            current, started = "", False
        else:
            current += char
    if current or started:
        args.append(current)
    return [a.replace("%%", "%") for a in args]


# --- the spec and its hooks ------------------------------------------------------------------


def test_spec_compiles_and_names_files_that_exist() -> None:
    source = SPEC.read_text(encoding="utf-8")
    compile(source, str(SPEC), "exec")
    for relative in ("hark_entry.py", "hooks", "macos/Info.plist"):
        assert " / ".join(f'"{part}"' for part in relative.split("/")) in source, relative
        assert (PACKAGING / relative).exists(), relative
    assert '"resources"' in source  # the bundle carries resources/ where app.shared.resources looks


def test_hooks_and_entry_script_compile() -> None:
    files = [PACKAGING / "hark_entry.py", *sorted((PACKAGING / "hooks").glob("hook-*.py"))]
    assert len(files) == 4
    for path in files:
        compile(path.read_text(encoding="utf-8"), str(path), "exec")


def test_entry_script_starts_the_console_scripts_function() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert project["project"]["scripts"]["hark"] == "app.cli.main:run"
    tree = ast.parse((PACKAGING / "hark_entry.py").read_text(encoding="utf-8"))
    imports = [n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    assert any(n.module == "app.cli.main" and [a.name for a in n.names] == ["run"] for n in imports)
    calls = [
        n.func.id
        for n in ast.walk(tree)
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
    ]
    assert "run" in calls


def test_bundled_discovery_documents_are_the_ones_hark_builds() -> None:
    from app.google.api import VERSIONS

    hook = PACKAGING / "hooks" / "hook-googleapiclient.model.py"
    documents = assigned_list(ast.parse(hook.read_text(encoding="utf-8")), "DOCUMENTS")
    assert sorted(documents) == sorted(f"{name}.{v}.json" for name, v in VERSIONS.items())
    googleapiclient = pytest.importorskip("googleapiclient")
    folder = Path(googleapiclient.__file__).parent / "discovery_cache" / "documents"
    for document in documents:
        assert (folder / document).is_file(), document


def test_pynput_hook_lists_this_systems_back_ends_without_a_display(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import importlib.util
    import runpy

    if importlib.util.find_spec("pynput") is None:
        pytest.skip("pynput is not installed")
    monkeypatch.delenv("DISPLAY", raising=False)  # importing pynput would fail now
    names = runpy.run_path(str(PACKAGING / "hooks" / "hook-pynput.py"))["hiddenimports"]
    assert "pynput.keyboard" in names
    if sys.platform.startswith("linux"):
        assert {"pynput.keyboard._xorg", "pynput._util.xorg"} <= set(names)
        assert not [n for n in names if "win32" in n or "darwin" in n]


def test_excluded_modules_are_not_imported_by_the_desktop_app() -> None:
    excluded = assigned_list(spec_tree(), "excludes")
    assert {"fastapi", "pytest", "tkinter", "PySide6.QtNetwork"} <= set(excluded)
    sources = [*ROOT.joinpath("app").rglob("*.py"), *ROOT.joinpath("remote").rglob("*.py")]
    # the server runs on the GPU box from a pip install; of it the desktop uses only tls.py
    server = ROOT / "remote" / "server"
    sources = [p for p in sources if server not in p.parents or p.name == "tls.py"]
    offenders = []
    for path in sources:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                modules = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            offenders += [
                f"{path.relative_to(ROOT)}: {m}"
                for m in modules
                if any(m == x or m.startswith(x + ".") for x in excluded)
            ]
    assert offenders == []


def test_hidden_imports_exist() -> None:
    pytest.importorskip("PySide6")
    pytest.importorskip("jeepney")
    import importlib.util

    for name in assigned_list(spec_tree(), "hiddenimports"):
        if name.startswith("pynput"):
            continue  # importing pynput needs a display; the hook test covers it
        assert importlib.util.find_spec(name) is not None, name


@pytest.mark.parametrize(
    ("library", "bundled"),
    [
        ("libportaudio.so.2", False),  # the system's libportaudio2 is used on Linux
        ("libasound.so.2", False),
        ("libjack.so.0", False),
        ("libasound-c7818c60.so.2.0.0", True),  # av's own copy, vendored in its wheel
        ("PySide6/Qt/plugins/platformthemes/libqgtk3.so", False),
        ("libcairo-gobject.so.2", False),
        ("PySide6/Qt/lib/libQt6Gui.so.6", True),
        ("PySide6/Qt/plugins/platforms/libqxcb.so", True),
        ("libxcb-cursor.so.0", True),
        ("ctranslate2.libs/libctranslate2-a7a60d30.so.4.8.5", True),
    ],
)
def test_linux_bundle_leaves_system_libraries_to_the_system(library: str, bundled: bool) -> None:
    if not sys.platform.startswith("linux"):
        pytest.skip("the filter applies to Linux builds")
    keep = spec_definitions("_bundled", "_SYSTEM_ONLY")["_bundled"]
    assert keep(library) is bundled


def test_windows_and_macos_executables_get_the_hark_icon(tmp_path: Path, qapp: Any) -> None:
    pytest.importorskip("PIL")  # PyInstaller turns the PNG into .ico/.icns with Pillow
    pytest.importorskip("PySide6.QtSvg")
    from PySide6.QtGui import QImage

    make = spec_definitions("_icon", WINDOWS=True, MACOS=False, ROOT=ROOT, workpath=tmp_path)
    icon = make["_icon"]()
    assert icon == [str(tmp_path / "hark.png")]
    image = QImage(icon[0])
    assert (image.width(), image.height()) == (512, 512)
    assert image.pixelColor(256, 256).alpha() == 255  # the SVG was drawn, not left blank
    assert image.pixelColor(0, 0).alpha() == 0
    linux = spec_definitions("_icon", WINDOWS=False, MACOS=False, ROOT=ROOT, workpath=tmp_path)
    assert linux["_icon"]() is None


# --- macOS and Windows -----------------------------------------------------------------------


def test_macos_info_plist_makes_a_tray_only_app_that_may_use_the_microphone() -> None:
    with (PACKAGING / "macos" / "Info.plist").open("rb") as file:
        info = plistlib.load(file)
    assert info["LSUIElement"] is True
    assert "Hark" in info["NSMicrophoneUsageDescription"]
    assert info["CFBundleName"] == "Hark"
    source = SPEC.read_text(encoding="utf-8")
    assert "BUNDLE(" in source
    assert "info_plist=info" in source


def test_windows_installer_has_start_menu_entry_and_optional_autostart() -> None:
    iss = (PACKAGING / "windows" / "hark.iss").read_text(encoding="utf-8")
    sections = set(re.findall(r"^\[(\w+)\]", iss, re.M))
    assert {"Setup", "Tasks", "Files", "Icons", "Run", "Code"} <= sections
    assert re.search(r"^AppId=\{\{[0-9A-F-]{36}\}$", iss, re.M)
    assert re.search(r'^Source: "\{#BundleDir\}\\\*";.*recursesubdirs', iss, re.M)
    assert '#define BundleDir "..\\..\\dist\\hark"' in iss
    assert re.search(
        r'^Name: "\{group\}\\\{#AppName\}"; Filename: "\{app\}\\hark-tray.exe"', iss, re.M
    )
    task = re.search(r'^Name: "autostart";.*Flags: unchecked$', iss, re.M)
    assert task, "the login task must be offered, off by default"
    assert re.search(r'^Name: "\{userstartup\}\\.*hark-tray.exe.*Tasks: autostart$', iss, re.M)
    assert "PrivilegesRequired=lowest" in iss
    # the executables it names are the ones the spec builds on Windows
    spec = SPEC.read_text(encoding="utf-8")
    assert '_executable("hark-tray", console=False)' in spec
    assert '_executable("hark", console=True)' in spec


# --- Linux: desktop entries and scripts ------------------------------------------------------


def test_menu_entry_template_is_a_valid_desktop_entry() -> None:
    path = LINUX / "hark.desktop"
    entry = desktop_entry(path)
    assert entry["Type"] == "Application"
    assert entry["Name"] == "Hark"
    assert unquote_exec(entry["Exec"]) == ["hark", "tray"]
    assert entry["Icon"] == "hark"  # the icon install.sh puts in hicolor/scalable/apps
    assert entry["Categories"].endswith(";")
    assert (ROOT / "resources" / "icons" / "hark.svg").is_file()
    validate(path)


def test_autostart_from_a_bundle_starts_the_bundles_executable(tmp_path: Path) -> None:
    bundle = tmp_path / "my bundle"
    bundle.mkdir()
    exe = bundle / "hark"
    exe.write_text("#!/bin/sh\n", encoding="utf-8")
    link = tmp_path / "bin" / "hark"
    link.parent.mkdir()
    link.symlink_to(exe)
    assert hark_command("hark", frozen=True, executable=str(link)) == [str(exe.resolve())]
    assert hark_command("hark", frozen=False, executable=str(link))[1:] == ["-m", "app"]
    config = tmp_path / "config"
    autostart = Autostart(
        platform="linux",
        env={"XDG_CONFIG_HOME": str(config), "HOME": str(tmp_path)},
        command=[*hark_command(frozen=True, executable=str(exe)), "tray"],
    )
    path = autostart.enable()
    assert unquote_exec(desktop_entry(path)["Exec"]) == [str(exe.resolve()), "tray"]
    validate(path)


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_shell_scripts_parse_and_pass_shellcheck(script: Path) -> None:
    assert os.access(script, os.X_OK), f"{script} is not executable"
    syntax = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True, timeout=30)
    assert syntax.returncode == 0, syntax.stderr
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck is not installed")
    lint = subprocess.run([shellcheck, str(script)], capture_output=True, text=True, timeout=60)
    assert lint.returncode == 0, lint.stdout


# --- Linux: install.sh and uninstall.sh against a fake bundle --------------------------------


class Home:
    """A temporary HOME (with a space in its path) and a fake bundle to install from."""

    def __init__(self, root: Path) -> None:
        self.home = root / "a home"
        self.home.mkdir()
        self.data = self.home / ".local" / "share"
        self.app = self.data / "hark" / "app"
        self.link = self.home / ".local" / "bin" / "hark"
        self.entry = self.data / "applications" / "hark.desktop"
        self.icon = self.data / "icons" / "hicolor" / "scalable" / "apps" / "hark.svg"
        self.settings = self.home / ".config" / "hark" / "config.toml"
        self.user_data = self.data / "hark" / "audit.sqlite3"
        self.cache = self.home / ".cache" / "hark" / "whisper"
        self.env = {
            "HOME": str(self.home),
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
        }
        self.bundles = root / "bundles"

    def bundle(self, version: str) -> Path:
        """A folder shaped like PyInstaller's: the executable and _internal/resources."""
        folder = self.bundles / version / "hark"
        icons = folder / "_internal" / "resources" / "icons"
        icons.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / "resources" / "icons" / "hark.svg", icons)
        exe = folder / "hark"
        exe.write_text(f'#!/bin/sh\necho "hark {version} $*"\n', encoding="utf-8")
        exe.chmod(0o755)
        return folder

    def run(
        self, script: str, *args: str, folder: Path = LINUX
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", str(folder / script), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )


@pytest.fixture
def home(tmp_path: Path) -> Home:
    if not sys.platform.startswith("linux"):
        pytest.skip("the Linux installer")
    return Home(tmp_path)


def test_install_puts_bundle_link_menu_entry_and_icon_in_place(home: Home) -> None:
    done = home.run("install.sh", str(home.bundle("1.0")))
    assert done.returncode == 0, done.stderr
    assert (home.app / "hark").is_file()
    assert (home.app / "_internal" / "resources" / "icons" / "hark.svg").is_file()
    assert home.link.is_symlink()
    assert home.link.resolve() == (home.app / "hark").resolve()
    ran = subprocess.run([str(home.link), "--version"], capture_output=True, text=True, timeout=10)
    assert ran.stdout.strip() == "hark 1.0 --version"
    entry = desktop_entry(home.entry)
    assert unquote_exec(entry["Exec"]) == [str(home.app / "hark"), "tray"]
    assert entry["TryExec"] == str(home.app / "hark")
    assert entry["Icon"] == "hark"
    validate(home.entry)
    assert home.icon.read_bytes() == (ROOT / "resources" / "icons" / "hark.svg").read_bytes()
    assert "Hark is installed" in done.stdout


def test_install_from_a_release_archive_finds_the_bundle_beside_it(home: Home) -> None:
    release = home.bundle("1.0").parent  # bundles/1.0/hark, with the scripts beside it
    for name in ("install.sh", "uninstall.sh", "hark.desktop"):
        shutil.copy2(LINUX / name, release)
    done = home.run("install.sh", folder=release)
    assert done.returncode == 0, done.stderr
    assert home.link.resolve() == (home.app / "hark").resolve()
    assert home.entry.is_file()
    assert home.run("uninstall.sh", folder=release).returncode == 0
    assert not home.app.exists()


def test_install_again_replaces_the_bundle(home: Home) -> None:
    assert home.run("install.sh", str(home.bundle("1.0"))).returncode == 0
    (home.app / "_internal" / "old-only.txt").write_text("from 1.0", encoding="utf-8")
    done = home.run("install.sh", str(home.bundle("2.0")))
    assert done.returncode == 0, done.stderr
    ran = subprocess.run([str(home.link), "x"], capture_output=True, text=True, timeout=10)
    assert ran.stdout.strip() == "hark 2.0 x"
    assert not (home.app / "_internal" / "old-only.txt").exists()
    assert sorted(p.name for p in home.app.parent.iterdir()) == ["app"]


def test_install_keeps_a_hark_command_it_did_not_make(home: Home) -> None:
    home.link.parent.mkdir(parents=True)
    home.link.write_text("#!/bin/sh\necho pip-installed\n", encoding="utf-8")
    refused = home.run("install.sh", str(home.bundle("1.0")))
    assert refused.returncode == 2
    assert "--force" in refused.stderr
    assert home.link.read_text(encoding="utf-8") == "#!/bin/sh\necho pip-installed\n"
    assert not home.app.exists()
    forced = home.run("install.sh", "--force", str(home.bundle("1.0")))
    assert forced.returncode == 0, forced.stderr
    assert home.link.resolve() == (home.app / "hark").resolve()


def test_install_refuses_a_folder_that_is_no_bundle(home: Home) -> None:
    empty = home.bundles / "empty"
    empty.mkdir(parents=True)
    done = home.run("install.sh", str(empty))
    assert done.returncode == 2
    assert "no Hark bundle" in done.stderr
    assert not home.data.exists()


def test_uninstall_removes_the_install_and_keeps_settings_and_data(home: Home) -> None:
    assert home.run("install.sh", str(home.bundle("1.0"))).returncode == 0
    for path in (home.settings, home.user_data, home.cache / "model.bin"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("the user's", encoding="utf-8")
    # "Start at login", as Settings writes it from the installed bundle
    autostart = Autostart(
        platform="linux",
        env={"HOME": str(home.home)},
        command=[*hark_command(frozen=True, executable=str(home.link)), "tray"],
    )
    login_entry = autostart.enable()
    assert autostart.enabled

    done = home.run("uninstall.sh")
    assert done.returncode == 0, done.stderr
    for gone in (home.app, home.link, home.entry, home.icon, login_entry):
        assert not os.path.lexists(gone), gone
    assert not autostart.enabled
    for kept in (home.settings, home.user_data, home.cache / "model.bin"):
        assert kept.read_text(encoding="utf-8") == "the user's", kept
    assert "--purge" in done.stdout


def test_uninstall_purge_also_deletes_settings_data_and_cache(home: Home) -> None:
    assert home.run("install.sh", str(home.bundle("1.0"))).returncode == 0
    for path in (home.settings, home.user_data, home.cache / "model.bin"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("the user's", encoding="utf-8")
    done = home.run("uninstall.sh", "--purge")
    assert done.returncode == 0, done.stderr
    for gone in (home.app, home.link, home.entry, home.icon, home.settings.parent):
        assert not gone.exists(), gone
    assert not (home.data / "hark").exists()
    assert not home.cache.parent.exists()


def test_uninstall_leaves_what_it_did_not_install(home: Home) -> None:
    home.link.parent.mkdir(parents=True)
    home.link.write_text("#!/bin/sh\n", encoding="utf-8")
    other_login = Autostart(
        platform="linux", env={"HOME": str(home.home)}, command=["/usr/bin/hark", "tray"]
    ).enable()
    done = home.run("uninstall.sh")
    assert done.returncode == 0, done.stderr
    assert home.link.is_file()
    assert "kept" in done.stdout
    assert other_login.is_file()
