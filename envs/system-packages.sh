#!/usr/bin/env bash
# The Debian packages `make test` needs beside Python: a real single-node Slurm (tests/test_slurm.py),
# headless Chromium (tests/test_report.py) and util-linux's unshare (tests/test_offline.py). Installed
# with apt-get when run as root; otherwise this names what is missing and stops (a skipped test is no pass).
set -euo pipefail
declare -A PACKAGE=([slurmctld]=slurmctld [slurmd]=slurmd [squeue]=slurm-client [munged]=munge
                    [chromium]=chromium [unshare]=util-linux)
missing=()
for command in "${!PACKAGE[@]}"; do
    command -v "$command" >/dev/null || missing+=("${PACKAGE[$command]}")
done
[ ${#missing[@]} -eq 0 ] && exit 0
packages=$(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
    echo "installing Debian packages for the tests: $packages"
    apt-get update -qq
    # shellcheck disable=SC2086
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $packages >/dev/null
    exit 0
fi
echo "make test needs these Debian packages: $packages" >&2
echo "install them (sudo apt-get install $packages) or run make test as root, which installs them" >&2
exit 1
