from pathlib import PurePosixPath

from hypothesis import given
from hypothesis import strategies as st

from storage.paths import key_path


@given(st.text(min_size=0, max_size=60), st.text(min_size=0, max_size=60))
def test_key_paths_stay_inside_the_tree_and_fit_the_filesystem(org, uid):
    path = PurePosixPath(key_path("grafana-prod", "dashboard", f"{org}/{uid}"))
    assert not path.is_absolute()
    assert path.parts[:2] == ("grafana-prod", "dashboards")
    assert all(p not in ("", ".", "..") and not p.startswith(".") for p in path.parts)
    assert all(len(p.encode()) <= 255 for p in path.parts)
    assert all(ord(c) > 31 and c not in '\\:*?"<>|' for c in str(path))
    assert path.suffix == ".json"


@given(st.lists(st.text(max_size=50), min_size=2, max_size=20, unique=True))
def test_distinct_keys_get_distinct_paths(uids):
    paths = {key_path("g", "dashboard", f"1/{u}") for u in uids}
    assert len(paths) == len(uids)


@given(st.text(max_size=30), st.text(max_size=30))
def test_no_directory_collides_with_a_file(a, b):
    # A key without "/" is a file; a key with one makes a directory: the two can never coincide.
    file_path = key_path("g", "dashboard", a.replace("/", ""))
    dir_path = PurePosixPath(key_path("g", "dashboard", f"{a.replace('/', '')}/{b}")).parent
    assert file_path != str(dir_path)


def test_readable_paths_for_ordinary_keys():
    assert key_path("grafana", "dashboard", "1/abc-DEF_9") == "grafana/dashboards/1/abc-DEF_9.json"
    assert key_path("grafana", "folder", "2/f.x") == "grafana/folders/2/f.x.json"
    assert key_path("arduino", "shares", "1f6f-22") == "arduino/shares/1f6f-22.json"


def test_hostile_uids_are_encoded():
    assert key_path("g", "dashboard", "1/../../etc/passwd") == "g/dashboards/1/%2E.%2F..%2Fetc%2Fpasswd.json"
    long = key_path("g", "dashboard", "1/" + "\U0001f600\x00" * 40)
    assert "~" in long and len(PurePosixPath(long).name) < 255
