"""Small plant exports with the quirks of real ones, and reading them as the importer does."""

from pathlib import Path

import pandas as pd

from plant.readers.report import ValidationReport
from plant.readers.sniff import sniff_export
from plant.readers.validation import iter_clean_chunks

RESULTS_CSV = (
    ",KNR,NAME,ID,STATUS,UNIT,VALUE_ID,VALUE,DATA\n"
    "0,2024-2056234,012001,1,10,Nm        ,1.0,  12.5    ,2024-05-16 13:21:03\n"
    '1, 2024-2056234 ,SECTION_ZP8_00000001 ,2,13,          ,2.0,"   12,743 ",'
    "2024-05-16 13:21:03.000\n"
    "2,2024-2056234,042000,718,10,,,,2024-05-16 13:22:00\n"
    "3,2024-2056235,042000,718,10,V         ,1.0,#ERR,2024-05-16 13:23:00\n"
)
DEFECTS_CSV = (
    "KNR,MODELO,COR,MOTOR,ESTACAO,USUARIO,HALLE,FALHA,S_GROUP_ID,DATA\n"
    '"2024-2056234","T-CROSS","2T2T","DKR","ZP8","u1","H1","Porta solta",2,'
    '"2024-05-20 21:31:51.992"\n'
    '"2024-2056234","T-CROSS","2T2T","   ","ZP8","u1","H1","Ruído","4","2024-05-20 21:31:52"\n'
    '"2024-2056235","T-CROSS","2T2T","DKL","ZP8","u1","H1","x",5.0,"2024-05-21 08:00:00"\n'
    '"2024-2056236","T-CROSS","2T2T","DKL","ZP8","u1","H1","x"," 1 ","2024-05-21 08:00:00"\n'
    '"2024-2056237","T-CROSS","2T2T","DKL","ZP8","u1","H1","x",-2,"2024-05-21 08:00:00"\n'
    '"2024-2056238","T-CROSS","2T2T","DKL","ZP8","u1","H1","x","#MULTIVALUE",'
    '"2024-05-21 08:00:00"\n'
)


def read(path: Path, kind: str, **kwargs) -> tuple[pd.DataFrame, ValidationReport]:
    report = ValidationReport(kind=kind, filename=path.name)
    info = sniff_export(path, filename=path.name, kind=kind)
    chunks = list(iter_clean_chunks(info, report=report, **kwargs))
    return pd.concat(chunks, ignore_index=True) if chunks else pd.DataFrame(), report


def write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path
