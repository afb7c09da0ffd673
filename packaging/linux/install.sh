#!/usr/bin/env bash
# Install a built Hark bundle for this user (no root needed).
#
#   install.sh [--force] [BUNDLE]
#
# BUNDLE is the one-folder build holding the `hark` executable: by default `hark/` beside this
# script (a release archive) or dist/hark in the source checkout (after
# `pyinstaller packaging/hark.spec`). What it puts where (XDG locations; the folders follow
# XDG_DATA_HOME, and HARK_BIN_DIR overrides ~/.local/bin):
#
#   ~/.local/share/hark/app/                              the bundle (replaced on upgrade)
#   ~/.local/bin/hark                                     a link to the bundle's executable
#   ~/.local/share/applications/hark.desktop              the menu entry
#   ~/.local/share/icons/hicolor/scalable/apps/hark.svg   its icon
#
# Settings (~/.config/hark) and data (~/.local/share/hark, outside app/) are never touched.
# uninstall.sh removes all of the above. --force replaces a ~/.local/bin/hark that is not a
# link made by this script (for example the script of a pip install).
set -euo pipefail

usage() {
	sed -n '2,19s/^# \{0,1\}//p' "$0"
	exit "${1:-0}"
}

force=0
bundle=""
while (($#)); do
	case "$1" in
	--force) force=1 ;;
	-h | --help) usage 0 ;;
	-*)
		echo "install.sh: unknown option $1" >&2
		usage 2
		;;
	*) bundle=$1 ;;
	esac
	shift
done

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [[ -z "$bundle" ]]; then
	for candidate in "$here/hark" "$here/../../dist/hark"; do
		if [[ -x "$candidate/hark" ]]; then
			bundle=$candidate
			break
		fi
	done
fi
if [[ -z "$bundle" || ! -x "$bundle/hark" || -d "$bundle/hark" ]]; then
	echo "install.sh: no Hark bundle found${bundle:+ at $bundle} (a folder with the hark" \
		"executable). Build one with: pyinstaller packaging/hark.spec, then run" \
		"install.sh dist/hark" >&2
	exit 2
fi
bundle=$(cd "$bundle" && pwd)

data=${XDG_DATA_HOME:-$HOME/.local/share}
bin=${HARK_BIN_DIR:-$HOME/.local/bin}
app="$data/hark/app"
link="$bin/hark"
entry="$data/applications/hark.desktop"
icon="$data/icons/hicolor/scalable/apps/hark.svg"
icon_src=""
for candidate in "$bundle/_internal/resources/icons/hark.svg" "$bundle/resources/icons/hark.svg"; do
	[[ -f "$candidate" ]] && icon_src=$candidate && break
done
[[ -n "$icon_src" ]] || {
	echo "install.sh: $bundle has no resources/icons/hark.svg: not a Hark bundle?" >&2
	exit 2
}

[[ -f "$here/hark.desktop" ]] || {
	echo "install.sh: hark.desktop is missing beside this script ($here)" >&2
	exit 2
}

if [[ -e "$link" || -L "$link" ]] && ! [[ -L "$link" && "$(readlink "$link")" == "$app/hark" ]]; then
	if ((!force)); then
		echo "install.sh: $link exists and is not this installer's link; move it away or" \
			"run install.sh --force to replace it" >&2
		exit 2
	fi
fi

# the bundle: copied beside the old one, then swapped in, so a failed copy leaves the old one
mkdir -p "$data/hark"
rm -rf "$app.new" "$app.old"
cp -a "$bundle" "$app.new"
if [[ -e "$app" ]]; then
	mv "$app" "$app.old"
fi
mv "$app.new" "$app"
rm -rf "$app.old"
echo "installed $app"

mkdir -p "$bin"
ln -sfn "$app/hark" "$link"
echo "linked $link -> $app/hark"

# The menu entry: the template, with Exec and TryExec pointing at the installed executable (a
# desktop session's PATH often lacks ~/.local/bin). Exec quoting follows the Desktop Entry
# spec: the path in double quotes, with \ " ` $ escaped, and every backslash doubled once more.
template="$here/hark.desktop"
quoted=$(printf '%s' "$app/hark" | sed -e 's/[\\"`$]/\\&/g' -e 's/\\/\\\\/g' -e 's/%/%%/g')
tryexec="${app//\\/\\\\}/hark"
mkdir -p "$(dirname "$entry")"
while IFS= read -r line || [[ -n "$line" ]]; do
	case "$line" in
	Exec=hark*) printf 'Exec="%s"%s\n' "$quoted" "${line#Exec=hark}" ;;
	TryExec=*) printf 'TryExec=%s\n' "$tryexec" ;;
	*) printf '%s\n' "$line" ;;
	esac
done <"$template" >"$entry.tmp"
mv "$entry.tmp" "$entry"
echo "menu entry $entry"

mkdir -p "$(dirname "$icon")"
cp "$icon_src" "$icon"
echo "icon $icon"

# refresh the desktop's caches where the tools exist (menus pick the entry up without it, later)
if command -v update-desktop-database >/dev/null; then
	update-desktop-database -q "$data/applications" 2>/dev/null || true
fi
if command -v gtk-update-icon-cache >/dev/null; then
	gtk-update-icon-cache -q -t "$data/icons/hicolor" 2>/dev/null || true
fi

# Linux bundles use the system's PortAudio (see packaging/hark.spec): say when it is missing
if ! { /sbin/ldconfig -p 2>/dev/null || ldconfig -p 2>/dev/null; } | grep -q 'libportaudio\.so\.2'; then
	echo "note: PortAudio is not installed; Hark needs it for the microphone and speaker:" \
		"sudo apt-get install libportaudio2 (Debian, Ubuntu), sudo dnf install portaudio" \
		"(Fedora), sudo pacman -S portaudio (Arch)"
fi
case ":$PATH:" in
*":$bin:"*) ;;
*) echo "note: $bin is not on your PATH; add it to run \`hark\` from a terminal" ;;
esac
echo "Hark is installed: start it from the menu, or run: hark"
