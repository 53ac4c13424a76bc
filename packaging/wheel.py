"""Writes a pure-Python wheel (PEP 427) from a pyproject.toml's ``[project]`` table.

hpc-jupyter's two wheels are plain files, a few metadata lines and, for the client, data files
(the prebuilt JupyterLab extension) and a bundled Node.js program; a build backend adds only
time and a build-time download here. So ``scripts/dist`` writes them with this, from the same
``pyproject.toml`` that ``pip install templates/python`` builds with setuptools:

- name, version (static, or setuptools' ``dynamic`` ``attr``, read without importing), summary,
  licence, Python requirement, dependencies, extras (``optional-dependencies``), scripts and
  entry points, as core metadata 2.1;
- the packages of ``[tool.setuptools] packages`` (or ``[tool.hpc-jupyter-dist] packages``), every
  file in them but byte code;
- ``--tree ARCPATH=DIR``: DIR's files inside the wheel at ARCPATH (the bundled command);
- ``--data PATH=DIR``: DIR's files installed under the environment's prefix at PATH (the wheel's
  ``.data/data/`` scheme: ``share/jupyter/labextensions/...``), as are the files of
  ``[tool.setuptools] data-files`` (``etc/jupyter/jupyter_server_config.d/...``);
- ``[tool.hpc-jupyter-dist] same-version``: dependencies pinned to this wheel's own version.

The wheel is reproducible: sorted entries, fixed timestamps (``SOURCE_DATE_EPOCH`` if set), and
modes 0644 (0755 for executable files). Prints the wheel's path.

Usage: python3 wheel.py PYPROJECT OUTDIR [--version V] [--tree ARCPATH=DIR]... [--data PATH=DIR]...
                        [--license-file FILE]
"""

import argparse
import ast
import base64
import hashlib
import os
import re
import stat
import sys
import time
import zipfile

try:
    import tomllib
except ImportError:  # Python < 3.11
    try:
        import tomli as tomllib
    except ImportError:
        sys.exit(
            "error: reading pyproject.toml needs Python 3.11+ (tomllib) or the tomli package; "
            "set HPC_JUPYTER_PYTHON to such a Python."
        )

GENERATOR = "hpc-jupyter packaging/wheel.py"
SKIP_DIRS = {"__pycache__", ".pytest_cache"}
SKIP_FILE = re.compile(r"\.(pyc|pyo)$|^\.DS_Store$")


class BuildError(Exception):
    pass


def normalize(name):
    """The wheel file name's form of a distribution name (PEP 427, PEP 503)."""
    return re.sub(r"[-_.]+", "_", name).lower()


def attr_version(root, attr):
    """``pkg.module.__version__`` read from the source's assignment, without importing it."""
    module, _, name = attr.rpartition(".")
    base = os.path.join(root, *module.split("."))
    path = os.path.join(base, "__init__.py") if os.path.isdir(base) else base + ".py"
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == name for t in node.targets
        ):
            value = ast.literal_eval(node.value)
            if isinstance(value, str):
                return value
    raise BuildError("%s has no string %s = '...' to take the version from" % (path, name))


def project_version(project, tool, root, given):
    version = project.get("version")
    if version is None and "version" in project.get("dynamic", []):
        attr = tool.get("setuptools", {}).get("dynamic", {}).get("version", {}).get("attr")
        if attr is not None:
            version = attr_version(root, attr)
        else:
            version = given
    if version is None:
        raise BuildError("no version: set [project] version, a setuptools attr, or --version")
    if given is not None and given != version:
        raise BuildError("version %s in %s, but %s was asked for" % (version, root, given))
    return version


def files_under(src):
    """(relative path, absolute path) of every file below ``src``, sorted, byte code left out."""
    found = []
    for dirpath, dirnames, filenames in os.walk(src):
        dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS)
        for name in filenames:
            if SKIP_FILE.search(name):
                continue
            path = os.path.join(dirpath, name)
            found.append((os.path.relpath(path, src).replace(os.sep, "/"), path))
    return sorted(found)


def metadata(project, tool, version, readme_root):
    same = set(tool.get("hpc-jupyter-dist", {}).get("same-version", []))

    def pinned(req):
        return "%s==%s" % (req, version) if req in same else req

    lines = [
        "Metadata-Version: 2.1",
        "Name: %s" % project["name"],
        "Version: %s" % version,
    ]
    if "description" in project:
        lines.append("Summary: %s" % project["description"])
    licence = project.get("license")
    if isinstance(licence, dict) and "text" in licence:
        lines.append("License: %s" % licence["text"])
    for url_name, url in sorted(project.get("urls", {}).items()):
        lines.append("Project-URL: %s, %s" % (url_name, url))
    if "requires-python" in project:
        lines.append("Requires-Python: %s" % project["requires-python"])
    for req in project.get("dependencies", []):
        lines.append("Requires-Dist: %s" % pinned(req))
    for extra, reqs in project.get("optional-dependencies", {}).items():
        lines.append("Provides-Extra: %s" % extra)
        for req in reqs:
            req = pinned(req)
            marker = 'extra == "%s"' % extra
            if ";" in req:
                spec, _, other = req.partition(";")
                spec, other = spec.strip(), other.strip()
                lines.append("Requires-Dist: %s; (%s) and %s" % (spec, other, marker))
            else:
                lines.append("Requires-Dist: %s; %s" % (req, marker))
    body = ""
    readme = project.get("readme")
    if isinstance(readme, str):
        with open(os.path.join(readme_root, readme), encoding="utf-8") as f:
            body = f.read()
        kind = "text/markdown" if readme.endswith(".md") else "text/plain"
        lines.append("Description-Content-Type: %s" % kind)
    return ("\n".join(lines) + "\n\n" + body).encode()


def entry_points(project):
    groups = {}
    if project.get("scripts"):
        groups["console_scripts"] = project["scripts"]
    if project.get("gui-scripts"):
        groups["gui_scripts"] = project["gui-scripts"]
    groups.update(project.get("entry-points", {}))
    out = []
    for group, entries in groups.items():
        out.append("[%s]" % group)
        out.extend("%s = %s" % (name, target) for name, target in entries.items())
        out.append("")
    return "\n".join(out).encode() if out else None


def record_hash(data):
    digest = hashlib.sha256(data).digest()
    return "sha256=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class Wheel:
    def __init__(self, path, epoch):
        self.zip = zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=9)
        self.date = time.gmtime(max(epoch, 315532800))[:6]
        self.records = []
        self.names = set()

    def add(self, arcname, data, executable=False):
        if arcname in self.names:
            raise BuildError("two files for %s in the wheel" % arcname)
        self.names.add(arcname)
        info = zipfile.ZipInfo(arcname, self.date)
        info.external_attr = ((0o755 if executable else 0o644) | stat.S_IFREG) << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        self.zip.writestr(info, data)
        self.records.append("%s,%s,%d" % (arcname, record_hash(data), len(data)))

    def add_file(self, arcname, path):
        with open(path, "rb") as f:
            data = f.read()
        self.add(arcname, data, executable=os.stat(path).st_mode & stat.S_IXUSR != 0)

    def close(self, record_name):
        self.records.append("%s,," % record_name)
        info = zipfile.ZipInfo(record_name, self.date)
        info.external_attr = (0o644 | stat.S_IFREG) << 16
        info.compress_type = zipfile.ZIP_DEFLATED
        self.zip.writestr(info, ("\n".join(self.records) + "\n").encode())
        self.zip.close()


def pair(text):
    dest, sep, src = text.partition("=")
    if not sep or not dest or not src:
        raise argparse.ArgumentTypeError("expected PATH=DIR, got %r" % text)
    return dest.strip("/"), src


def build(pyproject, outdir, version=None, trees=(), data=(), license_file=None):
    root = os.path.dirname(os.path.abspath(pyproject))
    with open(pyproject, "rb") as f:
        config = tomllib.load(f)
    project, tool = config["project"], config.get("tool", {})
    version = project_version(project, tool, root, version)
    dist = normalize(project["name"])
    packages = tool.get("hpc-jupyter-dist", {}).get("packages") or tool.get(
        "setuptools", {}
    ).get("packages", [])
    contents = []
    for package in packages:
        src = os.path.join(root, *package.split("."))
        if not os.path.isfile(os.path.join(src, "__init__.py")):
            raise BuildError("package %s has no %s/__init__.py" % (package, src))
        prefix = package.replace(".", "/")
        contents += [("%s/%s" % (prefix, rel), path) for rel, path in files_under(src)]
    for dest, src in trees:
        if not os.path.isdir(src):
            raise BuildError("--tree %s=%s: not a directory" % (dest, src))
        contents += [("%s/%s" % (dest, rel), path) for rel, path in files_under(src)]
    data_dir = "%s-%s.data/data" % (dist, version)
    # setuptools' data-files: {"etc/jupyter/...": ["pkg/file.json"]}, installed under the prefix.
    for dest, files in tool.get("setuptools", {}).get("data-files", {}).items():
        for rel in files:
            src = os.path.join(root, rel)
            if not os.path.isfile(src):
                raise BuildError("data-files: %s is missing" % src)
            contents.append(
                ("%s/%s/%s" % (data_dir, dest.strip("/"), os.path.basename(rel)), src)
            )
    for dest, src in data:
        if not os.path.isdir(src):
            raise BuildError("--data %s=%s: not a directory" % (dest, src))
        contents += [("%s/%s/%s" % (data_dir, dest, rel), path) for rel, path in files_under(src)]

    os.makedirs(outdir, exist_ok=True)
    path = os.path.join(outdir, "%s-%s-py3-none-any.whl" % (dist, version))
    tmp = path + ".part"
    wheel = Wheel(tmp, int(os.environ.get("SOURCE_DATE_EPOCH", "315532800")))
    try:
        for arcname, src in sorted(contents):
            wheel.add_file(arcname, src)
        info = "%s-%s.dist-info" % (dist, version)
        wheel.add(info + "/METADATA", metadata(project, tool, version, root))
        wheel.add(
            info + "/WHEEL",
            (
                "Wheel-Version: 1.0\nGenerator: %s\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
                % GENERATOR
            ).encode(),
        )
        points = entry_points(project)
        if points is not None:
            wheel.add(info + "/entry_points.txt", points)
        if license_file is not None:
            wheel.add_file(info + "/LICENSE", license_file)
        wheel.close(info + "/RECORD")
    except BaseException:
        wheel.zip.close()
        os.unlink(tmp)
        raise
    os.replace(tmp, path)
    return path


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("pyproject")
    parser.add_argument("outdir")
    parser.add_argument("--version")
    parser.add_argument("--tree", type=pair, action="append", default=[])
    parser.add_argument("--data", type=pair, action="append", default=[])
    parser.add_argument("--license-file")
    args = parser.parse_args(argv)
    try:
        print(
            build(
                args.pyproject, args.outdir, args.version, args.tree, args.data, args.license_file
            )
        )
    except (BuildError, OSError, KeyError) as e:
        print("error: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
