#!/bin/sh
# Installs the GuruRMM agent on this machine as a systemd service and enrolls it.
#
#   install-agent.sh --server wss://rmm.example.com:7443 \
#       (--binary PATH | --url URL) --sha256 HEX \
#       (--token-file FILE | --token-file - < FILE) [--name NAME] [--ca-file PEM]
#   install-agent.sh --uninstall (--keep-identity | --remove-identity)
#
# The enrollment token comes from a file or standard input, never the command line (where other
# users see it in the process list and it stays in shell history). It is written 0600 into the
# agent's state directory for the agent's first start and deleted as soon as the agent is enrolled.
#
# Safe to rerun: an enrolled machine keeps its identity (identity.json in the state directory) and
# is not enrolled again (no token is read); an unchanged binary and unit are left alone.
#
# Needs deploy/systemd/gururmm-agent.service next to it (copy the whole deploy/ directory), or
# --unit-template FILE. For tests: --root DIR installs under DIR, and $SYSTEMCTL replaces systemctl.
set -eu

usage() {
    sed -n '2,7p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
}

die() {
    echo "install-agent.sh: $*" >&2
    exit 1
}

SYSTEMCTL=${SYSTEMCTL:-systemctl}
root=""
server=""
binary=""
url=""
sha256=""
token_file=""
name=""
ca_file=""
uninstall=0
identity_choice=""
enroll_timeout=60
unit_template="$(dirname "$0")/systemd/gururmm-agent.service"

while [ $# -gt 0 ]; do
    case "$1" in
        --token | --token=* | --enroll-token | --enroll-token=*)
            die "refusing an enrollment token on the command line: other users can read it in the process list and it stays in your shell history. Put it in a file and pass --token-file FILE, or pipe it in with --token-file -" ;;
        --server) server=${2:?--server needs a URL}; shift ;;
        --binary) binary=${2:?--binary needs a path}; shift ;;
        --url) url=${2:?--url needs a URL}; shift ;;
        --sha256) sha256=${2:?--sha256 needs a hex digest}; shift ;;
        --token-file) token_file=${2:?--token-file needs a path, or - for standard input}; shift ;;
        --name) name=${2:?--name needs a name}; shift ;;
        --ca-file) ca_file=${2:?--ca-file needs a path}; shift ;;
        --root) root=${2:?--root needs a directory}; shift ;;
        --unit-template) unit_template=${2:?--unit-template needs a path}; shift ;;
        --enroll-timeout) enroll_timeout=${2:?--enroll-timeout needs seconds}; shift
            case "$enroll_timeout" in
                ''|*[!0-9]*) die "--enroll-timeout takes a whole number of seconds from 1 to 3600 (got '$enroll_timeout')" ;;
            esac
            if [ "$enroll_timeout" -lt 1 ] || [ "$enroll_timeout" -gt 3600 ]; then
                die "--enroll-timeout takes a whole number of seconds from 1 to 3600 (got '$enroll_timeout')"
            fi
            ;;
        --uninstall) uninstall=1 ;;
        --keep-identity) identity_choice=keep ;;
        --remove-identity) identity_choice=remove ;;
        -h | --help) usage ;;
        *) die "unknown argument '$1' (--help lists them)" ;;
    esac
    shift
done

if [ -z "$root" ] && [ "$(id -u)" != 0 ]; then
    die "run as root (the agent administers this machine and runs as root)"
fi

# Where things go; all under --root when given (the unit names the paths as seen from /).
service=gururmm-agent.service
bin_dir=/usr/local/lib/gururmm-agent
bin_path=$bin_dir/gururmm
state_dir=/var/lib/gururmm-agent
unit_path=/etc/systemd/system/$service

enrolled() {
    [ -f "$root$state_dir/identity.json" ] && grep -q '"agentId"' "$root$state_dir/identity.json"
}

if [ "$uninstall" = 1 ]; then
    [ -n "$identity_choice" ] || die "--uninstall needs --keep-identity (a reinstall comes back as the same agent) or --remove-identity (this machine's agent is gone for good; remove it on the server too)"
    if [ -f "$root$unit_path" ]; then
        "$SYSTEMCTL" disable --now "$service" || echo "install-agent.sh: stopping $service failed; removing it anyway" >&2
        rm -f "$root$unit_path"
        "$SYSTEMCTL" daemon-reload
    fi
    rm -rf -- "$root${bin_dir:?}"
    rm -f "$root$state_dir/enroll.token"
    if [ "$identity_choice" = remove ]; then
        rm -rf -- "$root${state_dir:?}"
        echo "Uninstalled the GuruRMM agent and removed its identity."
    else
        echo "Uninstalled the GuruRMM agent; kept its identity in $root$state_dir."
    fi
    exit 0
fi

[ -n "$server" ] || die "--server URL is needed (wss://HOST:PORT)"
case "$server" in
    wss://* | ws://*) ;;
    *) die "--server must be a wss:// URL (got '$server')" ;;
esac
case "$server" in
    *[!A-Za-z0-9:/.@%_~\[\]-]*) die "--server '$server' has characters a URL here may not have" ;;
esac
[ -n "$binary" ] || [ -n "$url" ] || die "--binary PATH or --url URL is needed"
[ -z "$binary" ] || [ -z "$url" ] || die "--binary and --url exclude each other"
[ -n "$sha256" ] || die "--sha256 HEX is needed: the checksum of the binary, from whoever built it"
sha256=$(printf '%s' "$sha256" | tr 'A-F' 'a-f')
case "$sha256" in
    *[!0-9a-f]*) die "--sha256 must be 64 hex digits" ;;
esac
[ ${#sha256} = 64 ] || die "--sha256 must be 64 hex digits"
case "$name" in
    *[!A-Za-z0-9._-]*) die "--name may hold letters, digits, '.', '_' and '-'" ;;
esac
[ -f "$unit_template" ] || die "no unit template at $unit_template (copy deploy/ whole, or pass --unit-template)"
[ -z "$ca_file" ] || [ -f "$ca_file" ] || die "--ca-file $ca_file does not exist"

umask 077
work=$(mktemp -d "${TMPDIR:-/tmp}/gururmm-install.XXXXXX")
trap 'rm -rf "$work"' EXIT

# 1. The binary: fetched or copied into a scratch directory, checked, then moved into place.
if [ -n "$url" ]; then
    if command -v curl >/dev/null; then
        curl -fsSL --proto '=https,http' -o "$work/gururmm" "$url" || die "download of $url failed"
    elif command -v wget >/dev/null; then
        wget -q -O "$work/gururmm" "$url" || die "download of $url failed"
    else
        die "--url needs curl or wget"
    fi
else
    [ -f "$binary" ] || die "--binary $binary does not exist"
    cp "$binary" "$work/gururmm"
fi
actual=$(sha256sum "$work/gururmm" | cut -d' ' -f1)
if [ "$actual" != "$sha256" ]; then
    die "checksum mismatch: expected $sha256, the binary has $actual. Nothing was installed."
fi

changed=0
mkdir -p "$root$bin_dir"
if [ -f "$root$bin_path" ] && [ "$(sha256sum "$root$bin_path" | cut -d' ' -f1)" = "$sha256" ]; then
    echo "Binary $bin_path is already this one."
else
    chmod 0755 "$work/gururmm"
    mv "$work/gururmm" "$root$bin_path.new"
    mv "$root$bin_path.new" "$root$bin_path"
    chmod 0755 "$root$bin_dir"
    changed=1
    echo "Installed $bin_path (sha256 $sha256)."
fi

# 2. The state directory, and the token if this machine is not enrolled yet.
mkdir -p "$root$state_dir"
chmod 0700 "$root$state_dir"
if enrolled; then
    if [ -n "$token_file" ]; then
        echo "Already enrolled (identity in $state_dir/identity.json): the token was not read or used, and is still good for another machine."
    fi
elif [ -z "$token_file" ] && [ -f "$root$state_dir/enroll.token" ]; then
    echo "Not enrolled yet: using the token kept from the last attempt ($state_dir/enroll.token)."
else
    [ -n "$token_file" ] || die "this machine is not enrolled yet: give the enrollment token with --token-file FILE or on standard input with --token-file - (create one with 'gururmm enroll-token create')"
    if [ "$token_file" = - ]; then
        token=$(head -n 1)
    else
        [ -r "$token_file" ] || die "cannot read --token-file $token_file"
        token=$(head -n 1 "$token_file")
    fi
    token=$(printf '%s' "$token" | tr -d ' \t\r')
    [ -n "$token" ] || die "the enrollment token is empty"
    (umask 077 && printf '%s\n' "$token" > "$root$state_dir/enroll.token.new")
    mv "$root$state_dir/enroll.token.new" "$root$state_dir/enroll.token"
    unset token
fi

# 3. The unit.
environment=""
if [ -n "$ca_file" ]; then
    cp "$ca_file" "$work/ca.pem"
    if ! cmp -s "$work/ca.pem" "$root$state_dir/ca.pem"; then
        mv "$work/ca.pem" "$root$state_dir/ca.pem"
        changed=1
    fi
    environment="SSL_CERT_FILE=$state_dir/ca.pem"
fi
agent_flags=""
[ -z "$name" ] || agent_flags=" --name $name"
sed -e "s#@BINARY@#$bin_path#g" -e "s#@SERVER_URL@#$server#g" -e "s#@STATE_DIR@#$state_dir#g" \
    -e "s#@ENVIRONMENT@#$environment#g" -e "s#@AGENT_FLAGS@#$agent_flags#g" "$unit_template" > "$work/unit"
mkdir -p "$root/etc/systemd/system"
if cmp -s "$work/unit" "$root$unit_path"; then
    echo "Unit $unit_path is already this one."
else
    chmod 0644 "$work/unit"
    mv "$work/unit" "$root$unit_path"
    changed=1
    echo "Wrote $unit_path."
    "$SYSTEMCTL" daemon-reload
fi

# 4. The service: enabled, and (re)started when something changed or it is not running.
"$SYSTEMCTL" enable "$service" >/dev/null
if [ "$changed" = 1 ]; then
    "$SYSTEMCTL" restart "$service"
else
    "$SYSTEMCTL" start "$service"
fi

# 5. Enrollment: the token file goes as soon as the agent holds its id.
if [ -f "$root$state_dir/enroll.token" ]; then
    echo "Waiting up to $enroll_timeout s for the agent to enroll..."
    waited=0
    while ! enrolled && [ "$waited" -lt "$enroll_timeout" ]; do
        sleep 1
        waited=$((waited + 1))
    done
    if enrolled; then
        rm -f "$root$state_dir/enroll.token"
        echo "Enrolled; the token file is deleted."
    else
        die "the agent has not enrolled within $enroll_timeout s; see 'journalctl -u $service' (and run 'gururmm doctor --server $server' here). The token stays in $state_dir/enroll.token (0600) for its next attempt; rerun this script once it is fixed."
    fi
fi
echo "The GuruRMM agent is installed and running: check it with 'gururmm agents' on the server."
