# Helpers for the security tests (source after lib-broker.sh and after defining fail()):
# a throw-away certificate authority, and a mosquitto started from a config the test writes.

# make_pki DIR [SAN]: a CA, a server certificate whose subjectAltName is SAN (default
# "IP:127.0.0.1,DNS:localhost"; clients verify the host against it), signed by the CA,
# plus a second CA that signed nothing ("wrong" CA). Keys are EC P-256 (quick to make, even
# on a loaded machine) and mode 600. Client certificates: make_client_cert.
TLS_KEY="-newkey ec -pkeyopt ec_paramgen_curve:prime256v1"
make_pki() {
    local d=$1 san=${2:-IP:127.0.0.1,DNS:localhost}
    mkdir -p "$d"
    ( umask 077
      openssl req -x509 $TLS_KEY -nodes -days 2 -subj "/CN=tierd test CA" \
          -keyout "$d/ca.key" -out "$d/ca.crt"
      openssl req -x509 $TLS_KEY -nodes -days 2 -subj "/CN=unrelated CA" \
          -keyout "$d/wrong-ca.key" -out "$d/wrong-ca.crt"
      openssl req $TLS_KEY -nodes -subj "/CN=localhost" \
          -keyout "$d/server.key" -out "$d/server.csr"
      printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth\n' "$san" >"$d/server.ext"
      openssl x509 -req -in "$d/server.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" \
          -CAcreateserial -days 2 -extfile "$d/server.ext" -out "$d/server.crt"
    ) >"$d/openssl.log" 2>&1 || { cat "$d/openssl.log" >&2; return 1; }
}

# make_client_cert DIR CN: a client certificate with common name CN, signed by DIR's CA.
make_client_cert() {
    local d=$1 cn=$2
    ( umask 077
      openssl req $TLS_KEY -nodes -subj "/CN=$cn" \
          -keyout "$d/$cn.key" -out "$d/$cn.csr"
      printf 'extendedKeyUsage=clientAuth\n' >"$d/client.ext"
      openssl x509 -req -in "$d/$cn.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" \
          -CAcreateserial -days 2 -extfile "$d/client.ext" -out "$d/$cn.crt"
    ) >>"$d/openssl.log" 2>&1 || { cat "$d/openssl.log" >&2; return 1; }
}

# start_broker_conf DIR PROBE...: starts mosquitto on DIR/mosquitto.conf (written by the
# caller, listening on $BROKER_PORT at 127.0.0.1) and waits until the mosquitto_pub
# options PROBE... can publish.
start_broker_conf() {
    local dir=$1
    shift
    mosquitto -c "$dir/mosquitto.conf" >"$dir/mosquitto.log" 2>&1 &
    BROKER_PID=$!
    for _ in $(seq 50); do
        mosquitto_pub -h 127.0.0.1 -p "$BROKER_PORT" "$@" -t tierd/probe -n 2>/dev/null &&
            return 0
        sleep 0.1
    done
    echo "mosquitto did not start; its log:" >&2
    cat "$dir/mosquitto.log" >&2
    return 1
}
