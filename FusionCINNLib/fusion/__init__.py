"""Fusion front-ends of the network: batches of slices, 2D pictures, 3D volumes."""
