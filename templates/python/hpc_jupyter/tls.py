"""A per-job certificate authority and one certificate signed by it, for Dask's TLS.

Usage: python -m hpc_jupyter.tls DIR [NAME...]

Writes DIR/ca.pem, DIR/cert.pem and DIR/key.pem, all 0600 in a 0700 directory. The scheduler,
the workers and the clients present the same certificate and require the peer's to be signed by
the per-job CA, so only someone who can read the session directory can connect. The CA's own key
is never written: nothing else can be signed later.

Each NAME (the scheduler node's address and host name) goes into the certificate's
subjectAltName, as an IP address or a DNS name. Dask itself checks only the CA, but a client
outside the job, reaching the scheduler through a forwarded 127.0.0.1 port, can then also check
that the certificate is the scheduler node's (hpc_jupyter.client passes it as server_hostname).
"""

import datetime
import ipaddress
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .files import make_private_dir, write_private


def _name(common_name):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _alt_names(names):
    out = []
    for name in names:
        try:
            out.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            out.append(x509.DNSName(name))
    return out


def make_tls_files(directory, days=30, names=()):
    make_private_dir(directory)
    now = datetime.datetime.now(datetime.timezone.utc)
    start, end = now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=days)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(_name("hpc-jupyter job CA"))
        .issuer_name(_name("hpc-jupyter job CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name("hpc-jupyter engine"))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
    )
    alt_names = _alt_names(n for n in dict.fromkeys(names) if n)
    if alt_names:
        builder = builder.add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    pem = serialization.Encoding.PEM
    write_private(directory + "/ca.pem", ca_cert.public_bytes(pem))
    write_private(directory + "/cert.pem", cert.public_bytes(pem))
    write_private(
        directory + "/key.pem",
        key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
    )


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: python -m hpc_jupyter.tls DIR [NAME...]")
    make_tls_files(sys.argv[1], names=sys.argv[2:])
