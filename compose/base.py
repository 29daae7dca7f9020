"""The Dockerfile's base image, or a Debian stand-in for it when no registry answers.

The real ``python:3.11-slim`` is used whenever it can be pulled or is already present.
Otherwise a stand-in is made: Debian bookworm's minimal system with its Python 3.11 and
pip, bootstrapped by debootstrap from the Debian mirror apt uses here, given the host's
CA bundle and pip configuration (pip reaches the package index as the host does) and
imported under the base's name. The bootstrapped file system is kept as a tarball in the
cache folder, so a later run (or a fresh clone) imports it again in seconds.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

from compose._run import StepError, run, sudo
from compose.engine import Engine

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("FVF_CACHE_DIR", "/var/cache/flask-vs-fastapi"))
SUITE = "bookworm"  # Debian's release whose python3 is 3.11, the lock's Python
PACKAGES = "passwd,python3,python3-venv,python3-pip,ca-certificates"
ROOTFS_TAR = CACHE / f"python-standin-{SUITE}-rootfs.tar"
STANDIN_LABEL = "org.flask-vs-fastapi.stand-in"
APT_SOURCES = [Path("/etc/apt/sources.list"), Path("/etc/apt/sources.list.d")]
HOST_CA_BUNDLES = ["/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt"]
IMAGE_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
# The Dockerfile's `useradd` lives in /usr/sbin: the stand-in's PATH has the sbin folders.
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
MAX_COPIED_FILE = 10 * 1024 * 1024


def dockerfile_base(dockerfile: Path = ROOT / "Dockerfile") -> str:
    """Return the image named by the Dockerfile's FROM."""
    for line in dockerfile.read_text().splitlines():
        words = line.split()
        if words and words[0].upper() == "FROM":
            return words[1]
    raise StepError(f"{dockerfile} has no FROM")


def full_name(image: str) -> str:
    """Return image as a registry would name it (python:3.11-slim: docker.io/library/...)."""
    first = image.split("/", 1)[0]
    if "/" in image and ("." in first or ":" in first or first == "localhost"):
        return image
    return f"docker.io/{image if '/' in image else 'library/' + image}"


def debian_mirror(sources: list[Path] = APT_SOURCES) -> str:
    """Return the URI of the Debian archive apt is configured with (not its security one)."""
    for path in sources:
        files = sorted(path.glob("*")) if path.is_dir() else [path] if path.exists() else []
        for file in files:
            if file.suffix not in {".list", ".sources"}:
                continue
            for uri, suites in _entries(file.read_text(errors="replace")):
                if uri.rstrip("/").endswith("/debian") and not any(
                    "security" in suite for suite in suites
                ):
                    return uri
    raise StepError("no Debian archive in apt's sources: cannot bootstrap the stand-in base")


def _entries(text: str) -> list[tuple[str, list[str]]]:
    """Return (URI, suites) of each deb source in a one-line or deb822 apt sources file."""
    entries: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        words = re.sub(r"\[[^]]*\]", "", line.split("#", 1)[0]).split()
        if len(words) >= 3 and words[0] == "deb":
            entries.append((words[1], [words[2]]))
    for stanza in re.split(r"\n\s*\n", text):
        fields = {
            key.strip().lower(): value.strip()
            for key, sep, value in (line.partition(":") for line in stanza.splitlines())
            if sep and not key.startswith((" ", "#"))
        }
        if "deb" in fields.get("types", "").split() and fields.get("uris"):
            entries.extend(
                (uri, fields.get("suites", "").split()) for uri in fields["uris"].split()
            )
    return entries


def host_pip_files(home: Path | None = None, env: dict[str, str] | None = None) -> dict[str, Path]:
    """Return {path in the image: host file} for the host's pip configuration and CA bundle.

    pip must reach the package index from inside the build as it does on the host:
    through the same configuration files, and any file they name (CA bundle, constraints),
    at the same paths. The build runs as root, so a user's own file becomes root's.
    """
    home = Path.home() if home is None else home
    env = dict(os.environ) if env is None else env
    files: dict[str, Path] = {}
    bundle = next(
        (
            Path(p)
            for p in [env.get("SSL_CERT_FILE", ""), *HOST_CA_BUNDLES]
            if p and Path(p).is_file()
        ),
        None,
    )
    if bundle is not None:
        files[IMAGE_CA_BUNDLE] = bundle
    configs = [Path("/etc/pip.conf"), *sorted(Path("/etc/xdg/pip").glob("*"))]
    if env.get("PIP_CONFIG_FILE"):
        configs.append(Path(env["PIP_CONFIG_FILE"]))
    for path in configs:
        if path.is_file():
            files[str(path)] = path
    user_config = Path(env.get("XDG_CONFIG_HOME") or home / ".config") / "pip" / "pip.conf"
    for path, inside in [
        (user_config, "/root/.config/pip/pip.conf"),
        (home / ".pip" / "pip.conf", "/root/.pip/pip.conf"),
    ]:
        if path.is_file():
            files[inside] = path
    # Files the configuration names by absolute path (a constraints file, a CA bundle).
    values = [v for k, v in env.items() if k.startswith("PIP_")]
    values += [
        text
        for path in list(files.values())
        if path.suffix == ".conf"
        for text in [path.read_text(errors="replace")]
    ]
    for word in re.findall(r"(?<![\w:/])/[\w./+-]+", "\n".join(values)):
        path = Path(word)
        if path.is_file() and path.stat().st_size <= MAX_COPIED_FILE:
            files.setdefault(word, path)
    return files


def pip_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """Return the PIP_* variables to set in the stand-in: the host's, and a CA bundle."""
    env = dict(os.environ) if env is None else env
    found = {k: v for k, v in env.items() if k.startswith("PIP_")}
    found.setdefault("PIP_CERT", IMAGE_CA_BUNDLE)
    return found


def bootstrap(mirror: str) -> None:
    """Bootstrap Debian's minimal system with Python into the cached rootfs tarball."""
    CACHE.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="standin-", dir=CACHE))
    try:
        rootfs = work / "rootfs"
        run(
            [
                *sudo(),
                "debootstrap",
                "--variant=minbase",
                f"--include={PACKAGES}",
                SUITE,
                rootfs,
                mirror,
            ],
            timeout=900,
        )
        # pip installs into the system Python, as it does in the real image.
        (rootfs / "usr/lib/python3.11/EXTERNALLY-MANAGED").unlink(missing_ok=True)
        for name, target in [("python", "/usr/bin/python3"), ("pip", "/usr/bin/pip3")]:
            link = rootfs / "usr/local/bin" / name
            link.unlink(missing_ok=True)
            link.symlink_to(target)
        for leftovers in ["var/cache/apt/archives", "var/lib/apt/lists"]:
            for path in (rootfs / leftovers).glob("*"):
                if path.is_file():
                    path.unlink()
        partial = ROOTFS_TAR.with_suffix(".partial")
        run([*sudo(), "tar", "-C", rootfs, "--numeric-owner", "-cf", partial, "."], timeout=300)
        partial.replace(ROOTFS_TAR)
    finally:
        run([*sudo(), "rm", "-rf", work], check=False)


def import_standin(engine: Engine, image: str) -> None:
    """Import the cached rootfs, with the host's pip setup added, as image."""
    work = Path(tempfile.mkdtemp(prefix="standin-import-", dir=CACHE))
    try:
        rootfs = work / "rootfs"
        rootfs.mkdir()
        run([*sudo(), "tar", "-C", rootfs, "--numeric-owner", "-xf", ROOTFS_TAR], timeout=300)
        for inside, host in host_pip_files().items():
            target = rootfs / inside.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(host, target)
        tarball = work / "rootfs.tar"
        run([*sudo(), "tar", "-C", rootfs, "--numeric-owner", "-cf", tarball, "."], timeout=300)
        changes = [f"ENV {key}={value}" for key, value in pip_env().items()]
        changes += [
            f"ENV PATH={PATH}",
            "ENV LANG=C.UTF-8",
            f"LABEL {STANDIN_LABEL}=debootstrap-{SUITE}",
            'CMD ["python3"]',
        ]
        engine(
            "import", *(arg for change in changes for arg in ("--change", change)), tarball, image
        )
    finally:
        run([*sudo(), "rm", "-rf", work], check=False)


def ensure_base(engine: Engine, notes: list[str]) -> None:
    """Make the Dockerfile's base image available: present, pulled, or a stand-in.

    An image already in the engine is used as it is (no registry is asked each run);
    a stand-in is made only when the real image cannot be pulled.
    """
    image = full_name(dockerfile_base())
    if run([engine.cli, "image", "inspect", image], env=engine.env, check=False).returncode == 0:
        labels = "{{json .Config.Labels}}"
        found = engine("image", "inspect", "--format", labels, image, check=False)
        kind = "the Debian stand-in" if STANDIN_LABEL in found else "the image"
        notes.append(f"{kind} {image} already in the engine")
        return
    pulled = run([engine.cli, "pull", image], env=engine.env, timeout=300, check=False)
    if pulled.returncode == 0:
        notes.append(f"pulled {image}")
        return
    if ROOTFS_TAR.exists():
        notes.append(f"cannot pull {image}: importing the stand-in cached in {ROOTFS_TAR}")
    else:
        mirror = debian_mirror()
        notes.append(f"cannot pull {image}: bootstrapping a Debian {SUITE} stand-in from {mirror}")
        bootstrap(mirror)
    import_standin(engine, image)
