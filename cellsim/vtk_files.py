"""VTK XML files of the field writer: binary .vtu pieces (written with VTK's own writer,
float64, raw appended data) and the small .pvtu/.pvd index files, each replaced
atomically so that a reader never sees a half-written index."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

_TENSOR_COMPONENTS = ("XX", "XY", "XZ", "YX", "YY", "YZ", "ZX", "ZY", "ZZ")


def _vtk_type_name(dtype) -> str:
    return {"f": "Float64", "i": "Int32", "u": "UInt8"}[np.dtype(dtype).kind]


def field_text(value) -> str:
    """Decode a text field-data array of a written piece (UTF-8 bytes) to ``str``."""
    return bytes(np.asarray(value, dtype=np.uint8).ravel()).decode("utf-8")


def write_vtu(path, points, connectivity, vtk_type, point_data, cell_data, field_data,
              compressor: str = "none") -> None:
    """Write one unstructured-grid piece with VTK (binary appended, zlib, UInt64 headers).

    ``point_data``/``cell_data``: name -> array (n,) or (n, k); ``field_data``: name ->
    str, list of str or numbers. Written to ``path + '.tmp'`` and renamed, so the file
    is whole or absent.
    """
    from vtkmodules.util import numpy_support as ns
    from vtkmodules.vtkCommonCore import vtkPoints
    from vtkmodules.vtkCommonDataModel import vtkCellArray, vtkUnstructuredGrid
    from vtkmodules.vtkIOXML import vtkXMLUnstructuredGridWriter

    grid = vtkUnstructuredGrid()
    pts = vtkPoints()
    pts.SetData(ns.numpy_to_vtk(np.ascontiguousarray(points, dtype=np.float64), deep=True))
    grid.SetPoints(pts)
    ncell, nn = connectivity.shape
    offsets = np.arange(0, (ncell + 1) * nn, nn, dtype=np.int64)
    cells = vtkCellArray()
    cells.SetData(ns.numpy_to_vtkIdTypeArray(offsets, deep=True),
                  ns.numpy_to_vtkIdTypeArray(np.ascontiguousarray(connectivity, dtype=np.int64).ravel(), deep=True))
    grid.SetCells(int(vtk_type), cells)

    def add(target, name, vals):
        vals = np.ascontiguousarray(vals)
        a = ns.numpy_to_vtk(vals, deep=True)
        a.SetName(name)
        if vals.ndim == 2 and vals.shape[1] == 9:
            for k, c in enumerate(_TENSOR_COMPONENTS):
                a.SetComponentName(k, c)
        target.AddArray(a)

    for name, vals in point_data.items():
        add(grid.GetPointData(), name, vals)
    for name, vals in cell_data.items():
        add(grid.GetCellData(), name, vals)
    fd = grid.GetFieldData()
    for name, val in field_data.items():
        if isinstance(val, (list, tuple)) and all(isinstance(v, str) for v in val):
            val = "\n".join(val)
        if isinstance(val, str):  # text as UTF-8 bytes: meshio cannot read VTK string arrays
            add(fd, name, np.frombuffer(val.encode("utf-8"), dtype=np.uint8).copy())
        else:
            v = np.asarray(val)
            add(fd, name, np.atleast_1d(v.astype(np.float64 if v.dtype.kind == "f" else np.int32)))
    w = vtkXMLUnstructuredGridWriter()
    tmp = f"{path}.tmp"
    w.SetFileName(tmp)
    w.SetInputData(grid)
    w.SetDataModeToAppended()
    w.EncodeAppendedDataOff()
    w.SetHeaderTypeToUInt64()
    if compressor == "none":
        w.SetCompressorTypeToNone()
    elif compressor == "lz4":
        w.SetCompressorTypeToLZ4()
    else:
        w.SetCompressorTypeToZLib()
        w.SetCompressionLevel(1)
    if w.Write() != 1:
        raise OSError(f"VTK could not write {path}")
    os.replace(tmp, path)


def _xml_attr(s: str) -> str:
    return (str(s).replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;").replace(">", "&gt;"))


def write_pvtu(path, pieces: list[str], point_arrays: list[tuple], cell_arrays: list[tuple]) -> None:
    """The ``.pvtu`` summary of a step: ``pieces`` are file names relative to it;
    ``*_arrays``: (name, dtype, components)."""
    lines = ['<?xml version="1.0"?>',
             '<VTKFile type="PUnstructuredGrid" version="1.0" byte_order="LittleEndian" header_type="UInt64">',
             '  <PUnstructuredGrid GhostLevel="0">']
    for tag, arrays in (("PPointData", point_arrays), ("PCellData", cell_arrays)):
        lines.append(f"    <{tag}>")
        for name, dtype, ncomp in arrays:
            lines.append(f'      <PDataArray type="{_vtk_type_name(dtype)}" Name="{_xml_attr(name)}" '
                         f'NumberOfComponents="{ncomp}"/>')
        lines.append(f"    </{tag}>")
    lines += ['    <PPoints>', '      <PDataArray type="Float64" NumberOfComponents="3"/>', '    </PPoints>']
    lines += [f'    <Piece Source="{_xml_attr(p)}"/>' for p in pieces]
    lines += ["  </PUnstructuredGrid>", "</VTKFile>", ""]
    _write_text_atomic(Path(path), "\n".join(lines))


def write_pvd(path, datasets: list[tuple]) -> None:
    """A ``.pvd`` collection; ``datasets``: (time, file relative to the pvd, part, name)."""
    lines = ['<?xml version="1.0"?>',
             '<VTKFile type="Collection" version="1.0" byte_order="LittleEndian" header_type="UInt64">',
             "  <Collection>"]
    for t, f, part, name in datasets:
        lines.append(f'    <DataSet timestep="{float(t)!r}" group="" part="{int(part)}" '
                     f'name="{_xml_attr(name)}" file="{_xml_attr(f)}"/>')
    lines += ["  </Collection>", "</VTKFile>", ""]
    _write_text_atomic(Path(path), "\n".join(lines))


def _write_text_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp.{os.getpid()}")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)
