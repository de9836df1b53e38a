# Sourced by the api's bench scripts: a fresh database of their own on
# DATABASE_URL's server, migrated by `$api migrate`, and everything the
# script started stopped, its database dropped, on exit. Sets `db_url`,
# `work` (a temporary directory) and `pids` (append what you start).
# $1: the database's name.
db=$1
server_url=$DATABASE_URL
db_url="${DATABASE_URL%/*}/$db"
psql -q "$server_url" -c "create database $db"
work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    psql -q "$server_url" -c "drop database if exists $db" || true
    rm -rf "$work"
}
trap cleanup EXIT
DATABASE_URL=$db_url "$api" migrate >/dev/null

# The median of the numbers given.
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
