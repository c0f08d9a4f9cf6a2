"""deepcam."""
