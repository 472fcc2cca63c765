"""Reading and writing images, colour handling and per-modality intensity windows."""
