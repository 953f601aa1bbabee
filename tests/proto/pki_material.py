"""Certificate material for the cert tests, made with the openssl command line.

Built once per test session (get_material) in a temporary folder: a root CA,
an intermediate, RSA 2048 and ECDSA P-256 leaves signed by the intermediate,
and every input format `sealpost cert import` accepts, plus bad inputs.
EC keys are used wherever the key type does not matter, for speed.
"""
import hashlib
import os
import subprocess

PASSPHRASE = "correct horse battery staple"
_material = None


def openssl(*args, cwd, input=None):
    proc = subprocess.run(["openssl", *map(str, args)], cwd=cwd, input=input,
                          capture_output=True)
    if proc.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(map(str, args))}: "
                           f"{proc.stderr.decode(errors='replace')}")
    return proc.stdout


def ec_key(d, name):
    openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
            "-out", name, cwd=d)


def rsa_key(d, name):
    openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
            "-out", name, cwd=d)


EXT = """\
[ca_ext]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
[leaf_ext]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = DNS:mail.example.test, DNS:*.example.test
[client_ext]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
subjectAltName = DNS:client.example.test
"""

CA_CONF = """\
[ca]
default_ca = testca
[testca]
dir = {dir}
database = $dir/index.txt
new_certs_dir = $dir/new
certificate = $dir/int.crt
private_key = $dir/int.key
serial = $dir/serial
default_md = sha256
policy = pol
unique_subject = no
x509_extensions = leaf_ext
[pol]
commonName = supplied
[leaf_ext]
basicConstraints = CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:dated.example.test
"""


def sign(d, csr, ca, out, ext="leaf_ext", days=365):
    openssl("x509", "-req", "-in", csr, "-CA", f"{ca}.crt", "-CAkey", f"{ca}.key",
            "-set_serial", str(int.from_bytes(os.urandom(8), "big")),
            "-days", days, "-extfile", "ext.cnf", "-extensions", ext,
            "-sha256", "-out", out, cwd=d)


def leaf(d, name, keyfile, cn, ca="int", ext="leaf_ext", days=365):
    openssl("req", "-new", "-key", keyfile, "-subj", f"/CN={cn}",
            "-out", f"{name}.csr", cwd=d)
    sign(d, f"{name}.csr", ca, f"{name}.crt", ext=ext, days=days)


def ca_dated(d, name, start, end):
    """A leaf signed by the intermediate with explicit dates (openssl ca)."""
    ec_key(d, f"{name}.key")
    openssl("req", "-new", "-key", f"{name}.key", "-subj",
            f"/CN={name}.example.test", "-out", f"{name}.csr", cwd=d)
    openssl("ca", "-batch", "-config", "ca.cnf", "-in", f"{name}.csr",
            "-out", f"{name}.crt", "-notext", "-startdate", start,
            "-enddate", end, cwd=d)


def cat(d, out, *names, sep=b""):
    data = sep.join(open(os.path.join(d, n), "rb").read() for n in names)
    with open(os.path.join(d, out), "wb") as f:
        f.write(data)


def build(d):
    w = lambda name, data: open(os.path.join(d, name), "wb").write(
        data if isinstance(data, bytes) else data.encode())
    w("ext.cnf", EXT)
    w("pass.txt", PASSPHRASE + "\n")
    w("wrong.txt", "not the passphrase\n")
    # Root and intermediate CAs.
    ec_key(d, "root.key")
    openssl("req", "-x509", "-new", "-key", "root.key", "-subj",
            "/O=Sealpost Test/CN=Test Root CA", "-days", "3650",
            "-config", "ext.cnf", "-extensions", "ca_ext", "-out", "root.crt",
            cwd=d)
    ec_key(d, "int.key")
    openssl("req", "-new", "-key", "int.key", "-subj",
            "/O=Sealpost Test/CN=Test Intermediate CA", "-out", "int.csr", cwd=d)
    sign(d, "int.csr", "root", "int.crt", ext="ca_ext", days=3000)
    # Leaves: RSA (PKCS#8 PEM from genpkey) and EC.
    rsa_key(d, "rsa.key")
    leaf(d, "rsa", "rsa.key", "mail.example.test")
    ec_key(d, "ec.key")
    leaf(d, "ec", "ec.key", "mail.example.test")
    ec_key(d, "other.key")
    ec_key(d, "other2.key")
    # Key encodings.
    openssl("pkey", "-in", "rsa.key", "-traditional", "-out", "rsa.pkcs1.key", cwd=d)
    openssl("pkey", "-in", "ec.key", "-traditional", "-out", "ec.sec1.key", cwd=d)
    for k in ("rsa", "ec"):
        openssl("pkcs8", "-topk8", "-in", f"{k}.key", "-passout", "file:pass.txt",
                "-out", f"{k}.enc.key", cwd=d)
        openssl("pkey", "-in", f"{k}.key", "-traditional", "-aes256",
                "-passout", "file:pass.txt", "-out", f"{k}.legacy.key", cwd=d)
        openssl("pkey", "-in", f"{k}.key", "-outform", "DER", "-out", f"{k}.key.der", cwd=d)
        openssl("x509", "-in", f"{k}.crt", "-outform", "DER", "-out", f"{k}.der", cwd=d)
    openssl("pkey", "-in", "rsa.key", "-traditional", "-outform", "DER",
            "-out", "rsa.pkcs1.der", cwd=d)
    openssl("pkcs8", "-topk8", "-in", "ec.key", "-passout", "file:pass.txt",
            "-outform", "DER", "-out", "ec.enc.der", cwd=d)
    # Chains and combined files.
    cat(d, "chain.pem", "int.crt", "root.crt")
    cat(d, "rsa.full.pem", "rsa.crt", "int.crt", "root.crt")
    cat(d, "rsa.shuffled.pem", "root.crt", "rsa.crt", "int.crt")
    cat(d, "ec.keymiddle.pem", "ec.crt", "ec.key", "int.crt")
    cat(d, "ec.chainfirst.pem", "int.crt", "root.crt", "ec.crt", "ec.sec1.key")
    cat(d, "ec.enc.combined.pem", "ec.enc.key", "ec.crt", "int.crt")
    cat(d, "ec.legacy.combined.pem", "ec.crt", "ec.legacy.key")
    cat(d, "rsa.noroot.pem", "rsa.crt", "int.crt")
    # PKCS#7 bundle.
    openssl("crl2pkcs7", "-nocrl", "-certfile", "rsa.crt", "-certfile", "int.crt",
            "-out", "rsa.p7b", cwd=d)
    # PKCS#12: with a passphrase (OpenSSL 3 defaults: AES-256, PBKDF2),
    # without one (empty password), fully unprotected, and -legacy.
    for k in ("rsa", "ec"):
        openssl("pkcs12", "-export", "-inkey", f"{k}.key", "-in", f"{k}.crt",
                "-certfile", "chain.pem", "-passout", "file:pass.txt",
                "-out", f"{k}.p12", cwd=d)
    openssl("pkcs12", "-export", "-inkey", "ec.key", "-in", "ec.crt",
            "-certfile", "int.crt", "-passout", "pass:", "-out", "ec.nopass.p12", cwd=d)
    openssl("pkcs12", "-export", "-inkey", "ec.key", "-in", "ec.crt",
            "-keypbe", "NONE", "-certpbe", "NONE", "-nomac", "-passout", "pass:",
            "-out", "ec.plain.pfx", cwd=d)
    openssl("pkcs12", "-export", "-legacy", "-inkey", "rsa.key", "-in", "rsa.crt",
            "-certfile", "int.crt", "-passout", "file:pass.txt",
            "-out", "rsa.legacy.p12", cwd=d)
    # "Bag Attributes" text, as `openssl pkcs12 -nodes` prints it.
    openssl("pkcs12", "-in", "rsa.p12", "-passin", "file:pass.txt", "-nodes",
            "-out", "rsa.bags.pem", cwd=d)
    # BOM, CRLF, blank lines and text around blocks.
    full = open(os.path.join(d, "rsa.full.pem"), "rb").read()
    key = open(os.path.join(d, "rsa.pkcs1.key"), "rb").read()
    w("rsa.bom.pem", b"\xef\xbb\xbf" + full)
    w("rsa.crlf.pem", full.replace(b"\n", b"\r\n"))
    w("rsa.crlf.key", b"\xef\xbb\xbf" + key.replace(b"\n", b"\r\n"))
    messy = full.replace(b"-----\n-----BEGIN", b"-----\n\n\nsome note\n\n-----BEGIN")
    messy = messy.replace(b"CERTIFICATE-----\nMII", b"CERTIFICATE-----\n\nMII")
    w("rsa.messy.pem", b"Here is your certificate:\n\n" + messy.replace(b"\n", b" \r\r\n")
      + b"\n\n-- \nyour CA\n")
    # Dates: expired, not yet valid, expiring soon.
    os.makedirs(os.path.join(d, "new"))
    w("index.txt", "")
    w("serial", "1000\n")
    w("ca.cnf", CA_CONF.format(dir=d))
    ca_dated(d, "expired", "20200101000000Z", "20210101000000Z")
    ca_dated(d, "future", "20990101000000Z", "21000101000000Z")
    ec_key(d, "soon.key")
    leaf(d, "soon", "soon.key", "soon.example.test", days=10)
    # Not for servers: clientAuth only.
    leaf(d, "client", "other.key", "client.example.test", ext="client_ext")
    # Unsupported key types: Ed25519, DSA.
    openssl("genpkey", "-algorithm", "ed25519", "-out", "ed.key", cwd=d)
    openssl("req", "-x509", "-new", "-key", "ed.key", "-subj", "/CN=ed.example.test",
            "-days", "30", "-out", "ed.crt", cwd=d)
    openssl("genpkey", "-genparam", "-algorithm", "DSA", "-pkeyopt",
            "dsa_paramgen_bits:1024", "-out", "dsa.param", cwd=d)
    openssl("genpkey", "-paramfile", "dsa.param", "-out", "dsa.key", cwd=d)
    openssl("pkey", "-in", "dsa.key", "-traditional", "-out", "dsa.trad.key", cwd=d)
    # Garbage and truncated input.
    w("garbage.crt", os.urandom(700))
    crt = open(os.path.join(d, "rsa.crt"), "rb").read()
    w("truncated.pem", crt[: len(crt) // 2])
    der = open(os.path.join(d, "rsa.der"), "rb").read()
    w("truncated.der", der[: len(der) - 40])
    w("empty.crt", b"")
    w("text.crt", "this is not a certificate\n")
    return d


def get_material(tmp_path_factory):
    """The material folder (built on first use, shared by the session)."""
    global _material
    if _material is None:
        _material = build(str(tmp_path_factory.mktemp("pki")))
    return _material


def snapshot(folder):
    """Every file of folder (hidden ones too) with its mode and SHA-256."""
    if not os.path.isdir(folder):
        return None
    out = {}
    for dirpath, _, files in os.walk(folder):
        for f in files:
            p = os.path.join(dirpath, f)
            st = os.stat(p)
            out[os.path.relpath(p, folder)] = (
                oct(st.st_mode & 0o7777),
                hashlib.sha256(open(p, "rb").read()).hexdigest())
    return out
