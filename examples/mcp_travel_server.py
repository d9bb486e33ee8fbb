"""A small MCP server for the MCP example: distances between European capitals and
unit conversions. Built with the official ``mcp`` SDK; it serves stdio::

    python examples/mcp_travel_server.py

``examples/mcp_agent.py`` starts it for you.
"""

from __future__ import annotations

import pydantic
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError

# Great-circle distances in kilometres, rounded.
_DISTANCES_KM = {
    frozenset({"Amsterdam", "Berlin"}): 577,
    frozenset({"Amsterdam", "Paris"}): 430,
    frozenset({"Berlin", "Paris"}): 878,
    frozenset({"Berlin", "Vienna"}): 524,
    frozenset({"Madrid", "Paris"}): 1053,
    frozenset({"Paris", "Rome"}): 1106,
    frozenset({"Rome", "Vienna"}): 765,
}
_CITIES = sorted({city for pair in _DISTANCES_KM for city in pair})
_PER_KM = {"km": 1.0, "mi": 0.621371, "nmi": 0.539957}

server = MCPServer("travel", version="1.0", log_level="WARNING")


class Distance(pydantic.BaseModel):
    from_city: str
    to_city: str
    km: int


@server.tool()
def distance(from_city: str, to_city: str) -> Distance:
    """The distance in kilometres between two European capitals (as the crow flies)."""
    key = frozenset({from_city.strip().title(), to_city.strip().title()})
    if key not in _DISTANCES_KM:
        raise ToolError(f"no distance for {from_city} - {to_city}; known cities: {_CITIES}")
    return Distance(from_city=from_city, to_city=to_city, km=_DISTANCES_KM[key])


@server.tool()
def convert(value: float, from_unit: str, to_unit: str) -> float:
    """Convert a length between km, mi (miles) and nmi (nautical miles)."""
    for unit in (from_unit, to_unit):
        if unit not in _PER_KM:
            raise ToolError(f"unknown unit {unit!r}; use one of {sorted(_PER_KM)}")
    return round(value / _PER_KM[from_unit] * _PER_KM[to_unit], 1)


if __name__ == "__main__":
    server.run()  # stdio
