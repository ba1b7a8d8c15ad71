"""
tests/integration/tlscerts.py - throwaway certificate authorities for the TLS tests
(python3-cryptography): a CA, leaf certificates it signs (ECDSA P-256 or RSA), written
as PEM files.

    ca = CA(tmp_path, "test-ca")
    cert, key = ca.leaf("gw", names=["localhost"], ips=["127.0.0.1"])   # paths
    ca.path                                                             # the CA's PEM

Also a command line for the benchmarks: `tlscerts.py DIR` writes DIR/ca.pem,
DIR/cert.pem (leaf + CA: the chain) and DIR/key.pem for 127.0.0.1 / localhost.
"""

import datetime
import ipaddress
import sys
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID


def _key(kind):
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP256R1())


def _pem_key(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


class CA:
    def __init__(self, tmpdir, name="authgate-test-ca"):
        self.dir = Path(tmpdir)
        self.key = _key("ec")
        now = datetime.datetime.now(datetime.timezone.utc)
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        self.cert = (x509.CertificateBuilder()
                     .subject_name(subject).issuer_name(subject)
                     .public_key(self.key.public_key())
                     .serial_number(x509.random_serial_number())
                     .not_valid_before(now - datetime.timedelta(days=1))
                     .not_valid_after(now + datetime.timedelta(days=30))
                     .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                     .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True,
                                                  crl_sign=True, content_commitment=False,
                                                  key_encipherment=False, data_encipherment=False,
                                                  key_agreement=False, encipher_only=False,
                                                  decipher_only=False), critical=True)
                     .sign(self.key, hashes.SHA256()))
        self.pem = self.cert.public_bytes(serialization.Encoding.PEM)
        self.path = self.dir / ("%s.pem" % name)
        self.path.write_bytes(self.pem)

    def leaf(self, name, names=("localhost",), ips=("127.0.0.1",), kind="ec", chain=True):
        """Writes <name>.crt (the leaf, then the CA when <chain>) and <name>.key; returns the paths."""
        key = _key(kind)
        now = datetime.datetime.now(datetime.timezone.utc)
        sans = [x509.DNSName(n) for n in names] + [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
                .issuer_name(self.cert.subject)
                .public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - datetime.timedelta(days=1))
                .not_valid_after(now + datetime.timedelta(days=30))
                .add_extension(x509.SubjectAlternativeName(sans), critical=False)
                .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]),
                               critical=False)
                .sign(self.key, hashes.SHA256()))
        cpath, kpath = self.dir / ("%s.crt" % name), self.dir / ("%s.key" % name)
        cpath.write_bytes(cert.public_bytes(serialization.Encoding.PEM) + (self.pem if chain else b""))
        kpath.write_bytes(_pem_key(key))
        kpath.chmod(0o600)
        return cpath, kpath


if __name__ == "__main__":
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    ca = CA(out, "ca")
    c, k = ca.leaf("leaf")
    c.rename(out / "cert.pem")
    k.rename(out / "key.pem")
    print(out)
