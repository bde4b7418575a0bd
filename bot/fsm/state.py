"""Named dialogue states, grouped like aiogram's ``StatesGroup``.

class CaseForm(StatesGroup):
    location = State()
    phone = State()

CaseForm.location.state == "CaseForm:location"
"""

from __future__ import annotations

from typing import Any

__all__ = ["State", "StatesGroup"]


class State:
    """One state; its name is ``Group:attribute`` once its group class is created."""

    def __init__(self, name: str | None = None) -> None:
        self._name = name
        self.group: type[StatesGroup] | None = None

    def __set_name__(self, owner: type[Any], attribute: str) -> None:
        if self._name is None:
            self._name = attribute
        if isinstance(owner, type) and issubclass(owner, StatesGroup):
            self.group = owner

    @property
    def state(self) -> str:
        prefix = self.group.__name__ if self.group is not None else "@"
        return f"{prefix}:{self._name}"

    def __str__(self) -> str:
        return self.state

    def __repr__(self) -> str:
        return f"<State {self.state!r}>"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, State):
            return self.state == other.state
        if isinstance(other, str):
            return self.state == other
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.state)


class StatesGroup:
    """Base class of a group of :class:`State` attributes."""

    @classmethod
    def states(cls) -> tuple[State, ...]:
        return tuple(v for v in vars(cls).values() if isinstance(v, State))

    @classmethod
    def contains(cls, state: str | None) -> bool:
        return state is not None and state.startswith(cls.__name__ + ":")
