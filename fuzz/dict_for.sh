# Sourced by scripts/test-sanitizers.sh and bench/fuzz/run.sh.
# dict_for HARNESS: the name of the dictionary (fuzz/dict/<name>.dict) the harness uses.
dict_for() {
    case $1 in
    command) echo command ;;
    peer) echo peer ;;
    config | plugin_config | manifest) echo config ;;
    offload | image) echo offload ;;
    esac
}
