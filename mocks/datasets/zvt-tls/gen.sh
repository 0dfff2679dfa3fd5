#!/usr/bin/env bash
# Regenerates the test CA, the terminal's server certificate and an ECR client certificate
# (ECDSA P-256, valid for 100 years). Run in this directory; commit the PEM files.
set -euo pipefail
days=36500
openssl ecparam -name prime256v1 -genkey -noout -out ca.key
openssl req -x509 -new -key ca.key -sha256 -days "$days" -subj "/O=possim/CN=possim test CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" -out ca.pem
issue() { # name subject extensions
  openssl ecparam -name prime256v1 -genkey -noout -out "$1.key.sec1"
  openssl pkcs8 -topk8 -nocrypt -in "$1.key.sec1" -out "$1.key" && rm "$1.key.sec1"
  openssl req -new -key "$1.key" -subj "$2" -out "$1.csr"
  printf '%s\n' "$3" > "$1.ext"
  openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -sha256 -days "$days" \
    -extfile "$1.ext" -out "$1.pem"
  rm "$1.csr" "$1.ext"
}
issue server "/O=possim/CN=possim virtual terminal" "basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid"
issue client "/O=possim/CN=possim test ECR" "basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid"
rm -f ca.srl
