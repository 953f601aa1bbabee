"""Pairs with chosen names, key types and lifetimes for the certificate-set
tests, made with the openssl command line (never with sealpost itself)."""
import os
import subprocess

from pki_material import openssl

LEAF_CONF = """\
[req]
distinguished_name = dn
x509_extensions = ext
prompt = no
[dn]
CN = {cn}
[ext]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
subjectAltName = {sans}
"""

SIGNED_EXT = """\
[leaf]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = {sans}
"""

_keys = {}


def _key(folder, name, kind):
    """A fresh key file (RSA keys are cached: generating them is slow)."""
    path = os.path.join(folder, f"{name}.key")
    if kind == "rsa":
        if "rsa" not in _keys:
            out = openssl("genpkey", "-algorithm", "RSA", "-pkeyopt",
                          "rsa_keygen_bits:2048", cwd=folder)
            _keys["rsa"] = out
        data = _keys["rsa"]
    else:
        data = openssl("genpkey", "-algorithm", "EC", "-pkeyopt",
                       "ec_paramgen_curve:P-256", cwd=folder)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    return path


def self_signed(certs, name, names, days=365, kind="ec"):
    """certs/NAME.crt + NAME.key: self-signed for names (DNS names; the first
    is the CN), valid from now for days (`openssl req -x509 -days`)."""
    os.makedirs(certs, exist_ok=True)
    key = _key(certs, name, kind)
    cnf = os.path.join(certs, f".{name}.cnf")
    with open(cnf, "w") as f:
        f.write(LEAF_CONF.format(cn=names[0],
                                 sans=", ".join(f"DNS:{n}" for n in names)))
    openssl("req", "-x509", "-new", "-key", key, "-days", days, "-config", cnf,
            "-out", os.path.join(certs, f"{name}.crt"), cwd=certs)
    os.unlink(cnf)


def ca_signed(certs, name, names, mat, days=90):
    """certs/NAME.crt (leaf + the test intermediate) + NAME.key, issued by
    the intermediate of pki_material."""
    os.makedirs(certs, exist_ok=True)
    key = _key(certs, name, "ec")
    csr = os.path.join(certs, f".{name}.csr")
    ext = os.path.join(certs, f".{name}.ext")
    crt = os.path.join(certs, f"{name}.crt")
    with open(ext, "w") as f:
        f.write(SIGNED_EXT.format(sans=", ".join(f"DNS:{n}" for n in names)))
    openssl("req", "-new", "-key", key, "-subj", f"/CN={names[0]}", "-out", csr,
            cwd=certs)
    openssl("x509", "-req", "-in", csr, "-CA", os.path.join(mat, "int.crt"),
            "-CAkey", os.path.join(mat, "int.key"), "-set_serial", "7777",
            "-days", days, "-extfile", ext, "-extensions", "leaf", "-sha256",
            "-out", crt, cwd=certs)
    with open(crt, "ab") as f:
        f.write(open(os.path.join(mat, "int.crt"), "rb").read())
    os.unlink(csr)
    os.unlink(ext)


def spki_sha256(path, pubin=False):
    """`openssl x509 -pubkey | openssl pkey -pubin -outform DER | openssl dgst
    -sha256` for a certificate; for a private key `openssl pkey -pubout`."""
    if pubin:
        pub = subprocess.run(["openssl", "pkey", "-in", path, "-pubout"],
                             capture_output=True, check=True).stdout
    else:
        pub = subprocess.run(["openssl", "x509", "-in", path, "-noout", "-pubkey"],
                             capture_output=True, check=True).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"],
                         input=pub, capture_output=True, check=True).stdout
    out = subprocess.run(["openssl", "dgst", "-sha256"], input=der,
                         capture_output=True, check=True).stdout.decode()
    return out.strip().split("= ")[1]


def write_conf(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path
