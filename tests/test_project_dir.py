"""The project folder: the one place the code finds configuration/, dbt_project/ and dags/."""

import re
from pathlib import Path

import pytest

from crimewh.settings import PROJECT_VARIABLE, Settings, SettingsError, find_project_dir
from decoder import layouts, native

REPO = Path(__file__).resolve().parents[1]
PRODUCT = ("decoder", "plugins/crimewh", "ml", "dags")


def make_project(folder: Path, page_size: int) -> Path:
    (folder / "dbt_project").mkdir(parents=True)
    (folder / "configuration").mkdir()
    (folder / "configuration" / "crimewh.yml").write_text(f"soda_page_size: {page_size}\n")
    return folder


def test_no_product_module_finds_files_beside_itself():
    offenders = [
        f"{path.relative_to(REPO)}:{number}"
        for package in PRODUCT
        for path in sorted((REPO / package).rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"\b__file__\b", line)
    ]
    assert offenders == []


def test_the_variable_names_the_project_and_its_configuration(tmp_path, monkeypatch):
    project = make_project(tmp_path / "project", page_size=123)
    monkeypatch.chdir(tmp_path)  # not the project: only the variable can name it
    settings = Settings.load({PROJECT_VARIABLE: str(project), "CRIMEWH_DATA_DIR": "d"})
    assert settings.project_dir == project.resolve()
    assert settings.dbt_project_dir == project.resolve() / "dbt_project"
    assert settings.dags_dir == project.resolve() / "dags"
    assert settings.soda_page_size == 123  # read from the project's configuration/crimewh.yml
    # children (Airflow's processes, dbt) start elsewhere: the variable travels with them
    assert settings.as_environment()[PROJECT_VARIABLE] == str(project.resolve())


def test_the_working_directory_is_the_default(tmp_path, monkeypatch):
    project = make_project(tmp_path / "checkout", page_size=77)
    monkeypatch.chdir(project)
    assert find_project_dir({}) == project.resolve()
    assert Settings.load({"CRIMEWH_DATA_DIR": "d"}).soda_page_size == 77


def test_without_a_project_what_needs_one_says_what_to_set(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = Settings.load({"CRIMEWH_DATA_DIR": str(tmp_path / "data")})
    assert settings.project_dir is None
    assert settings.soda_page_size == 50_000  # the built-in defaults without a config file
    assert PROJECT_VARIABLE not in settings.as_environment()
    with pytest.raises(SettingsError, match=PROJECT_VARIABLE):
        _ = settings.dbt_project_dir


def test_a_variable_naming_no_project_is_refused(tmp_path):
    with pytest.raises(SettingsError, match=f"{PROJECT_VARIABLE}=.*holds no dbt_project/"):
        find_project_dir({PROJECT_VARIABLE: str(tmp_path)})


def test_the_decoder_reads_its_layouts_and_library_as_package_data():
    from importlib import resources

    packaged = resources.files("decoder")
    assert Path(str(packaged.joinpath("nibrs_layouts.yml"))) == layouts._layouts_path()
    assert "01" in layouts.load_layouts()
    assert native.library() is not None  # `make setup` built decoder/_slicer.so
