#!/usr/bin/env bash
# Remove what install.sh installed for this user.
#
#   uninstall.sh [--purge]
#
# Removes the bundle (~/.local/share/hark/app), the ~/.local/bin/hark link (only when it is
# install.sh's link), the menu entry, its icon, and the "Start at login" entry
# (~/.config/autostart/hark.desktop) when it starts the removed bundle. Settings and data stay,
# so a later install finds them again. --purge also deletes Hark's settings
# (~/.config/hark), data (~/.local/share/hark) and cache (~/.cache/hark, which holds the
# downloaded Whisper model). Secrets live in the OS keyring, which no script should empty: to
# forget them, run `hark secret delete NAME` (and `hark google logout`) before uninstalling.
# The folders follow XDG_CONFIG_HOME, XDG_DATA_HOME and XDG_CACHE_HOME; HARK_BIN_DIR as in
# install.sh.
set -euo pipefail

purge=0
while (($#)); do
	case "$1" in
	--purge) purge=1 ;;
	-h | --help)
		sed -n '2,15s/^# \{0,1\}//p' "$0"
		exit 0
		;;
	*)
		echo "uninstall.sh: unknown argument $1 (only --purge)" >&2
		exit 2
		;;
	esac
	shift
done

data=${XDG_DATA_HOME:-$HOME/.local/share}
config=${XDG_CONFIG_HOME:-$HOME/.config}
cache=${XDG_CACHE_HOME:-$HOME/.cache}
bin=${HARK_BIN_DIR:-$HOME/.local/bin}
app="$data/hark/app"

remove() { # remove a file or folder that exists, and say so
	if [[ -e "$1" || -L "$1" ]]; then
		rm -rf -- "$1"
		echo "removed $1"
	fi
}

# the link, only when it is install.sh's (a pip install's `hark` script stays)
if [[ -L "$bin/hark" && "$(readlink "$bin/hark")" == "$app/hark" ]]; then
	remove "$bin/hark"
elif [[ -e "$bin/hark" ]]; then
	echo "kept $bin/hark: it is not the link install.sh made"
fi

# the login entry that Settings -> "Start at login" wrote, when it starts this bundle
autostart="$config/autostart/hark.desktop"
if [[ -f "$autostart" ]] && grep -qF "$app/hark" "$autostart"; then
	remove "$autostart"
fi

remove "$data/applications/hark.desktop"
remove "$data/icons/hicolor/scalable/apps/hark.svg"
remove "$app"
remove "$app.new"
remove "$app.old"
rmdir "$data/hark" 2>/dev/null || true # only when nothing of the user's is left in it

if command -v update-desktop-database >/dev/null; then
	update-desktop-database -q "$data/applications" 2>/dev/null || true
fi

if ((purge)); then
	remove "$config/hark"
	remove "$data/hark"
	remove "$cache/hark"
	echo "Hark is removed, with its settings and data (secrets stay in the OS keyring)."
else
	echo "Hark is removed. Settings ($config/hark) and data ($data/hark) stay;" \
		"uninstall.sh --purge deletes them too."
fi
