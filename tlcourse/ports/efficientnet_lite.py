"""EfficientNet-Lite0's architecture as data, shared by the PyTorch and Keras ports."""

# (repeats, kernel, stride, expand ratio, in channels, out channels) of each
# stage of EfficientNet-Lite0 (efficientnet_lite_builder.py in Google's repo).
LITE0_STAGES = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)
STEM_CHANNELS = 32
FEATURES = 1280          # channels of the last conv: what a head sees after pooling
BN_EPSILON = 1e-3
