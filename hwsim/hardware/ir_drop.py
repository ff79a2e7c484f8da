"""IR drop on the wires of one crossbar array.

Geometry. Input line j (a column wire) is driven at its row-0 end by voltage V_j through one wire segment
and runs past rows 0 … R−1; output line i (a row wire) runs past columns 0 … C−1 and ends, after one more
segment, in a virtual ground (the sense amplifier) beyond column C−1. Device G_ij joins node (i, j) of
input line j to node (i, j) of output line i. Every wire segment has resistance r (conductance g_w = 1/r).
The output current I_i is the current into the virtual ground of line i.

Exact: Kirchhoff's current law at all 2·R·C nodes, one sparse linear system (LU-factorised once per
conductance state, solved for the whole batch).

First order: device currents from the ideal voltages, c_kj = G_kj·V_j, set the wire currents; the node
voltages they imply are
    input line j, node i:  u_ij = V_j − r·Σ_{s=0..i} Σ_{k≥s} c_kj
    output line i, node j: v_ij = r·Σ_{s=j..C−1} Σ_{m≤s} c_im
and I_i = Σ_j G_ij·(u_ij − v_ij). The error is second order in r·G (the correction itself is of order
r·G·N²/2 relative; keep that well below 1, e.g. < 0.1, for the first-order result to hold — see tests).
O(R·C) time and O(R + C) memory per input vector, compiled with Numba.
"""
from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import scipy.sparse.linalg as spla
from numba import njit, prange


def nodal_matrix(G: np.ndarray, r: float) -> sp.csc_matrix:
    """Conductance matrix of the crossbar's nodes: unknowns u (input lines) then v (output lines), both
    indexed i·C + j."""
    R, C = G.shape
    n = R * C
    gw = 1.0 / r
    idx = np.arange(n).reshape(R, C)
    g = G
    rows, cols, vals = [], [], []

    def add(a, b, val):
        rows.append(a.ravel())
        cols.append(b.ravel())
        vals.append(np.broadcast_to(val, a.shape).ravel())

    # devices between u_ij and v_ij
    add(idx, idx, g)
    add(idx + n, idx + n, g)
    add(idx, idx + n, -g)
    add(idx + n, idx, -g)
    # input lines: segments along rows; node (0, j) has the driver segment
    deg_u = np.full((R, C), 2.0 * gw)
    deg_u[R - 1, :] = gw
    add(idx, idx, deg_u)
    add(idx[1:, :], idx[:-1, :], np.full((R - 1, C), -gw))
    add(idx[:-1, :], idx[1:, :], np.full((R - 1, C), -gw))
    # output lines: segments along columns; node (i, C−1) has the ground segment
    deg_v = np.full((R, C), 2.0 * gw)
    deg_v[:, 0] = gw
    add(idx + n, idx + n, deg_v)
    add(idx[:, 1:] + n, idx[:, :-1] + n, np.full((R, C - 1), -gw))
    add(idx[:, :-1] + n, idx[:, 1:] + n, np.full((R, C - 1), -gw))
    return sp.csc_matrix((np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(2 * n, 2 * n))


class ExactSolver:
    """Nodal solve of one array; factorise once per conductance matrix G [S], then solve any batch."""

    def __init__(self, G: np.ndarray, r: float):
        self.shape = G.shape
        self.r = r
        self._lu = spla.splu(nodal_matrix(np.asarray(G, float), r))

    def node_voltages(self, V: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(u, v) node voltages [V], each (batch, R, C), for drive voltages V (batch, C)."""
        R, C = self.shape
        n = R * C
        V = np.atleast_2d(V)
        rhs = np.zeros((2 * n, V.shape[0]))
        rhs[:C] = V.T / self.r                   # driver segment into node (0, j)
        x = self._lu.solve(rhs)
        return x[:n].T.reshape(-1, R, C), x[n:].T.reshape(-1, R, C)

    def currents(self, V: np.ndarray) -> np.ndarray:
        """Output currents [A], (batch, R)."""
        _, v = self.node_voltages(V)
        return v[:, :, -1] / self.r


@njit(cache=True, parallel=True)
def first_order_currents(G, V, r):
    """Output currents [A] (batch, R) to first order in r, for conductances G [S] (R, C) and drive voltages
    V [V] (batch, C)."""
    R, C = G.shape
    B = V.shape[0]
    out = np.zeros((B, R))
    for b in prange(B):
        I = out[b]
        # input lines: drop at node i = r · Σ_{s≤i} (current through segment s) = r · Σ_{s≤i} Σ_{k≥s} c_kj
        for j in range(C):
            vj = V[b, j]
            suffix = 0.0
            for k in range(R):
                suffix += G[k, j] * vj          # total line current (segment 0)
            drop = 0.0
            for i in range(R):
                drop += r * suffix
                I[i] += G[i, j] * (vj - drop)
                suffix -= G[i, j] * vj
        # output lines: v_ij = r · Σ_{s≥j} Σ_{m≤s} c_im
        for i in range(R):
            total = 0.0
            prefix = 0.0
            weighted = 0.0                      # Σ_s prefix_s over s ≥ j, built from the far end
            # Σ_{s≥j} prefix_s = Σ_{all s} prefix_s − Σ_{s<j} prefix_s
            for s in range(C):
                prefix += G[i, s] * V[b, s]
                total += prefix
            prefix = 0.0
            for j in range(C):
                weighted = total                 # Σ_{s≥j} prefix_s
                I[i] -= G[i, j] * r * weighted
                prefix += G[i, j] * V[b, j]
                total -= prefix
    return out
