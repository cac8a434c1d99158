import pytest

from components.world import ABOVE, BELOW, LEFT, RIGHT, WorldObject, relation_holds, relations


def _at(row, col):
    return WorldObject(shape="circle", color="red", size="small", row=row, col=col, x=32, y=32)


def test_relations_from_cells():
    assert relations(_at(0, 0), _at(1, 1)) == (LEFT, ABOVE)
    assert relations(_at(2, 2), _at(0, 1)) == (RIGHT, BELOW)
    assert relations(_at(1, 0), _at(1, 2)) == (LEFT,)  # same row: neither above nor below
    assert relations(_at(0, 1), _at(2, 1)) == (ABOVE,)
    assert relations(_at(1, 1), _at(1, 1)) == ()
    assert relation_holds(_at(0, 0), "to the left of", _at(2, 2))
    assert not relation_holds(_at(1, 0), "above", _at(1, 2))


def test_unknown_relation():
    with pytest.raises(ValueError, match="'near'"):
        relation_holds(_at(0, 0), "near", _at(0, 1))
